import Synchronization

#if canImport(CMalloc)
import CMalloc
#endif

/// Counts open sessions, refuses more than the limit, and lets the drain wait for the last to end.
final class SessionLimiter: Sendable {
    let maximum: Int
    private struct State {
        var count = 0
        var nextWaiter = 0
        var emptyWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Takes a slot; false when the server is full.
    func acquire() -> Bool {
        state.withLock { state in
            guard state.count < maximum else { return false }
            state.count += 1
            return true
        }
    }

    /// Gives a slot back; when it was the last, returns freed heap memory to the system and wakes
    /// whoever waits for the server to be empty.
    func release() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
            state.count -= 1
            guard state.count == 0 else { return nil }
            defer { state.emptyWaiters.removeAll() }
            return Array(state.emptyWaiters.values)
        }
        guard let waiters else { return }
        #if os(Linux) && canImport(CMalloc)
        // glibc keeps freed memory in its per-thread arenas; without this the server's resident
        // size stays at its busiest even when every session has ended (BENCHMARKS.md, memory).
        malloc_trim(0)
        #endif
        for waiter in waiters { waiter.resume() }
    }

    /// Sessions open now.
    var active: Int { state.withLock { $0.count } }

    /// Returns once no session is open, or when the waiting task is cancelled.
    func waitUntilEmpty() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    // The cancellation flag is set before the handler runs: checked under the lock, a
                    // waiter cancelled before it registered resumes here, one cancelled after in the handler.
                    if state.count == 0 || Task.isCancelled { return true }
                    state.emptyWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.emptyWaiters.removeValue(forKey: id) }?.resume()
        }
    }
}
