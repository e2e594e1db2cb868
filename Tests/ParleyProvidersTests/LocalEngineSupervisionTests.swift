import AsyncHTTPClient
import Foundation
import Logging
import Testing

@testable import ParleyProviders

/// `LocalEngine.run` on small Python servers under the real `engines/supervise.py`: readiness,
/// the messages of a failed start or an exit, the give-up limit, and the stop on cancellation.
@Suite("Local engine supervision", .serialized)
struct LocalEngineSupervisionTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let python = "/usr/bin/python3"
    static let logger = Logger(label: "test.engine")

    static func engine(_ name: String, port: Int, command: [String], healthPath: String = "/health") throws -> LocalEngine {
        let layout = LocalEngineLayout(
            python: python, whisperServer: "", supervisor: packageRoot + "/engines/supervise.py", whisperModel: "",
            speechServer: "", llmModels: [:])
        let directory = FileManager.default.temporaryDirectory.path + "/parley-engine-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return LocalEngine(
            name: name, port: port, command: command, layout: layout, httpClient: .shared, healthPath: healthPath,
            startTimeout: .seconds(30), logDirectory: directory)
    }

    /// A server that answers `/health` with 200, and a second after its `requests`th request
    /// exits with `status` (the pause lets the readiness check report first).
    static func healthServer(port: Int, requests: Int = 1_000_000, status: Int = 0) -> [String] {
        let script = """
            import http.server, sys, time
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    self.end_headers()
                def log_message(self, *args):
                    pass
            server = http.server.HTTPServer(("127.0.0.1", \(port)), Handler)
            for _ in range(\(requests)):
                server.handle_request()
            time.sleep(1)
            sys.exit(\(status))
            """
        return [python, "-c", script]
    }

    /// Removes the engine's log directory.
    static func remove(_ engine: LocalEngine) {
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: engine.logFile).deletingLastPathComponent())
    }

    static func answers(port: Int) async -> Bool {
        let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health")
        return (try? await HTTPClient.shared.execute(request, timeout: .seconds(2)))?.status == .ok
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
    }

    @Test("an engine becomes ready, and cancelling run stops it before run returns", .timeLimit(.minutes(1)))
    func readyThenStopped() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else { return }
        let port = try LocalEngine.freePort()
        let engine = try Self.engine("test-ready", port: port, command: Self.healthServer(port: port))
        defer { Self.remove(engine) }
        let run = Task { try await engine.run(logger: Self.logger) }
        try await Self.waitUntil { engine.status.snapshot.ready }
        #expect(engine.status.snapshot == .init(ready: true))
        #expect(await Self.answers(port: port))
        let cancelled = ContinuousClock.now
        run.cancel()
        try await run.value
        // SIGTERM ends the server at once; the 5 s SIGKILL grace is not needed.
        #expect(cancelled.duration(to: .now) < .seconds(4))
        #expect(!engine.status.snapshot.ready)
        #expect(!(await Self.answers(port: port)), "the engine outlived run")
    }

    @Test("an engine that exits after it was ready is reported with its status and restarted", .timeLimit(.minutes(1)))
    func exitAfterReady() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else { return }
        let port = try LocalEngine.freePort()
        let engine = try Self.engine("test-once", port: port, command: Self.healthServer(port: port, requests: 1, status: 7))
        defer { Self.remove(engine) }
        let run = Task { try await engine.run(logger: Self.logger) }
        try await Self.waitUntil { engine.status.snapshot.restarts >= 1 }
        run.cancel()
        try await run.value
        let lastError = try #require(engine.status.snapshot.lastError)
        #expect(lastError.hasPrefix("test-once exited with status 7; its output is in \(engine.logFile)"), "\(lastError)")
    }

    @Test("an engine that exits during start-up is restarted with a pause, then given up", .timeLimit(.minutes(1)))
    func givesUp() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else { return }
        let port = try LocalEngine.freePort()
        let engine = try Self.engine(
            "test-exit", port: port, command: [Self.python, "-c", "import sys; print('no model here', flush=True); sys.exit(3)"])
        defer { Self.remove(engine) }
        let started = ContinuousClock.now
        let failure = await #expect(throws: LocalEngine.Failure.self) { try await engine.run(logger: Self.logger) }
        // Pauses of 1, 2 and 3 s between the four tries.
        #expect(started.duration(to: .now) >= .seconds(6))
        let description = failure?.description ?? ""
        #expect(description.hasPrefix("test-exit failed 4 times within a minute; giving up."), "\(description)")
        #expect(description.contains("test-exit did not become ready: it exited during start-up"), "\(description)")
        #expect(description.contains("no model here"), "the log's last lines: \(description)")
        let status = engine.status.snapshot
        #expect(status.failed && !status.ready && status.restarts == 4)
    }
}
