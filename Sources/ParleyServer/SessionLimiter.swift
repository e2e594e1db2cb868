import Synchronization

#if canImport(CMalloc)
import CMalloc
#endif

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

    /// Gives a slot back; when it was the last, returns freed heap memory to the system.
    func release() {
        let remaining = count.withLock { count in
            count -= 1
            return count
        }
        metrics?.sessionClosed()
        #if os(Linux) && canImport(CMalloc)
        // glibc keeps freed memory in its per-thread arenas; without this the server's resident
        // size stays at its busiest even when every session has ended (BENCHMARKS.md, memory).
        if remaining == 0 { malloc_trim(0) }
        #endif
    }

    /// Sessions open now.
    var active: Int { count.withLock { $0 } }
}
