/// A model that judges, from the sound of a turn, whether a speaker who has paused has finished
/// (smart-turn v3): the learned end of turn.
///
/// One value serves every session; calls may overlap. A call takes tens of milliseconds of CPU,
/// so implementations run it away from the caller's executor and may refuse with an error when
/// too many are waiting (the session then ends the turn on silence, as without a model).
public protocol TurnCompletionModel: Sendable {
    /// The model's name, for logs, `/health` and `turn.end` (`smart-turn`).
    var name: String { get }
    /// The probability (0–1) that the turn in `audio` is complete: mono PCM16 at `sampleRate`,
    /// from shortly before the speech began to now. Cancellation ends the wait; a run already
    /// under way finishes on its own thread.
    func probability(of audio: [Int16], sampleRate: Int) async throws -> Float
}

/// When the learned end of turn judges, and what it decides.
///
/// With it, the VAD no longer ends a turn after a fixed short silence: at ``pause`` of silence the
/// ``model`` judges the turn so far; at ``threshold`` or above the turn ends at once, below it
/// Parley keeps listening until ``maximumSilence`` has passed with no voice (or the speaker goes
/// on, and the next pause is judged afresh).
public struct EndOfTurnConfiguration: Sendable {
    /// The model.
    public var model: any TurnCompletionModel
    /// The probability at or above which the turn is complete (`--turn-threshold`).
    public var threshold: Float
    /// The silence after which the model judges the turn (`--turn-pause`).
    public var pause: Duration
    /// The silence that ends the turn whatever the model said (`--turn-max-silence`).
    public var maximumSilence: Duration

    /// Audio before the VAD's start of speech that the model hears too (pipecat gives it 0.5 s).
    public static let leadIn = Duration.milliseconds(500)
    /// The most audio the model hears (smart-turn v3 takes the last 8 s).
    public static let longestTurn = Duration.seconds(8)

    /// A configuration; the defaults are pipecat's threshold and the short and long silences of
    /// the issue that introduced it (200 ms, 1.2 s).
    public init(
        model: any TurnCompletionModel, threshold: Float = 0.5, pause: Duration = .milliseconds(200),
        maximumSilence: Duration = .milliseconds(1200)
    ) {
        self.model = model
        self.threshold = threshold
        self.pause = pause
        self.maximumSilence = maximumSilence
    }
}

/// What the end-of-turn model said about a turn, as `turn.end` reports it: its last judgement
/// before the turn ended.
public struct EndOfTurnVerdict: Sendable, Equatable {
    /// The model's probability that the turn was complete; nil when it could not judge (it
    /// failed or was too busy), and the turn ended on silence.
    public var probability: Float?
    /// Whether the verdict ended the turn at once; false when the turn then ended on
    /// ``EndOfTurnConfiguration/maximumSilence`` (or the recogniser ended it).
    public var complete: Bool
    /// The silence when the model was asked.
    public var silence: Duration
    /// How long the model took to answer.
    public var wait: Duration
    /// How many pauses of this turn the model judged.
    public var checks: Int

    /// A verdict.
    public init(probability: Float?, complete: Bool, silence: Duration, wait: Duration, checks: Int) {
        self.probability = probability
        self.complete = complete
        self.silence = silence
        self.wait = wait
        self.checks = checks
    }
}

/// The most recent caller audio, a fixed number of samples, in a ring: what the end-of-turn model
/// hears of a turn. Positions count samples from the start of the stream.
struct AudioHistory: Sendable {
    private var ring: [Int16]
    private var next = 0
    /// Samples appended since the start of the stream.
    private(set) var total = 0

    init(capacity: Int) {
        ring = [Int16](repeating: 0, count: max(1, capacity))
    }

    mutating func append(_ samples: [Int16]) {
        for sample in samples.suffix(ring.count) {
            ring[next] = sample
            next = next + 1 == ring.count ? 0 : next + 1
        }
        total += samples.count
    }

    /// The samples from stream position `start` to now, or as many of them as are still held.
    func samples(from start: Int) -> [Int16] {
        let count = min(total - max(0, start), ring.count, total)
        guard count > 0 else { return [] }
        let first = (next - count + ring.count) % ring.count
        if first + count <= ring.count { return Array(ring[first..<first + count]) }
        return Array(ring[first...]) + ring[..<(first + count - ring.count)]
    }
}
