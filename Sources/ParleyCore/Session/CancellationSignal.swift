import Synchronization

/// A one-shot signal that tasks can wait on; used to cancel a reply from outside its task tree.
public final class CancellationSignal: Sendable {
    private struct State {
        var fired = false
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        // Waiters whose task was cancelled before their continuation was registered.
        var cancelled: Set<Int> = []
    }
    private let state = Mutex(State())

    /// Creates an unfired signal.
    public init() {}

    /// Whether the signal has fired.
    public var isFired: Bool { state.withLock { $0.fired } }

    /// Fires the signal, waking every waiter; later calls do nothing.
    public func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the signal fires or the waiting task is cancelled.
    public func wait() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // The cancellation handler may run before or after this registration (or
                // concurrently, on another thread); the lock and the `cancelled` set make
                // both orders resume exactly once.
                let resumeNow = state.withLock { state -> Bool in
                    if state.fired || state.cancelled.remove(id) != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                if !state.fired { state.cancelled.insert(id) }
                return nil
            }
            waiter?.resume()
        }
    }

    /// Runs `body` until it finishes or the signal fires, whichever is first; on firing, `body`
    /// is cancelled and awaited before this returns `false`.
    public func run(_ body: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            // Whichever child finishes first decides; the other must not outlive this scope.
            defer { group.cancelAll() }
            group.addTask {
                try await body()
                return true
            }
            group.addTask {
                await self.wait()
                return false
            }
            let completed = try await group.next() ?? false
            group.cancelAll()
            // Once interrupted, the body's cancellation error is the expected way for it to end.
            while let _ = try? await group.next() {}
            return completed
        }
    }
}
