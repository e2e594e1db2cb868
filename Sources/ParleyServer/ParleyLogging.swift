public import Logging

/// The log set-up shared by `parley` and `parley-bench`.
public enum ParleyLogging {
    /// Sends every log line at or above `level` to stderr (stdout carries `talk`'s and the
    /// benchmarks' JSON).
    public static func bootstrap(_ level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
