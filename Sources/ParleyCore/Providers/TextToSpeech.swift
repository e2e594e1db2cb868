/// A block of synthesised audio.
public struct AudioChunk: Sendable, Equatable {
    /// Mono PCM16 samples.
    public var samples: [Int16]
    /// Their sample rate in Hz.
    public var sampleRate: Int

    /// Creates a chunk.
    public init(samples: [Int16], sampleRate: Int) {
        self.samples = samples
        self.sampleRate = sampleRate
    }
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
}
