import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import ParleyServer

/// The bound on the HTTP server's graceful shutdown: connections still open after the drain may
/// not hold the process past `closeLimit`.
@Suite("HTTP server's shutdown after the drain")
struct HTTPServerServiceTests {
    /// Stops at once on graceful shutdown, as Hummingbird does when every connection has closed.
    struct PoliteServer: Service {
        func run() async throws {
            try? await gracefulShutdown()
        }
    }

    /// Ignores graceful shutdown, as Hummingbird does while a connection stays open; only
    /// cancellation ends it.
    struct StuckServer: Service {
        final class Flag: Sendable {
            private let raised = Atomic(false)
            var isRaised: Bool { raised.load(ordering: .relaxed) }
            func raise() { raised.store(true, ordering: .relaxed) }
        }
        let cancelled = Flag()

        func run() async throws {
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(60)) }
            } onCancel: {
                cancelled.raise()
            }
        }
    }

    struct ShutdownHung: Error {}

    private static func shutDown(_ service: some Service, logs: LogRecorder) async throws -> Duration {
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logs.logger("parley.test.group")))
        let clock = ContinuousClock()
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(100))
            let start = clock.now
            await group.triggerGracefulShutdown()
            // A shutdown that never ends fails the test rather than hanging it.
            tasks.addTask {
                try await Task.sleep(for: .seconds(20))
                throw ShutdownHung()
            }
            try await tasks.next()
            tasks.cancelAll()
            return clock.now - start
        }
    }

    @Test("a server that stops by itself stops at once, with no warning")
    func politeServer() async throws {
        let logs = LogRecorder()
        let took = try await Self.shutDown(
            HTTPServerService(app: PoliteServer(), closeLimit: .seconds(30), logger: logs.logger()), logs: logs)
        #expect(took < .seconds(5))
        #expect(!logs.text.contains("still open"))
        #expect(logs.text.contains("HTTP server stopped"))
    }

    @Test("a server held open by a connection is cancelled once the limit passes, and says so")
    func stuckServer() async throws {
        let logs = LogRecorder()
        let server = StuckServer()
        let took = try await Self.shutDown(
            HTTPServerService(app: server, closeLimit: .milliseconds(300), logger: logs.logger()), logs: logs)
        #expect(took >= .milliseconds(300))
        #expect(took < .seconds(10))
        #expect(server.cancelled.isRaised)
        #expect(logs.text.contains("warning HTTP connections still open after the drain; closing them parley.close_limit_ms=300"))
        #expect(logs.text.contains("HTTP server stopped"))
    }
}
