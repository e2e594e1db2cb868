public import ParleyCore

/// Text-to-speech with espeak-ng, in process (README.md: the embedded offline engine).
///
/// Each sentence is synthesised as it arrives (about a thousand times faster than real time) at
/// espeak-ng's 22 050 Hz; the session resamples to its output rate.
public struct EspeakTextToSpeech: TextToSpeech {
    /// The espeak-ng voice, such as `en-us`.
    public var voice: String
    /// Speaking rate in words per minute.
    public var wordsPerMinute: Int

    public var name: String { "espeak-ng" }

    /// Creates a synthesiser.
    public init(voice: String = "en-us", wordsPerMinute: Int = 175) {
        self.voice = voice
        self.wordsPerMinute = wordsPerMinute
    }

    public func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        for await sentence in text {
            try Task.checkCancellation()
            let result: (samples: [Int16], sampleRate: Int)
            do {
                result = try await EspeakEngine.shared.synthesize(
                    sentence, voice: ProviderContext.voice ?? voice, wordsPerMinute: wordsPerMinute)
            } catch let failure as EspeakEngine.Failure {
                throw ProviderError(provider: name, kind: .engine, message: failure.description)
            }
            try Task.checkCancellation()
            let samples = Self.trimmingSilence(result.samples)
            // espeak-ng reports no timings: the sentence is spread evenly over its audio.
            let duration = Duration.seconds(Double(samples.count) / Double(result.sampleRate))
            let alignment = SpeechAlignment.proportional(sentence, over: duration)
            try await onAudio(AudioChunk(samples: samples, sampleRate: result.sampleRate, alignment: alignment))
        }
    }

    /// espeak-ng pads each sentence with silence; keep at most 100 ms at either end so sentences
    /// join naturally and the first audio is speech.
    static func trimmingSilence(_ samples: [Int16], threshold: Int16 = 64, keep: Int = 2205) -> [Int16] {
        guard let first = samples.firstIndex(where: { abs(Int32($0)) > Int32(threshold) }),
            let last = samples.lastIndex(where: { abs(Int32($0)) > Int32(threshold) })
        else { return [] }
        let start = max(0, first - keep / 4)
        let end = min(samples.count, last + 1 + keep)
        return Array(samples[start..<end])
    }
}
