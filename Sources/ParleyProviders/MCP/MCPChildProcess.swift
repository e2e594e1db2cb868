import Dispatch
import Foundation
import Logging
import ParleyCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The Python and the `engines/supervise.py` script that launch an MCP server so that it never
/// outlives Parley (see that script's docstring).
public struct MCPSupervisor: Sendable, Equatable {
    /// The Python interpreter that runs the script.
    public var python: String
    /// The path of `engines/supervise.py`.
    public var script: String

    /// Creates a supervisor description.
    public init(python: String, script: String) {
        self.python = python
        self.script = script
    }

    /// The supervisor of the embedded engines' layout.
    public init(layout: LocalEngineLayout) {
        self.init(python: layout.python, script: layout.supervisor)
    }
}

/// The exit of a child process, reported by Foundation's termination handler (Foundation reaps
/// the child before calling it).
final class ChildExit: Sendable {
    private struct State {
        var status: Int32?
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }
    private let state = Mutex(State())
    /// Fired on exit, for waits that end when their task is cancelled.
    let signal = CancellationSignal()

    /// The exit status, once it has exited.
    var status: Int32? { state.withLock { $0.status } }

    /// Records the exit and wakes every waiter.
    func record(_ status: Int32) {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.status = status
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
        signal.fire()
    }

    /// Waits up to `limit` for the exit, even in a cancelled task (stopping a child happens at
    /// shutdown, when the task is cancelled); true when it has exited. The timer is a Dispatch
    /// timer, so nothing blocks a thread.
    func wait(upTo limit: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let id = state.withLock { state -> Int? in
                if state.status != nil { return nil }
                state.nextWaiter += 1
                state.waiters[state.nextWaiter] = continuation
                return state.nextWaiter
            }
            guard let id else { return continuation.resume(returning: true) }
            let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { [self] in
                let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume(returning: false)
            }
        }
    }
}

/// An MCP server run as a child process: its stdin and stdout carry the protocol, its stderr
/// goes to Parley's log.
struct MCPChildProcess: Sendable {
    /// Why a child could not be started.
    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    let process: Process
    /// Parley writes requests here (the write end of the child's stdin).
    let input: Pipe
    /// Parley reads answers here (the read end of the child's stdout).
    let output: Pipe
    /// The child's stderr.
    let errors: Pipe
    let exit: ChildExit

    /// The process id (the supervisor's when there is one).
    var pid: Int32 { process.processIdentifier }

    /// Starts `command` with Parley's basic environment plus `environment`, through `supervisor`
    /// when given.
    static func start(
        command: [String], environment: [String: String], supervisor: MCPSupervisor?
    ) throws
        -> MCPChildProcess
    {
        guard let name = command.first, !name.isEmpty else { throw StartFailure(description: "the command is empty") }
        var merged = LocalEngine.engineEnvironment(ProcessInfo.processInfo.environment)
        merged.merge(environment) { _, configured in configured }
        guard let executable = resolve(name, path: merged["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") else {
            throw StartFailure(description: "command not found: \(name)")
        }
        // A write to the pipe of a server that has just died must fail with EPIPE rather than
        // end Parley with SIGPIPE. This is process-wide, and Parley relies on SIGPIPE nowhere
        // (SwiftNIO already avoids it per socket).
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        if let supervisor {
            process.executableURL = URL(fileURLWithPath: supervisor.python)
            process.arguments = [supervisor.script, "--"] + [executable] + command.dropFirst()
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = Array(command.dropFirst())
        }
        process.environment = merged
        let child = MCPChildProcess(process: process, input: Pipe(), output: Pipe(), errors: Pipe(), exit: ChildExit())
        process.standardInput = child.input
        process.standardOutput = child.output
        process.standardError = child.errors
        let exit = child.exit
        process.terminationHandler = { process in exit.record(process.terminationStatus) }
        do {
            try process.run()
        } catch {
            throw StartFailure(description: "could not start \(executable): \(error)")
        }
        return child
    }

    /// The executable `name` names: itself when it has a slash, else the first match on `path`.
    static func resolve(_ name: String, path: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Stops the child as the MCP lifecycle asks: closes its stdin, waits 2 s, sends SIGTERM, waits
    /// 4 s (the supervisor's own grace is 3 s), then SIGKILL. Works in a cancelled task.
    func stop(logger: Logger) async {
        try? input.fileHandleForWriting.close()
        if await exit.wait(upTo: .seconds(2)) { return }
        kill(pid, SIGTERM)
        if await exit.wait(upTo: .seconds(4)) { return }
        logger.warning("MCP server ignored SIGTERM; killing it", metadata: ["parley.pid": "\(pid)"])
        kill(pid, SIGKILL)
        if !(await exit.wait(upTo: .seconds(5))) {
            logger.error("MCP server process did not exit after SIGKILL", metadata: ["parley.pid": "\(pid)"])
        }
    }

    /// Logs the child's stderr line by line until it closes or the task is cancelled. Lines are
    /// cut to 500 characters; the read end is non-blocking and polled, so no thread blocks.
    func logErrors(logger: Logger) async {
        let fd = errors.fileHandleForReading.fileDescriptor
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) >= 0 else { return }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        func emit(_ bytes: ArraySlice<UInt8>) {
            let line = String(decoding: bytes, as: UTF8.self)
            if !line.isEmpty { logger.info("MCP server stderr", metadata: ["parley.line": "\(line.prefix(500))"]) }
        }
        while !Task.isCancelled {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                guard errno == EAGAIN || errno == EINTR else { break }
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            pending += buffer[..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                emit(pending[..<newline])
                pending.removeSubrange(...newline)
            }
            if pending.count > 4096 {
                emit(pending[...])
                pending.removeAll()
            }
        }
        emit(pending[...])
    }
}
