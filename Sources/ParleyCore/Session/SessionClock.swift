/// The clock a session keeps time by: any `Clock<Duration>`, erased to one concrete type.
///
/// The server runs sessions on the continuous clock (``continuous``); tests give a manual clock
/// and advance it, so pacing, barge-in and deadlines are exact and nothing sleeps. Erasing the
/// clock keeps ``VoiceSession`` and the parts that store instants (``TurnRecorder``,
/// ``PlaybackGate``, ``BargeInPolicy``) free of a generic parameter that every caller would carry.
/// Instants are offsets from the moment the erased clock was made, so instants of one
/// `SessionClock` compare with each other only.
public struct SessionClock: Clock {
    /// A point in time: the offset from the clock's origin.
    public struct Instant: InstantProtocol, Hashable, Sendable {
        /// Time since the clock's origin.
        public var offset: Duration

        /// Creates the instant `offset` after the clock's origin.
        public init(offset: Duration) {
            self.offset = offset
        }

        public func advanced(by duration: Duration) -> Instant {
            Instant(offset: offset + duration)
        }

        public func duration(to other: Instant) -> Duration {
            other.offset - offset
        }

        public static func < (lhs: Instant, rhs: Instant) -> Bool {
            lhs.offset < rhs.offset
        }

        public static func + (lhs: Instant, rhs: Duration) -> Instant {
            Instant(offset: lhs.offset + rhs)
        }

        public static func - (lhs: Instant, rhs: Duration) -> Instant {
            Instant(offset: lhs.offset - rhs)
        }

        public static func - (lhs: Instant, rhs: Instant) -> Duration {
            lhs.offset - rhs.offset
        }
    }

    private let elapsed: @Sendable () -> Duration
    private let sleeper: @Sendable (_ until: Duration, _ tolerance: Duration?) async throws -> Void
    /// The wrapped clock's resolution.
    public let minimumResolution: Duration
    /// Whether this is ``continuous``, the process's real time, which timers outside Swift's
    /// `Clock` (a dispatch timer, ``CancellationSignal/wait(atMost:)``) also keep.
    public let isContinuous: Bool

    /// Wraps `clock`; its current instant becomes this clock's origin.
    public init<Base: Clock>(_ clock: Base) where Base.Duration == Duration {
        self.init(clock, isContinuous: false)
    }

    private init<Base: Clock>(_ clock: Base, isContinuous: Bool) where Base.Duration == Duration {
        let origin = clock.now
        elapsed = { origin.duration(to: clock.now) }
        sleeper = { offset, tolerance in try await clock.sleep(until: origin.advanced(by: offset), tolerance: tolerance) }
        minimumResolution = clock.minimumResolution
        self.isContinuous = isContinuous
    }

    /// The continuous clock, shared by every session of the process.
    public static let continuous = SessionClock(ContinuousClock(), isContinuous: true)

    /// `clock` as a session clock: itself if it is one, ``continuous`` for the continuous clock,
    /// otherwise wrapped.
    public static func erasing(_ clock: some Clock<Duration>) -> SessionClock {
        if let clock = clock as? SessionClock { return clock }
        if clock is ContinuousClock { return .continuous }
        return SessionClock(clock)
    }

    /// The current instant.
    public var now: Instant { Instant(offset: elapsed()) }

    /// Suspends until `deadline`; throws `CancellationError` if the task is cancelled first.
    ///
    /// On the continuous clock in a task tree with a real-time timer (``RealTimeTimers/current``:
    /// a server session, timed by its connection's event loop) the wait is that timer's. The
    /// continuous clock's own sleep is dispatch's timer: its thread wakes, then a dispatch worker
    /// to resume the sleeper, which hands it to the session's loop. The recogniser's ticker, the
    /// keep-alives and the watchdogs sleep this way about once a second per session.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        if isContinuous, RealTimeTimers.current != nil {
            try await CancellationSignal().wait(atMost: deadline - now)
        } else {
            try await sleeper(deadline.offset, tolerance)
        }
    }
}
