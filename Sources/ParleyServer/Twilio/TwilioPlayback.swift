import Synchronization

/// What Twilio has been sent and has played of one call's replies, told by the marks it echoes.
///
/// Parley queues a progress mark every ``progressInterval`` frames of a reply and one at its end;
/// each echo says how many samples of that turn the caller has heard. After a `clear` the turn's
/// later echoes are ignored (Twilio may return cleared marks, which were never played).
final class TwilioPlayback: Sendable {
    /// Frames between progress marks (200 ms of 20 ms frames).
    static let progressInterval = 10
    /// Turns remembered; older ones no longer matter for memory truncation.
    static let remembered = 8

    private struct State {
        var sent: [Int: (frames: Int, samples: Int)] = [:]
        var played: [Int: Int] = [:]
        var cleared: Set<Int> = []
    }
    private let state = Mutex(State())

    /// Records a frame of `turnID` sent; returns the progress mark to queue after it, if one is due.
    func sent(turnID: Int, samples: Int) -> String? {
        state.withLock { state in
            var sent = state.sent[turnID] ?? (0, 0)
            sent.frames += 1
            sent.samples += samples
            state.sent[turnID] = sent
            Self.bound(&state.sent)
            return sent.frames % Self.progressInterval == 0 ? Self.markName(turnID: turnID, samples: sent.samples) : nil
        }
    }

    /// The mark that ends `turnID`.
    func ended(turnID: Int) -> String {
        Self.markName(turnID: turnID, samples: nil)
    }

    /// Marks `turnID` cleared; returns the samples of it the caller is known to have heard.
    func cleared(turnID: Int) -> Int {
        state.withLock { state in
            state.cleared.insert(turnID)
            if state.cleared.count > Self.remembered, let oldest = state.cleared.min() { state.cleared.remove(oldest) }
            return state.played[turnID] ?? 0
        }
    }

    /// Handles an echoed mark; returns `(turnID, playedSamples)` to report, or nil for a mark that
    /// is not Parley's, or of a cleared turn.
    func played(mark name: String) -> (turnID: Int, playedSamples: Int)? {
        guard name.hasPrefix("reply-") else { return nil }
        let fields = name.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard let turnID = fields.first.flatMap({ Int($0) }), fields.count <= 2 else { return nil }
        return state.withLock { state in
            guard !state.cleared.contains(turnID), let sent = state.sent[turnID] else { return nil }
            let samples = fields.count == 2 ? Int(fields[1]).map { min($0, sent.samples) } : sent.samples
            guard let samples else { return nil }
            let played = max(samples, state.played[turnID] ?? 0)
            state.played[turnID] = played
            Self.bound(&state.played)
            return (turnID, played)
        }
    }

    /// `reply-<turn>` at a reply's end, `reply-<turn>-<samples>` for progress.
    static func markName(turnID: Int, samples: Int?) -> String {
        samples.map { "reply-\(turnID)-\($0)" } ?? "reply-\(turnID)"
    }

    private static func bound<Value>(_ dictionary: inout [Int: Value]) {
        while dictionary.count > remembered, let oldest = dictionary.keys.min() { dictionary[oldest] = nil }
    }
}
