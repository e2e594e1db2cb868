/// A model that tells speech from other sound (Silero VAD), window by window, for the VAD's
/// frames: with one, ``EnergyVoiceActivityDetector`` counts a frame as voiced by the model's
/// probability rather than by its loudness, so steady noise, music and tones do not start a turn.
///
/// Each value is one audio stream's state (a session's); the model behind it may be shared.
public protocol SpeechClassifier: Sendable {
    /// The model's name, for logs and `/health` (`silero`).
    var name: String { get }
    /// Feeds the next samples of the stream and returns the speech probability (0–1) of each
    /// window they complete, in order; none when they complete no window.
    mutating func probabilities(_ samples: ArraySlice<Int16>) throws -> [Float]
    /// Forgets the stream so far: the next samples start a new one (after a quiet stretch).
    mutating func reset()
}

/// Makes one ``SpeechClassifier`` per session, for its input sample rate.
public struct SpeechClassifierFactory: Sendable {
    /// The model's name (`silero`).
    public let name: String
    /// Probability at or above which a frame starts or continues speech.
    public var threshold: Float
    /// Probability below which a frame inside speech counts as silence (a hysteresis: Silero's
    /// own iterator uses `threshold - 0.15`).
    public var silenceThreshold: Float
    /// Voiced frames within the VAD's start window that start speech with this model, in place
    /// of ``EnergyVoiceActivityDetector/Configuration/startFrames``. Silero's probability lags a
    /// voice onset by 60–80 ms (two or three 32 ms windows) and a click does not fool it, so 2
    /// frames start speech about as soon after the onset as 4 energy frames do (100 ms against
    /// 140 with 4; steady, modulated noise and tones still start nothing).
    public var startFrames: Int
    private let make: @Sendable (Int) -> (any SpeechClassifier)?

    /// A factory; `make` returns nil for a sample rate the model does not take.
    public init(
        name: String, threshold: Float = 0.5, silenceThreshold: Float = 0.35, startFrames: Int = 2,
        make: @escaping @Sendable (Int) -> (any SpeechClassifier)?
    ) {
        self.name = name
        self.threshold = threshold
        self.silenceThreshold = silenceThreshold
        self.startFrames = max(1, startFrames)
        self.make = make
    }

    /// A classifier for a stream at `sampleRate`, or nil when the model does not take that rate.
    public func classifier(sampleRate: Int) -> (any SpeechClassifier)? {
        make(sampleRate)
    }
}
