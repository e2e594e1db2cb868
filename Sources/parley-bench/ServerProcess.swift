import AsyncHTTPClient
import Foundation
import NIOCore
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A `parley serve` child process for `parley-bench capacity` and `soak`, started from the
/// `parley` executable beside this one and observed through `/proc`, so that its CPU time,
/// memory and open files are measured apart from the load generator and the fake providers.
///
/// swift-subprocess runs it in a task of its own, which awaits the exit without holding a
/// thread; ``stop()`` cancels that task, which sends SIGTERM (Parley's graceful shutdown) and
/// SIGKILL 10 s later if the server is still there.
final class ServerProcess: Sendable {
    /// CPU time and resident memory of a process at one moment.
    struct Usage: Sendable {
        /// User plus system CPU time so far, in seconds.
        var cpuSeconds: Double
        /// Resident set size, in bytes.
        var residentBytes: Int
    }

    /// The port the server listens on (127.0.0.1).
    let port: Int
    /// Where the server's log goes.
    let logPath: String
    /// The child's process id.
    let pid: Int32
    /// How the child ended, once it has (a class: the task that runs the child records it).
    private final class Ending: Sendable {
        let status = Mutex<TerminationStatus?>(nil)
    }
    private let ended: Ending
    /// Runs the child until it exits; cancelled by ``stop()``.
    private let life: Task<Void, Never>

    private init(port: Int, logPath: String, pid: Int32, ended: Ending, life: Task<Void, Never>) {
        self.port = port
        self.logPath = logPath
        self.pid = pid
        self.ended = ended
        self.life = life
    }

    /// Starts `parley serve` with `arguments` (after `serve`) and extra `environment`, listening
    /// on a free loopback port, pinned to `cpus` if given (``CPUPinning``); returns once the
    /// process is launched (not yet ready). With `speakingCallers` false (tones and noise), the
    /// server runs on the energy VAD with a fixed end-of-turn silence.
    static func start(
        arguments: [String], environment: [String: String], logPath: String, speakingCallers: Bool = false, cpus: String? = nil
    ) async throws
        -> ServerProcess
    {
        let port = try freePort()
        let executable = try serverExecutable()
        let log: SystemPackage.FileDescriptor
        do {
            log = try SystemPackage.FileDescriptor.open(
                FilePath(logPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw BenchError("cannot create the server log \(logPath): \(error)")
        }
        var overrides: [Environment.Key: String?] = [:]
        for (name, value) in environment {
            if let key = Environment.Key(rawValue: name) { overrides[key] = value }
        }
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(10))]
        let ended = Ending()
        let (started, pids) = AsyncStream<Result<Int32, any Error>>.makeStream()
        let life = Task {
            defer { pids.finish() }
            do {
                let result = try await run(
                    .path(FilePath(executable)),
                    // Callers that speak tones and noise, which the Silero VAD rightly hears as no
                    // voice and smart-turn cannot judge, get the energy VAD and a fixed silence.
                    arguments: Arguments(
                        ["serve", "--host", "127.0.0.1", "--port", "\(port)"]
                            + (speakingCallers ? [] : ["--vad", "energy", "--turn-model", "off"]) + arguments),
                    environment: .inherit.updating(overrides), platformOptions: options, input: .none,
                    output: .fileDescriptor(log, closeAfterSpawningProcess: true), error: .combinedWithOutput
                ) { execution in
                    pids.yield(.success(execution.processIdentifier.value))
                }
                ended.status.withLock { $0 = result.terminationStatus }
            } catch {
                pids.yield(.failure(error))
            }
        }
        var pid: Int32?
        for await spawned in started {
            pid = try spawned.get()
            break
        }
        guard let pid else {
            life.cancel()
            await life.value
            throw CancellationError()
        }
        if let cpus {
            // The child has just started: its threads now and those they start inherit the mask.
            do {
                try await CPUPinning.pin(pid, to: cpus, what: "parley serve")
            } catch {
                life.cancel()
                await life.value
                throw error
            }
        }
        return ServerProcess(port: port, logPath: logPath, pid: pid, ended: ended, life: life)
    }

    /// Asks the server to stop (SIGTERM, its graceful shutdown), kills it if it has not exited
    /// within 10 s, and returns once it has exited.
    func stop() async {
        life.cancel()
        await life.value
    }

    /// The child's CPU time and memory now; nil once it has exited.
    var usage: Usage? { Self.usage(of: pid) }

    /// How the child ended (`exit status 0`, `killed by signal 11`), or nil while it runs.
    var termination: String? {
        switch ended.status.withLock({ $0 }) {
        case nil: nil
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }

    /// Polls `/health` until the server answers 200, for at most `timeout`.
    func waitUntilReady(httpClient: HTTPClient, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let termination {
                throw BenchError("parley serve ended (\(termination)) before it was ready; see \(logPath)")
            }
            if let response = try? await httpClient.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(2)),
                response.status == .ok
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("parley serve was not ready within \(timeout); see \(logPath)")
    }

    /// Reads `parley_sessions_active` from `/metrics`.
    func activeSessions(httpClient: HTTPClient) async throws -> Int {
        let response = try await httpClient.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(5))
        let body = String(buffer: try await response.body.collect(upTo: 4 << 20))
        for line in body.split(separator: "\n") where line.hasPrefix("parley_sessions_active ") {
            if let value = Double(line.split(separator: " ").last ?? "") { return Int(value) }
        }
        throw BenchError("/metrics has no parley_sessions_active")
    }

    /// CPU time and resident memory of process `pid` from `/proc`; nil if it does not exist.
    static func usage(of pid: Int32) -> Usage? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let afterName = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the parenthesised command name start at field 3 (state); utime and stime
        // are fields 14 and 15, in clock ticks.
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let resident =
            status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
        return Usage(cpuSeconds: (user + system) / ticks, residentBytes: resident * 1024)
    }

    /// The `parley` executable beside this one (`swift build` puts both products in one directory).
    static func serverExecutable() throws -> String {
        let bench = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let server = URL(fileURLWithPath: bench).deletingLastPathComponent().appendingPathComponent("parley").path
        guard FileManager.default.isExecutableFile(atPath: server) else {
            throw BenchError(
                "\(server) not found: parley-bench starts `parley serve` from its own directory; build both (`swift build -c release --product parley`, then `--product parley-bench`: SwiftPM builds only the last `--product` given)"
            )
        }
        return server
    }

    /// A loopback port nothing listens on now (the kernel's pick for port 0).
    private static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw BenchError("cannot find a free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A benchmark that could not run or finish, with what to do about it.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
