import ParleyCore

/// A streaming recogniser's first failed send (Deepgram, Deepgram Flux, smallest.ai Pulse).
///
/// A failed send means the connection is going away, and nothing is sent after it. What the
/// provider sent before the failure (an error message, its close with a code) is still read, so
/// that its own words are reported rather than the send's; the failure itself is reported only
/// when the connection's end has not come ``grace`` later (``isOverdue(at:)``).
struct SendFailure {
    /// How long the reader has to report the connection's end.
    let grace: Duration
    /// Why the send failed, once it has.
    private(set) var reason: String?
    private var since: SessionClock.Instant?

    init(grace: Duration) {
        self.grace = grace
    }

    /// Whether a send failed.
    var happened: Bool { reason != nil }

    /// Records `error` as the failure, unless one is recorded already.
    mutating func record(_ error: any Error, at now: SessionClock.Instant) {
        guard reason == nil else { return }
        reason = "\(error)"
        since = now
    }

    /// Whether the connection's end should have been read by `now`. With `grace` one tick
    /// interval this is the second tick after the failure: the first may have been queued
    /// before the reader saw the end.
    func isOverdue(at now: SessionClock.Instant) -> Bool {
        guard let since else { return false }
        return now - since >= grace
    }
}
