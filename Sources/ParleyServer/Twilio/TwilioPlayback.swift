import Synchronization

/// What Twilio has been sent and has played of one call's replies, told by the marks it echoes
/// and the clock between them, and the audio it has not played yet, kept for a resume.
///
/// Parley queues a progress mark after each ``progressInterval`` of a reply's audio and one at its end;
/// each echo says how many samples of that turn the caller has heard. Between echoes the position
/// is interpolated at real time from the last fact known (an echo, or the first frame sent into
/// an empty buffer), never beyond the next mark not yet echoed, and never beyond what Twilio
/// could have played of the audio sent since: when the pacer fell behind, Twilio's buffer ran
/// dry and playback waited for the next message (`Reply.dryLimit`). The estimate errs towards
/// repeating a little (twice the one-way latency to Twilio) rather than skipping; only after
/// Twilio's buffer ran dry can it be ahead, by at most the one-way latency.
///
/// When speech over a reply pauses it, Twilio's buffer is cleared at once (``paused(turnID:)``);
/// the audio sent after the position reached stays here, so that if the speech was a false start
/// the reply resumes from its first unplayed sample (``resumed(turnID:)``). Each clear starts a
/// new *epoch* of the turn's marks: marks sent before it (which Twilio may return unplayed) are
/// ignored when they come back.
final class TwilioPlayback: Sendable {
    /// Audio between progress marks.
    static let progressInterval: Duration = .milliseconds(200)
    /// Turns remembered; older ones no longer matter for memory truncation.
    static let remembered = 8
    /// Reply audio kept for a resume, in μ-law bytes (samples): 10 s at 8 kHz. Marks echo every
    /// 200 ms, so a call whose marks keep coming holds about the pacer's lead plus one interval.
    static let retainedLimit = 80_000

    /// Samples per second of the call's audio.
    let sampleRate: Int
    /// ``progressInterval`` in samples.
    private let progressSamples: Int

    private struct Reply {
        /// Where the next progress mark falls, in samples (audio sent again after a resume
        /// does not count).
        var nextMark: Int
        /// The reply's samples sent: the position of the next one.
        var samples = 0
        /// Samples the caller is known to have heard (from echoes).
        var played = 0
        /// Clears of this turn's playback so far (pauses and the interruption).
        var epoch = 0
        /// A position playback was at, and when: interpolated from at real time.
        var anchor: (samples: Int, at: ContinuousClock.Instant)?
        /// Of the messages sent since the anchor, the one that limits playback most: where it
        /// began, and when. When it was sent nothing from `samples` on had reached Twilio, so
        /// playback cannot be further at `now` than `samples + (now - at)` at the sample rate,
        /// whatever the anchor says. Every message gives such a bound, and they all grow at the
        /// same rate, so the lowest stays the lowest: one is enough.
        var dryLimit: (samples: Int, at: ContinuousClock.Instant)?
        /// Positions of this epoch's marks not yet echoed, in order.
        var pendingMarks: [Int] = []
        /// μ-law audio from `retainedFrom` up to `samples`, not known to be played.
        var retained: [UInt8] = []
        var retainedFrom = 0
        /// While paused by a clear: where playback stopped.
        var clearedAt: Int?
        /// Interrupted: nothing more of the turn is sent or counted.
        var interrupted = false
    }

    private struct State {
        var replies: [Int: Reply] = [:]
    }
    private let state = Mutex(State())

    init(sampleRate: Int = 8000) {
        self.sampleRate = sampleRate
        progressSamples = max(1, Int(Double(sampleRate) * Self.progressInterval.seconds))
    }

    /// Records `bytes` of `turnID`'s μ-law sent (one or more frames); returns the progress mark to
    /// queue after them, if one is due.
    func sent(turnID: Int, bytes: [UInt8], at now: ContinuousClock.Instant = .now) -> String? {
        state.withLock { state in
            var reply = state.replies[turnID] ?? Reply(nextMark: progressSamples)
            defer {
                state.replies[turnID] = reply
                Self.bound(&state.replies)
            }
            // The first frame into an empty buffer starts playing as it arrives.
            if reply.anchor == nil {
                reply.anchor = (reply.samples, now)
            } else if reply.dryLimit.map({ Self.reached(from: $0, at: now, sampleRate: sampleRate) > reply.samples }) ?? true {
                reply.dryLimit = (reply.samples, now)
            }
            reply.samples += bytes.count
            reply.retained += bytes
            if reply.retained.count > Self.retainedLimit {
                let excess = reply.retained.count - Self.retainedLimit
                reply.retained.removeFirst(excess)
                reply.retainedFrom += excess
            }
            guard reply.samples >= reply.nextMark else { return nil }
            reply.nextMark = (reply.samples / progressSamples + 1) * progressSamples
            reply.pendingMarks.append(reply.samples)
            return Self.markName(turnID: turnID, samples: reply.samples, epoch: reply.epoch)
        }
    }

    /// The mark that ends `turnID`.
    func ended(turnID: Int) -> String {
        state.withLock { state in
            guard var reply = state.replies[turnID] else { return Self.markName(turnID: turnID, samples: nil, epoch: 0) }
            reply.pendingMarks.append(reply.samples)
            state.replies[turnID] = reply
            return Self.markName(turnID: turnID, samples: nil, epoch: reply.epoch)
        }
    }

    /// Speech over the reply paused it: true when Twilio's buffer is to be cleared now (audio of
    /// the turn was sent and it is not cleared already). The position reached is kept.
    func paused(turnID: Int, at now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            guard var reply = state.replies[turnID], !reply.interrupted, reply.clearedAt == nil else { return false }
            reply.clearedAt = Self.position(of: reply, at: now, sampleRate: sampleRate)
            Self.startEpoch(&reply)
            state.replies[turnID] = reply
            return true
        }
    }

    /// The pause ended without an interruption: the audio to send again, from the first sample
    /// not played, and the mark to queue after it; nil when the turn was not cleared. `lost` is
    /// how much unplayed audio was no longer kept (beyond ``retainedLimit``).
    func resumed(turnID: Int, at now: ContinuousClock.Instant = .now) -> (audio: [UInt8], mark: String, lost: Int)? {
        state.withLock { state in
            guard var reply = state.replies[turnID], !reply.interrupted, let stoppedAt = reply.clearedAt else { return nil }
            let from = max(stoppedAt, reply.retainedFrom)
            reply.retained.removeFirst(min(reply.retained.count, from - reply.retainedFrom))
            reply.retainedFrom = from
            reply.clearedAt = nil
            reply.anchor = (from, now)
            reply.dryLimit = nil
            reply.pendingMarks.append(reply.samples)
            state.replies[turnID] = reply
            return (reply.retained, Self.markName(turnID: turnID, samples: reply.samples, epoch: reply.epoch), from - stoppedAt)
        }
    }

    /// The reply was interrupted: the samples of it the caller heard, and whether Twilio's buffer
    /// still needs a `clear` (not when a pause cleared it and nothing was sent since).
    func interrupted(turnID: Int, at now: ContinuousClock.Instant = .now) -> (playedSamples: Int, needsClear: Bool) {
        state.withLock { state in
            guard var reply = state.replies[turnID], !reply.interrupted else { return (0, true) }
            defer { state.replies[turnID] = reply }
            reply.interrupted = true
            if let stoppedAt = reply.clearedAt { return (stoppedAt, false) }
            let played = Self.position(of: reply, at: now, sampleRate: sampleRate)
            Self.startEpoch(&reply)
            return (played, true)
        }
    }

    /// Handles an echoed mark; returns `(turnID, playedSamples)` to report, or nil for a mark that
    /// is not Parley's, of a cleared epoch or an interrupted turn.
    func played(mark name: String, at now: ContinuousClock.Instant = .now) -> (turnID: Int, playedSamples: Int)? {
        guard let mark = Self.parse(name) else { return nil }
        return state.withLock { state in
            guard var reply = state.replies[mark.turnID], !reply.interrupted, reply.clearedAt == nil, mark.epoch == reply.epoch
            else { return nil }
            let samples = min(mark.samples ?? reply.samples, reply.samples)
            reply.played = max(samples, reply.played)
            reply.anchor = (samples, now)
            reply.dryLimit = nil
            reply.pendingMarks.removeAll { $0 <= samples }
            let heard = min(reply.played - reply.retainedFrom, reply.retained.count)
            if heard > 0 {
                reply.retained.removeFirst(heard)
                reply.retainedFrom += heard
            }
            state.replies[mark.turnID] = reply
            return (mark.turnID, reply.played)
        }
    }

    /// Where playback of `reply` is at `now`: the anchor moved on at real time, not past where
    /// the audio sent since allows (a buffer run dry waits for the next message), the next mark
    /// not yet echoed nor the audio sent, and not behind what echoes confirmed.
    private static func position(of reply: Reply, at now: ContinuousClock.Instant, sampleRate: Int) -> Int {
        guard let anchor = reply.anchor else { return reply.played }
        let moved = min(
            reached(from: anchor, at: now, sampleRate: sampleRate),
            reply.dryLimit.map { reached(from: $0, at: now, sampleRate: sampleRate) } ?? .max)
        let limit = min(reply.pendingMarks.first { $0 > anchor.samples } ?? reply.samples, reply.samples)
        return max(reply.played, min(moved, limit))
    }

    /// How far playback from `start` can have gone by `now`, at real time.
    private static func reached(from start: (samples: Int, at: ContinuousClock.Instant), at now: ContinuousClock.Instant, sampleRate: Int) -> Int {
        start.samples + Int(max(.zero, now - start.at).seconds * Double(sampleRate))
    }

    /// After a clear: earlier marks no longer count, and nothing plays until audio is sent again.
    private static func startEpoch(_ reply: inout Reply) {
        reply.epoch += 1
        reply.pendingMarks.removeAll()
        reply.anchor = nil
        reply.dryLimit = nil
    }

    /// `reply-<turn>` at a reply's end, `reply-<turn>-<samples>` for progress; after the turn's
    /// `epoch`-th clear, `reply-<turn>-end-<epoch>` and `reply-<turn>-<samples>-<epoch>`.
    static func markName(turnID: Int, samples: Int?, epoch: Int) -> String {
        let position = samples.map { "-\($0)" } ?? (epoch == 0 ? "" : "-end")
        return "reply-\(turnID)\(position)" + (epoch == 0 ? "" : "-\(epoch)")
    }

    /// The turn, position (nil at the end) and epoch a mark name holds; nil if it is not Parley's.
    static func parse(_ name: String) -> (turnID: Int, samples: Int?, epoch: Int)? {
        guard name.hasPrefix("reply-") else { return nil }
        let fields = name.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count <= 3, let turnID = Int(fields[0]), turnID >= 0 else { return nil }
        let epoch = fields.count == 3 ? Int(fields[2]) : 0
        guard let epoch, epoch >= 0 else { return nil }
        if fields.count == 1 { return (turnID, nil, 0) }
        if fields[1] == "end" { return fields.count == 3 && epoch > 0 ? (turnID, nil, epoch) : nil }
        guard let samples = Int(fields[1]), samples >= 0 else { return nil }
        return (turnID, samples, epoch)
    }

    private static func bound(_ dictionary: inout [Int: Reply]) {
        while dictionary.count > remembered, let oldest = dictionary.keys.min() { dictionary[oldest] = nil }
    }
}
