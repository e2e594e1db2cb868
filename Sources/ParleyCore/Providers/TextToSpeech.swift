/// A block of synthesised audio.
public struct AudioChunk: Sendable, Equatable {
    /// Mono PCM16 samples.
    public var samples: [Int16]
    /// Their sample rate in Hz.
    public var sampleRate: Int
    /// Which characters these samples speak, when the provider says (ElevenLabs does); used to cut
    /// the remembered reply to what the listener heard.
    public var alignment: SpeechAlignment?

    /// Creates a chunk.
    public init(samples: [Int16], sampleRate: Int, alignment: SpeechAlignment? = nil) {
        self.samples = samples
        self.sampleRate = sampleRate
        self.alignment = alignment
    }
}

/// Character timings of a piece of synthesised speech.
public struct SpeechAlignment: Sendable, Equatable {
    /// One spoken character and when it is heard.
    public struct Character: Sendable, Equatable {
        /// The character (a grapheme of the text sent to the provider).
        public var character: String
        /// When it starts, from the first sample of its ``AudioChunk``.
        public var start: Duration
        /// How long it lasts.
        public var duration: Duration

        /// Creates a timing.
        public init(character: String, start: Duration, duration: Duration) {
            self.character = character
            self.start = start
            self.duration = duration
        }
    }

    /// The characters in order.
    public var characters: [Character]

    /// Creates an alignment.
    public init(characters: [Character]) {
        self.characters = characters
    }

    /// The text spoken, characters joined.
    public var text: String { characters.map(\.character).joined() }
}

/// Speaks streamed text.
///
/// `synthesize` reads sentences from `text` as they become available and calls `onAudio` from the
/// caller's task with audio in order, returning when `text` has finished and all of it has been
/// spoken. `sampleRate` is the rate the session wants; an implementation that cannot produce it
/// returns its own rate in ``AudioChunk/sampleRate`` and the session converts. Cancelling the task
/// must stop synthesis and close any connection at once.
public protocol TextToSpeech: Sendable {
    /// A short name for logs and `/health`, such as `espeak-ng`.
    var name: String { get }

    /// Speaks `text`.
    func synthesize(
        _ text: AsyncStream<String>,
        sampleRate: Int,
        onAudio: (AudioChunk) async throws -> Void
    ) async throws

    /// Runs `body` with the voice one session speaks through, for the session's whole length.
    ///
    /// A provider that keeps state across a session's replies (ElevenLabs' multi-context socket,
    /// one connection for every reply) opens it here and closes it when `body` returns; the
    /// default is the provider itself. ``VoiceSession`` speaks every reply through the voice it
    /// is given.
    func withSessionVoice<Result: Sendable>(_ body: (any TextToSpeech) async throws -> Result) async throws -> Result
}

extension TextToSpeech {
    /// Runs `body` with this provider: it keeps nothing across a session's replies.
    public func withSessionVoice<Result: Sendable>(_ body: (any TextToSpeech) async throws -> Result) async throws -> Result {
        try await body(self)
    }
}
