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
        return state.withLock { state in
            guard state.pausedSince == nil else { return false }
            state.pausedSince = instant
            state.reopened = CancellationSignal()
            return true
        }
    }

    /// Resumes at `instant` (now, by default), waking the waiter; returns false if not paused.
    @discardableResult
    public func resume(at instant: SessionClock.Instant? = nil) -> Bool {
        let instant = instant ?? clock.now
        let reopened = state.withLock { state -> CancellationSignal? in
            guard let since = state.pausedSince else { return nil }
            state.pausedSince = nil
            state.pausedTotal += max(.zero, instant - since)
            defer { state.reopened = nil }
            return state.reopened
        }
        reopened?.fire()
        return reopened != nil
    }

    /// Returns once the gate is open (at once if it is), or when the task is cancelled.
    public func waitUntilOpen() async {
        guard let reopened = state.withLock({ $0.reopened }) else { return }
        await reopened.wait()
    }
}
