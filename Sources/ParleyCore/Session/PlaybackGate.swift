import Synchronization

/// Holds a reply's audio while the user may be starting to talk over it.
///
/// The coordinator pauses the gate as soon as the VAD hears speech during a reply and resumes it
/// if no real interruption follows (a cough, "mm-hm"); the reply's ``AudioPacer`` waits at the
/// gate before each frame and moves its pacing anchor by the time spent paused, so playback
/// continues where it stopped, without a burst.
public final class PlaybackGate: Sendable {
    private struct State {
        var pausedSince: SessionClock.Instant?
        var pausedTotal: Duration = .zero
        /// Fired when the current pause ends; a new one per pause.
        var reopened: CancellationSignal?
        /// Fired when the gate next pauses; a new one each time it opens.
        var closing = CancellationSignal()
    }
    private let state = Mutex(State())

    /// The session's clock, which pauses and resumes are timed by.
    public let clock: SessionClock

    /// Creates an open gate.
    public init(clock: SessionClock) {
        self.clock = clock
    }

    /// Whether the gate is paused.
    public var isPaused: Bool { state.withLock { $0.pausedSince != nil } }

    /// Time spent paused so far, not counting a pause still in progress.
    public var pausedTotal: Duration { state.withLock { $0.pausedTotal } }

    /// Time spent paused up to `instant`, including a pause still in progress.
    public func pausedTime(until instant: SessionClock.Instant) -> Duration {
        state.withLock { state in
            state.pausedTotal + (state.pausedSince.map { max(.zero, instant - $0) } ?? .zero)
        }
    }

    /// Pauses at `instant` (now, by default); returns false if already paused.
    @discardableResult
    public func pause(at instant: SessionClock.Instant? = nil) -> Bool {
        let instant = instant ?? clock.now
        let (paused, closing) = state.withLock { state -> (Bool, CancellationSignal) in
            guard state.pausedSince == nil else { return (false, state.closing) }
            state.pausedSince = instant
            state.reopened = CancellationSignal()
            return (true, state.closing)
        }
        if paused { closing.fire() }
        return paused
    }

    /// Resumes at `instant` (now, by default), waking the waiter; returns false if not paused.
    @discardableResult
    public func resume(at instant: SessionClock.Instant? = nil) -> Bool {
        let instant = instant ?? clock.now
        let reopened = state.withLock { state -> CancellationSignal? in
            guard let since = state.pausedSince else { return nil }
            state.pausedSince = nil
            state.pausedTotal += max(.zero, instant - since)
            state.closing = CancellationSignal()
            defer { state.reopened = nil }
            return state.reopened
        }
        reopened?.fire()
        return reopened != nil
    }

    /// Sleeps on `clock` until `deadline`, or until the gate pauses if that is sooner (at once if
    /// it is paused), so a pacer sleeping between bursts of frames hears a pause at once.
    public func sleep(until deadline: SessionClock.Instant, clock: SessionClock) async throws {
        let closing = state.withLock { $0.pausedSince == nil ? $0.closing : nil }
        guard let closing, !closing.isFired else { return }
        if clock.isContinuous {
            try await closing.wait(atMost: deadline - clock.now)
            return
        }
        // A test's clock, whose sleepers the test counts and wakes: whichever ends first wins,
        // and the other is cancelled before this returns.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await clock.sleep(until: deadline) }
            group.addTask { await closing.wait() }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Returns once the gate is open (at once if it is), or when the task is cancelled.
    public func waitUntilOpen() async {
        guard let reopened = state.withLock({ $0.reopened }) else { return }
        await reopened.wait()
    }
}
