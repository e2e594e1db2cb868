import ParleyCore
import Synchronization

extension ParleyServer {
    /// The port the server bound, set from the escaping `onListening` callback (a class: such a
    /// closure must not capture a local `Mutex`).
    private final class BoundPort: Sendable {
        let value = Mutex<Int?>(nil)
    }

    /// Runs the server (port 0 picks a free one), calls `body` with the bound port once it
    /// listens, and stops the server when `body` returns. A server that fails to start throws its
    /// error instead; one that stops before listening is an error too.
    public func withRunning<Result: Sendable>(_ body: @escaping @Sendable (Int) async throws -> Result) async throws -> Result {
        let bound = BoundPort()
        let listening = CancellationSignal()
        var announcing = self
        let announce = onListening
        announcing.onListening = { port in
            bound.value.withLock { $0 = port }
            listening.fire()
            await announce(port)
        }
        let server = announcing
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                defer { listening.fire() }  // the body's task must not wait for a server that stopped
                try await server.run()
                return nil
            }
            group.addTask {
                await listening.wait()
                guard let port = bound.value.withLock({ $0 }) else { return nil }
                return try await body(port)
            }
            while let next = try await group.next() {
                if let result = next { return result }
            }
            throw ConfigurationError("the server stopped before it was listening")
        }
    }
}
