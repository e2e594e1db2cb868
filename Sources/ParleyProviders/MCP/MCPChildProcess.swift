import Dispatch
import Foundation
import Logging
import ParleyCore
import Subprocess
import Synchronization
import SystemPackage

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

/// The exit of a child process, recorded by the task that awaits it.
final class ChildExit: Sendable {
    private struct State {
        var status: TerminationStatus?
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }
    private let state = Mutex(State())
    /// Fired on exit, for waits that end when their task is cancelled.
    let signal = CancellationSignal()

    /// How it ended, once it has exited.
    var status: TerminationStatus? { state.withLock { $0.status } }

    /// Records the exit and wakes every waiter.
    func record(_ status: TerminationStatus) {
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

    /// Parley writes requests here (the write end of the child's stdin).
    let input: FileDescriptor
    /// Parley reads answers here (the read end of the child's stdout).
    let output: FileDescriptor
    /// The read end of the child's stderr.
    let errors: FileDescriptor
    let exit: ChildExit
    /// The process id (the supervisor's when there is one).
    let pid: Int32
    /// The task that runs the child and records its exit; cancelling it tears the child down.
    private let life: Task<(any Error)?, Never>

    /// Starts `command` with Parley's basic environment plus `environment`, through `supervisor`
    /// when given, runs `body` with it, then stops it (``stop(logger:)``) and closes the pipes.
    /// Returns (or throws) what `body` did, once the child has exited and been reaped.
    static func run<Result: Sendable>(
        command: [String], environment: [String: String], supervisor: MCPSupervisor?, logger: Logger,
        body: (MCPChildProcess) async throws -> Result
    ) async throws -> Result {
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
        let launched =
            supervisor.map { (path: $0.python, arguments: [$0.script, "--", executable] + command.dropFirst()) }
            ?? (path: executable, arguments: Array(command.dropFirst()))
        let stdin: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        let stdout: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        let stderr: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        do {
            stdin = try FileDescriptor.pipe()
            stdout = try FileDescriptor.pipe()
            stderr = try FileDescriptor.pipe()
        } catch {
            throw StartFailure(description: "could not start \(executable): no pipes: \(error)")
        }
        let exit = ChildExit()
        let (started, pids) = AsyncStream<Int32>.makeStream()
        // Unstructured so that cancelling the caller does not tear the child down at once: the
        // MCP lifecycle closes its stdin first and gives it 2 s (``stop(logger:)``), and only
        // then cancels this task. Every path below awaits it, so the child never outlives `run`.
        let life = Task<(any Error)?, Never> {
            defer { pids.finish() }
            do {
                // The child's ends of the pipes are closed here once it is spawned.
                let status = try await ChildProcess.run(
                    executable: launched.path, arguments: launched.arguments, environment: merged,
                    input: .fileDescriptor(stdin.readEnd, closeAfterSpawningProcess: true),
                    output: .fileDescriptor(stdout.writeEnd, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(stderr.writeEnd, closeAfterSpawningProcess: true), grace: .seconds(4)
                ) { pid in pids.yield(pid) }
                exit.record(status)
                return nil
            } catch {
                return error
            }
        }
        var pid: Int32?
        for await spawned in started {
            pid = spawned
            break
        }
        guard let pid else {
            // It could not be spawned, or the caller was cancelled while it was (the stream
            // ends then too): tear down whatever was started.
            life.cancel()
            let failure = await life.value
            for end in [stdin.writeEnd, stdout.readEnd, stderr.readEnd] { try? end.close() }
            let reason = failure.map { "\($0)" } ?? "stopped while it was starting"
            throw StartFailure(description: "could not start \(executable): \(reason)")
        }
        let child = MCPChildProcess(
            input: stdin.writeEnd, output: stdout.readEnd, errors: stderr.readEnd, exit: exit, pid: pid,
            life: life)
        let outcome: Swift.Result<Result, any Error>
        do {
            outcome = .success(try await body(child))
        } catch {
            outcome = .failure(error)
        }
        await child.stop(logger: logger)
        // The transport's read loop notices the disconnect within 10 ms; keep the descriptors it
        // reads open a little longer so that it never reads a reused one.
        _ = await ChildExit().wait(upTo: .milliseconds(100))
        for end in [stdout.readEnd, stderr.readEnd] { try? end.close() }
        return try outcome.get()
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

    /// Stops the child as the MCP lifecycle asks: closes its stdin and waits 2 s, then cancels the
    /// task that runs it, which sends SIGTERM and, 4 s later (the supervisor's own grace is 3 s),
    /// SIGKILL. Returns once it has exited; works in a cancelled task.
    private func stop(logger: Logger) async {
        try? input.close()
        if await !exit.wait(upTo: .seconds(2)) { life.cancel() }
        _ = await life.value
        if exit.status == .signaled(SIGKILL) {
            logger.warning("MCP server ignored SIGTERM and was killed", metadata: ["parley.pid": "\(pid)"])
        }
    }

    /// Logs the child's stderr line by line until it closes or the task is cancelled. Lines are
    /// cut to 500 characters; the read end is non-blocking and polled, so no thread blocks.
    func logErrors(logger: Logger) async {
        let fd = errors.rawValue
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
