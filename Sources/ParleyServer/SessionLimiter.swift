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

    /// Gives a slot back and returns how many sessions remain open; when it was the last,
    /// returns freed heap memory to the system.
    @discardableResult
    func release() -> Int {
        let remaining = count.withLock { count in
            count -= 1
            return count
        }
        // Both allocators keep freed memory for reuse; without this the server's resident size
        // stays at its busiest even when every session has ended (BENCHMARKS.md, memory).
        if remaining == 0 { HeapAllocator.returnFreedMemory() }
        return remaining
    }

    /// Sessions open now.
    var active: Int { count.withLock { $0 } }
}
