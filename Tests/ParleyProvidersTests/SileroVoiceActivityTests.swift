import Foundation
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// The session's VAD with Silero judging its frames, against the energy detector alone, on
/// generated noise and tones and on speech.
@Suite("Voice activity with Silero VAD")
struct SileroVoiceActivityTests {
    static func factory() throws -> SpeechClassifierFactory {
        let installed = try SileroVoiceModelTests.installed()
        return try SileroSpeechClassifier.factory(runtime: installed.runtime, modelPath: installed.silero)
    }

    /// The detector's events over `samples` fed in 20 ms frames.
    static func events(_ samples: [Int16], rate: Int = 16000, classifier: SpeechClassifierFactory?) -> [EnergyVoiceActivityDetector.Event] {
        var detector = EnergyVoiceActivityDetector(configuration: .init(sampleRate: rate), classifier: classifier)
        return AudioFixtures.frames(samples, frameSamples: rate / 50).flatMap { detector.process($0).events }
    }

    static func starts(_ events: [EnergyVoiceActivityDetector.Event]) -> Int {
        events.filter { if case .speechStarted = $0 { true } else { false } }.count
    }

    /// Quiet, then `sound`: a sound that begins after a quiet room, as noise does in a call.
    static func afterQuiet(_ sound: [Int16], rate: Int = 16000) -> [Int16] {
        AudioFixtures.noise(duration: .seconds(1), amplitude: 0.002, sampleRate: rate, seed: 7) + sound
    }

    /// White noise with a syllable-like 4 Hz loudness swing.
    static func modulatedNoise(duration: Duration, rate: Int = 16000) -> [Int16] {
        let noise = AudioFixtures.noise(duration: duration, amplitude: 0.5, sampleRate: rate, seed: 11)
        return noise.enumerated().map { index, sample in
            let swing = 0.5 + 0.5 * sin(2 * Double.pi * 4 * Double(index) / Double(rate))
            return Int16(Double(sample) * swing)
        }
    }

    /// A tone with harmonics, like a beep or a hum of music.
    static func chord(duration: Duration, rate: Int = 16000) -> [Int16] {
        let parts = [220.0, 440, 660, 880].map { AudioFixtures.tone(frequency: $0, duration: duration, amplitude: 0.12, sampleRate: rate) }
        return (0..<parts[0].count).map { index in parts.reduce(Int16(0)) { $0 &+ $1[index] } }
    }

    @Test("loud steady noise, modulated noise and tones start no speech with Silero, where the energy detector starts on each")
    func nonSpeech() throws {
        let silero = try Self.factory()
        let sounds: [(String, [Int16])] = [
            ("steady noise", AudioFixtures.noise(duration: .seconds(3), amplitude: 0.3, seed: 3)),
            ("modulated noise", Self.modulatedNoise(duration: .seconds(3))),
            ("tones", Self.chord(duration: .seconds(3))),
        ]
        for (name, sound) in sounds {
            let audio = Self.afterQuiet(sound)
            #expect(Self.starts(Self.events(audio, classifier: nil)) >= 1, "the energy detector should hear \(name) as voice")
            #expect(Self.starts(Self.events(audio, classifier: silero)) == 0, "Silero started speech on \(name)")
        }
    }

    @Test("speech starts within 100 ms of a voice onset (Silero's 2-frame start rule), at 16 and 8 kHz", arguments: [16000, 8000])
    func prompt(rate: Int) async throws {
        let silero = try Self.factory()
        let sentence = try await EspeakEngine.shared.synthesize("Wait, tell me about London instead.", sampleRate: rate)
        let onset = try #require(sentence.firstIndex { abs(Int($0)) > 300 })
        let audio = Self.afterQuiet(Array(sentence[onset...]), rate: rate)
        var detector = EnergyVoiceActivityDetector(configuration: .init(sampleRate: rate), classifier: silero)
        #expect(detector.startFrames == 2)
        let frames = AudioFixtures.frames(audio, frameSamples: rate / 50)
        let started = frames.firstIndex { detector.process($0).events.contains { if case .speechStarted = $0 { true } else { false } } }
        // The quiet second is 50 frames; the onset is in frame 50, decided at the end of frame `started`.
        let decided = try #require(started, "speech never started") - 49
        #expect(decided * 20 <= 100, "speech started \(decided * 20) ms after the onset")
    }

    @Test("a spoken sentence is one stretch of speech at 16 and 8 kHz, also after loud noise", arguments: [16000, 8000])
    func speech(rate: Int) async throws {
        let silero = try Self.factory()
        let sentence = try await EspeakEngine.shared.synthesize("Could you tell me the weather in Paris tomorrow?", sampleRate: rate)
        let pause = AudioFixtures.silence(.seconds(1), sampleRate: rate)
        let noise = AudioFixtures.noise(duration: .seconds(2), amplitude: 0.3, sampleRate: rate, seed: 5)
        let events = Self.events(Self.afterQuiet(noise + pause + sentence + pause, rate: rate), rate: rate, classifier: silero)
        #expect(Self.starts(events) == 1, "\(events)")
        let ends = events.filter { if case .speechEnded = $0 { true } else { false } }
        #expect(ends.count == 1, "\(events)")
        // It starts inside the sentence, not in the noise.
        if case .speechStarted(let offset)? = events.first {
            let sentenceStart = rate + noise.count + pause.count
            #expect(offset >= sentenceStart - rate / 5, "started at \(offset), the sentence at \(sentenceStart)")
        }
    }
}
