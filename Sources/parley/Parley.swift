import ArgumentParser
import Logging

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A real-time voice agent server.",
        subcommands: [Serve.self, Talk.self, Bench.self]
    )
}

/// Sends every log line at or above `level` to stderr (stdout carries `talk`'s JSON).
func bootstrapLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
