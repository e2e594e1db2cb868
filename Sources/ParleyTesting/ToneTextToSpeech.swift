import Foundation
public import ParleyCore
import Synchronization

/// A synthesiser that "speaks" each sentence as a sine tone, `durationPerCharacter` long per
/// character, and records when each sentence arrived.
public struct ToneTextToSpeech: TextToSpeech {
    /// The tone's rate in Hz (may differ from the session's, to exercise resampling).
    public let sampleRate: Int
    /// Length of tone per character of text.
    public let durationPerCharacter: Duration
    /// Delay before each sentence's audio.
    public let latency: Duration
    /// The clock the latency is waited on and arrivals are timed by.
    public let clock: SessionClock
    private let log = Log()

    public var name: String { "tone-tts" }

    /// Creates a synthesiser.
    public init(
        sampleRate: Int = 22050, durationPerCharacter: Duration = .milliseconds(10), latency: Duration = .milliseconds(5),
        clock: SessionClock = .continuous
    ) {
        self.clock = clock
        self.sampleRate = sampleRate
        self.durationPerCharacter = durationPerCharacter
        self.latency = latency
    }

    /// Sentences received, with the instant each arrived.
    public var sentences: [(text: String, at: SessionClock.Instant)] { log.sentences.withLock { $0 } }

    public func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        for await sentence in text {
            log.sentences.withLock { $0.append((sentence, clock.now)) }
            try await clock.sleep(for: latency)
            let duration = durationPerCharacter * sentence.count
            let tone = AudioFixtures.tone(frequency: 440, duration: duration, amplitude: 0.3, sampleRate: self.sampleRate)
            // Each character is "spoken" for the same time, so the proportional alignment is exact.
            let alignment = SpeechAlignment.proportional(sentence, over: duration)
            // Deliver in 50 ms pieces, as streaming engines do.
            let piece = self.sampleRate / 20
            for start in stride(from: 0, to: tone.count, by: piece) {
                let end = min(tone.count, start + piece)
                let at: (Int) -> Duration = { .seconds(Double($0) / Double(self.sampleRate)) }
                let slice = alignment.slice(from: at(start), to: end == tone.count ? nil : at(end))
                try await onAudio(AudioChunk(samples: Array(tone[start..<end]), sampleRate: self.sampleRate, alignment: slice))
            }
        }
    }

    final class Log: Sendable {
        let sentences = Mutex<[(text: String, at: SessionClock.Instant)]>([])
    }
}
