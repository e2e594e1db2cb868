import Synchronization

/// Holds a reply's audio while the user may be starting to talk over it.
///
/// The coordinator pauses the gate as soon as the VAD hears speech during a reply and resumes it
/// if no real interruption follows (a cough, "mm-hm"); the reply's ``AudioPacer`` waits at the
/// gate before each frame and moves its pacing anchor by the time spent paused, so playback
/// continues where it stopped, without a burst.
public final class PlaybackGate: Sendable {
    private struct State {
        var pausedSince: ContinuousClock.Instant?
        var pausedTotal: Duration = .zero
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        // Waiters whose task was cancelled before their continuation was registered.
        var cancelled: Set<Int> = []
    }
    private let state = Mutex(State())

    /// Creates an open gate.
    public init() {}

    /// Whether the gate is paused.
    public var isPaused: Bool { state.withLock { $0.pausedSince != nil } }

    /// Time spent paused so far, not counting a pause still in progress.
    public var pausedTotal: Duration { state.withLock { $0.pausedTotal } }

    /// Time spent paused up to `instant`, including a pause still in progress.
    public func pausedTime(until instant: ContinuousClock.Instant) -> Duration {
        state.withLock { state in
            state.pausedTotal + (state.pausedSince.map { max(.zero, instant - $0) } ?? .zero)
        }
    }

    /// Pauses; returns false if already paused.
    @discardableResult
    public func pause(at instant: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            guard state.pausedSince == nil else { return false }
            state.pausedSince = instant
            return true
        }
    }

    /// Resumes, waking the waiter; returns false if not paused.
    @discardableResult
    public func resume(at instant: ContinuousClock.Instant = .now) -> Bool {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
            guard let since = state.pausedSince else { return nil }
            state.pausedSince = nil
            state.pausedTotal += max(.zero, instant - since)
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume() }
        return true
    }

    /// Returns once the gate is open (at once if it is), or when the task is cancelled.
    public func waitUntilOpen() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // The cancellation handler may run before or after this registration; the lock
                // and the `cancelled` set resume the continuation exactly once either way.
                let resumeNow = state.withLock { state -> Bool in
                    if state.pausedSince == nil || state.cancelled.remove(id) != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.resume()
        }
    }
}
