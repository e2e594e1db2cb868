import AsyncHTTPClient
import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A `parley serve` child process for `parley-bench capacity` and `soak`, started from the
/// `parley` executable beside this one and observed through `/proc`, so that its CPU time,
/// memory and open files are measured apart from the load generator and the fake providers.
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
    private let process: Process

    /// Starts `parley serve` with `arguments` (after `serve`) and extra `environment`, listening
    /// on a free loopback port; returns once the process is launched (not yet ready).
    init(arguments: [String], environment: [String: String], logPath: String) throws {
        port = try Self.freePort()
        self.logPath = logPath
        process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.serverExecutable())
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "\(port)"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else {
            throw BenchError("cannot create the server log \(logPath)")
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Asks the server to stop (SIGTERM, its graceful shutdown), then kills it if it has not
    /// exited within `grace`.
    func stop(grace: Duration = .seconds(10)) async {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// The child's CPU time and memory now; nil once it has exited.
    var usage: Usage? { Self.usage(of: process.processIdentifier) }

    /// The child's process id.
    var pid: Int32 { process.processIdentifier }

    /// How the child ended (`exit status 0`, `killed by signal 11`), or nil while it runs.
    var termination: String? {
        guard !process.isRunning else { return nil }
        switch process.terminationReason {
        case .exit: return "exit status \(process.terminationStatus)"
        case .uncaughtSignal: return "killed by signal \(process.terminationStatus)"
        @unknown default: return "ended (status \(process.terminationStatus))"
        }
    }

    /// Polls `/health` until the server answers 200, for at most `timeout`.
    func waitUntilReady(httpClient: HTTPClient, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw BenchError("parley serve exited with status \(process.terminationStatus) before it was ready; see \(logPath)")
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
