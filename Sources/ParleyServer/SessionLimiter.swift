import Synchronization

/// Counts open sessions and refuses more than the limit.
final class SessionLimiter: Sendable {
    let maximum: Int
    private let count = Mutex(0)

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Takes a slot; false when the server is full.
    func acquire() -> Bool {
        count.withLock { count in
            guard count < maximum else { return false }
            count += 1
            return true
        }
    }

    /// Gives a slot back.
    func release() {
        count.withLock { $0 -= 1 }
    }

    /// Sessions open now.
    var active: Int { count.withLock { $0 } }
}
