public import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import ParleyCore
import Subprocess
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An engine server run as a child process on a loopback port: started, health-checked,
/// restarted if it dies, and stopped with Parley.
///
/// The child is launched through `engines/supervise.py`, which ends it if Parley dies without
/// cleaning up (even on SIGKILL). ``run(logger:)`` keeps the engine up until the task is
/// cancelled, then sends SIGTERM (SIGKILL after 5 s) and waits for the exit.
public struct LocalEngine: Sendable {
    /// The provider name, such as `local-whisper`.
    public let name: String
    /// The loopback port it listens on.
    public let port: Int
    /// The command after the supervisor: executable and arguments.
    public let command: [String]
    /// The supervisor script and the Python that runs it.
    public let layout: LocalEngineLayout
    /// How long a start may take before it counts as failed.
    public let startTimeout: Duration
    /// Readiness, restarts and the last failure, for `/health`.
    public let status = EngineStatus()
    /// Where the engine's output goes.
    public let logFile: String
    /// The path that answers 200 once the engine serves, such as `/health`.
    public let healthPath: String
    /// Work to do once healthy before reporting ready (warming a model).
    public let warmUp: (@Sendable () async throws -> Void)?
    private let httpClient: HTTPClient

    /// The OpenAI-compatible base URL.
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// Creates an engine description; nothing starts until ``run(logger:)``.
    public init(
        name: String, port: Int, command: [String], layout: LocalEngineLayout, httpClient: HTTPClient,
        healthPath: String = "/health", startTimeout: Duration = .seconds(120), logDirectory: String,
        warmUp: (@Sendable () async throws -> Void)? = nil
    ) {
        self.name = name
        self.port = port
        self.command = command
        self.layout = layout
        self.httpClient = httpClient
        self.healthPath = healthPath
        self.startTimeout = startTimeout
        self.logFile = "\(logDirectory)/\(name).log"
        self.warmUp = warmUp
    }

    /// A failure that stops the engine for good.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Keeps the engine running until cancelled; throws if it keeps failing (4 failures a minute).
    public func run(logger: Logger) async throws {
        var logger = logger
        logger[metadataKey: "parley.engine"] = "\(name)"
        var failures: [ContinuousClock.Instant] = []
        while true {
            try Task.checkCancellation()
            let started = ContinuousClock.now
            let outcome = await runOnce(logger: logger)
            status.update { $0.ready = false }
            if Task.isCancelled { return }
            let message = "\(name) \(outcome); its output is in \(logFile)\(Self.tail(of: logFile))"
            logger.error("local engine failed", metadata: ["parley.error": "\(message)"])
            failures.append(.now)
            failures.removeAll { $0.duration(to: .now) > .seconds(60) }
            status.update {
                $0.lastError = message
                $0.restarts += 1
            }
            if failures.count >= 4 {
                status.update { $0.failed = true }
                throw Failure(description: "\(name) failed 4 times within a minute; giving up. Last: \(message)")
            }
            // Back off a little more after each recent failure, but never busy-loop.
            let delay = Duration.seconds(failures.count) - started.duration(to: .now)
            if delay > .zero { try await Task.sleep(for: delay) }
            logger.warning("restarting local engine")
        }
    }

    /// What an engine process inherits from Parley's environment: only what a process needs to
    /// run. llama.cpp's server reads its settings from environment variables too (`PORT`, `HOST`,
    /// `MODEL`, `API_KEY`, … case-insensitively), and would take them over its command line — a
    /// `PORT` meant for Parley made it bind Parley's own port.
    static func engineEnvironment(_ environment: [String: String]) -> [String: String] {
        let kept: Set<String> = [
            "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TMPDIR", "TZ", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
        ]
        return environment.filter { kept.contains($0.key) || $0.key.hasPrefix("LC_") }
    }

    /// What happened to one start, in the order the supervising group hears of it.
    private enum Event: Sendable {
        case couldNotStart(any Error)
        case ready
        case notReady(any Error)
        case exited(TerminationStatus)
    }

    /// Starts the process and waits until it exits or the task is cancelled; returns why it ended.
    ///
    /// The child runs in one task of a group and the health check in another: the first awaits
    /// the exit without holding a thread, and cancelling it (the group is cancelled with the
    /// caller, or when the engine never gets healthy) sends SIGTERM, then SIGKILL 5 s later, and
    /// still waits for the exit.
    private func runOnce(logger: Logger) async -> String {
        // The supervisor opens the log itself (`--log`), so Parley hands it no descriptor but its
        // own standard output and error.
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let exited = CancellationSignal()
        return await withTaskGroup(of: Event.self) { group in
            group.addTask {
                do {
                    let status = try await ChildProcess.run(
                        executable: layout.python, arguments: [layout.supervisor, "--log", logFile, "--"] + command,
                        environment: Self.engineEnvironment(ProcessInfo.processInfo.environment), input: .none,
                        output: .currentStandardOutput, error: .currentStandardError, grace: .seconds(5)
                    ) { pid in
                        logger.info("local engine starting", metadata: ["parley.pid": "\(pid)", "parley.port": "\(port)"])
                    }
                    exited.fire()
                    return .exited(status)
                } catch {
                    exited.fire()
                    return .couldNotStart(error)
                }
            }
            group.addTask {
                do {
                    try await waitUntilHealthy(exited: exited)
                    try await warmUp?()
                    return .ready
                } catch {
                    return .notReady(error)
                }
            }
            var ready = false
            var failure: String?
            while let event = await group.next() {
                switch event {
                case .couldNotStart(let error):
                    group.cancelAll()
                    return "could not start: \(error)"
                case .ready:
                    ready = true
                    status.update {
                        $0.ready = true
                        $0.lastError = nil
                    }
                    logger.info("local engine ready", metadata: ["parley.url": "\(baseURL)"])
                case .notReady(let error):
                    // Cancelled, or never got healthy: stop it (the exit follows).
                    if !exited.isFired, !Task.isCancelled { failure = "did not become ready: \(error)" }
                    group.cancelAll()
                case .exited(let terminationStatus):
                    group.cancelAll()
                    if Task.isCancelled || failure != nil {
                        logger.info("local engine stopped")
                        return failure ?? "was stopped"
                    }
                    return ready ? ChildProcess.describe(terminationStatus) : "did not become ready: it exited during start-up"
                }
            }
            return failure ?? "was stopped"
        }
    }

    /// Polls the health path until it answers 200, the process exits, or the start times out.
    private func waitUntilHealthy(exited: CancellationSignal) async throws {
        let deadline = ContinuousClock.now + startTimeout
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            if exited.isFired { throw Failure(description: "it exited during start-up") }
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(healthPath)")
            request.method = .GET
            if let response = try? await httpClient.execute(request, timeout: .seconds(2)),
                response.status == .ok
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "no healthy answer within \(startTimeout)")
    }

    /// The last lines of a log file, for error messages.
    static func tail(of path: String, lines: Int = 5) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        let text = String(decoding: data.suffix(4096), as: UTF8.self)
        let last = text.split(separator: "\n").suffix(lines).joined(separator: "\n  ")
        return last.isEmpty ? "" : "; last lines:\n  \(last)"
    }

    /// A free TCP port on 127.0.0.1, from the kernel.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot create a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw Failure(description: "cannot bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The state of a local engine, shared with `/health`.
public final class EngineStatus: Sendable {
    /// A snapshot.
    public struct Snapshot: Sendable, Equatable {
        /// Whether it answers requests now.
        public var ready = false
        /// Whether it failed for good.
        public var failed = false
        /// How many times it was restarted.
        public var restarts = 0
        /// Why it last failed.
        public var lastError: String?

        /// Creates a snapshot.
        public init(ready: Bool = false, failed: Bool = false, restarts: Int = 0, lastError: String? = nil) {
            self.ready = ready
            self.failed = failed
            self.restarts = restarts
            self.lastError = lastError
        }
    }
    private let state = Mutex(Snapshot())

    /// Creates a status.
    public init() {}

    /// The current state.
    public var snapshot: Snapshot { state.withLock { $0 } }

    func update(_ change: (inout Snapshot) -> Void) {
        state.withLock { change(&$0) }
    }
}
