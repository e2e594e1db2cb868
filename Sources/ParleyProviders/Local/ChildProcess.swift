import Subprocess
import SystemPackage

/// A child process run with swift-subprocess: spawned, awaited without blocking a thread, and
/// torn down when the task that runs it is cancelled.
///
/// The local engines and the stdio MCP servers both use it. The call that runs a child returns
/// only once the child has exited and been reaped, so a cancelled task never leaves one behind.
enum ChildProcess {
    /// Runs `executable` with `arguments` and exactly `environment` until it exits; `started` gets
    /// its process id as soon as it is spawned.
    ///
    /// Cancelling the calling task sends SIGTERM, then SIGKILL when the child is still there
    /// `grace` later, and returns once it has exited. Throws when the child cannot be spawned.
    static func run<Input: InputProtocol>(
        executable: String, arguments: [String], environment: [String: String], input: Input,
        output: FileDescriptorOutput, error: FileDescriptorOutput, grace: Duration,
        started: (Int32) -> Void
    ) async throws -> TerminationStatus {
        var options = PlatformOptions()
        // The library ends every teardown with SIGKILL; this step puts SIGTERM and the grace before it.
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: grace)]
        var keyed: [Environment.Key: String] = [:]
        for (name, value) in environment {
            if let key = Environment.Key(rawValue: name) { keyed[key] = value }
        }
        let result = try await Subprocess.run(
            .path(FilePath(executable)), arguments: Arguments(arguments), environment: .custom(keyed),
            platformOptions: options, input: input, output: output, error: error
        ) { execution in
            started(execution.processIdentifier.value)
        }
        return result.terminationStatus
    }

    /// How a child ended, for logs and errors: "exited with status 1", "exited on signal 9".
    static func describe(_ status: TerminationStatus) -> String {
        switch status {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "exited on signal \(signal)"
        }
    }
}
