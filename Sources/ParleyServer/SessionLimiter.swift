import Synchronization

/// Counts open sessions and refuses more than the limit.
final class SessionLimiter: Sendable {
    let maximum: Int
    /// Counts the sessions opened and open, if set.
    let metrics: ServerMetrics?
    private let count = Mutex(0)

    init(maximum: Int, metrics: ServerMetrics? = nil) {
        self.maximum = maximum
        self.metrics = metrics
    }

    /// Takes a slot; false when the server is full.
    func acquire() -> Bool {
        let acquired = count.withLock { count in
            guard count < maximum else { return false }
            count += 1
            return true
        }
        if acquired { metrics?.sessionOpened() }
        return acquired
    }

    /// Gives a slot back.
    func release() {
        count.withLock { $0 -= 1 }
        metrics?.sessionClosed()
    }

    /// Sessions open now.
    var active: Int { count.withLock { $0 } }
}
