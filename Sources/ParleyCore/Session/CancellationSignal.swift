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
        await wait(timeout: nil)
    }

    /// Returns when the signal fires, `timeout` of real time has passed, or the waiting task is
    /// cancelled (then it throws `CancellationError`), whichever is first.
    ///
    /// One waiter and a timer (``RealTimeTimers/current``, else dispatch's), no child task: a
    /// reply's pacer sleeps this way between bursts (``PlaybackGate/sleep(until:clock:)``), 17
    /// times a second per speaking session. A
    /// task group racing `Task.sleep` against ``wait()`` made two child tasks per sleep: at 60
    /// sessions, 6 % of the server's CPU was that race (BENCHMARKS.md, 2026-12-05).
    public func wait(atMost timeout: Duration) async throws {
        await wait(timeout: timeout)
        try Task.checkCancellation()
    }

    private func wait(timeout: Duration?) async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        // The session's timer (its event loop in the server) if it has one, else dispatch's.
        let timer: (any RealTimeTimer)? = timeout == nil ? nil : RealTimeTimers.current ?? DispatchTimer()
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
                if resumeNow {
                    continuation.resume()
                } else if let timeout, let timer {
                    timer.schedule(after: timeout) { self.resumeWaiter(id) }
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                if !state.fired { state.cancelled.insert(id) }
                return nil
            }
            waiter?.resume()
        }
        // A cancellation that came after the timer woke this waiter left its id behind; the
        // handler cannot run any more once `withTaskCancellationHandler` has returned.
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    /// Wakes waiter `id` if it still waits (its timer ran out).
    private func resumeWaiter(_ id: Int) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
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
