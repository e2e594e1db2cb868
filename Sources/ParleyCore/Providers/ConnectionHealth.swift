import Synchronization

/// Whether a cloud provider's last connection succeeded, for `/health`.
///
/// A provider client records every connection attempt: ``succeeded()`` once the provider accepted
/// it (WebSocket upgraded, HTTP 2xx), ``failed(_:)`` when it refused or could not be reached.
/// Shared by all sessions that use the provider; cheap enough to call per request.
public final class ConnectionHealth: Sendable {
    /// What `/health` shows.
    public struct Snapshot: Sendable, Equatable {
        /// Nil until the first attempt; then whether the latest one succeeded.
        public var lastSucceeded: Bool?
        /// The latest failure's description (never containing credentials).
        public var lastError: String?
        /// Attempts so far.
        public var attempts: Int
        /// Failed attempts so far.
        public var failures: Int
    }

    private let state = Mutex(Snapshot(lastSucceeded: nil, lastError: nil, attempts: 0, failures: 0))

    /// Creates a record with no attempts.
    public init() {}

    /// Records a connection the provider accepted.
    public func succeeded() {
        state.withLock {
            $0.attempts += 1
            $0.lastSucceeded = true
        }
    }

    /// Records a connection that failed.
    public func failed(_ error: ProviderError) {
        state.withLock {
            $0.attempts += 1
            $0.failures += 1
            $0.lastSucceeded = false
            $0.lastError = error.description
        }
    }

    /// The current state.
    public var snapshot: Snapshot { state.withLock { $0 } }
}
