import Synchronization

/// One connection's limits at run time: the reader asks ``admit(bytes:isAudio:)`` for each
/// message; the runner's watchdogs read the time of the last audio.
final class ConnectionGuard: Sendable {
    let limits: ConnectionLimits
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    /// Nanoseconds from `start` to the last audio message.
    private let lastAudio = Atomic<Int64>(0)
    private let bucket: Mutex<TokenBucket>
    /// The limit the reader ran into, if any.
    private let tripped = Mutex<LimitClosure?>(nil)

    init(limits: ConnectionLimits) {
        self.limits = limits
        start = clock.now
        bucket = Mutex(TokenBucket(ratePerSecond: Double(limits.maximumMessagesPerSecond), burst: Double(2 * limits.maximumMessagesPerSecond)))
    }

    /// Checks one message read; a non-nil answer means: stop reading, the connection closes.
    func admit(bytes: Int, isAudio: Bool) -> LimitClosure? {
        let now = clock.now
        if bytes > limits.maximumMessageBytes { return trip(.messageTooLarge(bytes, limit: limits.maximumMessageBytes)) }
        guard bucket.withLock({ $0.take(at: now - start) }) else { return trip(.rateExceeded(limits.maximumMessagesPerSecond)) }
        if isAudio { lastAudio.store(Self.nanoseconds(now - start), ordering: .relaxed) }
        return nil
    }

    /// The limit the reader ran into.
    var trippedLimit: LimitClosure? { tripped.withLock { $0 } }

    /// Returns when the client has sent no audio for the idle timeout.
    func idleExpiry() async throws {
        while true {
            let last = start + .nanoseconds(lastAudio.load(ordering: .relaxed))
            let deadline = last + limits.idleTimeout
            if clock.now >= deadline { return }
            try await clock.sleep(until: deadline)
        }
    }

    /// Returns when the session has lasted its longest.
    func durationExpiry() async throws {
        try await clock.sleep(until: start + limits.maximumSessionDuration)
    }

    private func trip(_ closure: LimitClosure) -> LimitClosure {
        tripped.withLock { $0 = $0 ?? closure }
        return closure
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

/// A token bucket: `burst` tokens at most, refilled at `ratePerSecond`.
struct TokenBucket: Sendable {
    let ratePerSecond: Double
    let burst: Double
    private var tokens: Double
    private var last: Duration = .zero

    init(ratePerSecond: Double, burst: Double) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        tokens = burst
    }

    /// Takes one token at time `now` (from any fixed origin), or answers false when none is left.
    mutating func take(at now: Duration) -> Bool {
        let elapsed = Double((now - last).components.attoseconds) / 1e18 + Double((now - last).components.seconds)
        last = now
        tokens = min(burst, tokens + max(0, elapsed) * ratePerSecond)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
