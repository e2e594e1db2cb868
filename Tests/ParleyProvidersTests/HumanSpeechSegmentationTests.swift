import Foundation
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// People reading, from a package (moonshine-voice 0.1.5's assets, MIT; `make setup` installs
/// it for the tests), segmented into turns by the session's rules with the real models: Silero VAD
/// in 20 ms frames, smart-turn asked at 200 ms of silence on the audio from 0.5 s before the speech
/// began, a complete verdict ending the turn, else 1.2 s of silence.
@Suite("Human speech segmented by Silero VAD and smart-turn")
struct HumanSpeechSegmentationTests {
    /// `name`.wav from moonshine-voice's assets, at 16 kHz.
    static func recording(_ name: String) throws -> [Int16] {
        let silero = try SileroVoiceModelTests.installed().silero  // …/site-packages/silero_vad/data/silero_vad.onnx
        let sitePackages = URL(fileURLWithPath: silero).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = sitePackages.appendingPathComponent("moonshine_voice/assets/\(name).wav").path
        let data = try #require(FileManager.default.contents(atPath: path), "no \(path): run `make setup`")
        let wav = try WAVFile(bytes: [UInt8](data))
        var resampler = Resampler(from: wav.sampleRate, to: 16000)
        return (resampler.process(wav.mono) + resampler.finish()).map { PCM.int16($0) }
    }

    /// Where turns end (seconds into the recording) and what the model said at each pause.
    struct Segmentation {
        var ends: [Double] = []
        var checks: [(at: Double, probability: Float)] = []
    }

    /// The recording's turns: judged by `model`, or with none after a fixed 300 ms of silence.
    static func segment(_ audio: [Int16], model: SmartTurnModel?) throws -> Segmentation {
        let rate = 16000
        var configuration = EnergyVoiceActivityDetector.Configuration(sampleRate: rate)
        if model != nil {
            configuration.silenceTimeout = .milliseconds(1200)
            configuration.turnCheckTimeout = .milliseconds(200)
        }
        var vad = EnergyVoiceActivityDetector(configuration: configuration, classifier: try SileroVoiceActivityTests.factory())
        var result = Segmentation()
        var speechStart = 0
        var position = 0
        for frame in AudioFixtures.frames(audio, frameSamples: rate / 50) {
            position += frame.count
            let seconds = Double(position) / Double(rate)
            for event in vad.process(frame).events {
                switch event {
                case .speechStarted(let offset):
                    speechStart = offset
                case .speechEnded:
                    result.ends.append(seconds)
                case .turnCheck:
                    guard let model else { continue }
                    let turn = audio[max(0, speechStart - rate / 2)..<position].map { Float($0) / 32768 }
                    let probability = try model.probability(turn)
                    result.checks.append((seconds, probability))
                    if probability >= 0.5, vad.endSpeech() != nil { result.ends.append(seconds) }
                case .paused, .resumed:
                    continue
                }
            }
        }
        return result
    }

    @Test("A Tale of Two Cities, read aloud: smart-turn keeps listening at mid-sentence pauses a fixed silence cuts, and ends the reading sooner")
    func twoCities() throws {
        let audio = try Self.recording("two_cities")
        let model = try SmartTurnModelTests.model()
        let learned = try Self.segment(audio, model: model)
        let fixed = try Self.segment(audio, model: nil)
        // Its last sentence, "In short, the period was so far like the present period, that some of
        // its noisiest authorities insisted on its being received, for good or for evil, in the
        // superlative degree of comparison only.", is read with pauses at most commas. The model
        // hears most of them end with a falling voice and judges them complete, as a listener
        // might; at several it hears the sentence is unfinished (at 31.5, 37.6, 38.5 and 40.5 s in
        // the run this was written from), and no turn ends there.
        let lastSentence = 30.5..<41.0
        let unfinished = learned.checks.filter { lastSentence.contains($0.at) && $0.probability < 0.5 }
        #expect(unfinished.count >= 3, "\(learned.checks)")
        for check in unfinished {
            #expect(!learned.ends.contains { abs($0 - check.at) < 0.001 }, "a turn ended at \(check)")
        }
        // A fixed 300 ms of silence cuts the sentence at pauses smart-turn kept listening through.
        let cutOnlyByFixed = fixed.ends.filter { end in lastSentence.contains(end) && !learned.ends.contains { abs($0 - end) < 0.3 } }
        #expect(cutOnlyByFixed.count >= 2, "smart-turn \(learned.ends), fixed \(fixed.ends)")
        // The reading's end ends a turn at the first pause after its last word, sooner than 300 ms.
        let last = try #require(learned.checks.last)
        #expect(last.at > 41 && last.probability >= 0.5, "\(learned.checks)")
        let learnedEnd = try #require(learned.ends.last)
        let fixedEnd = try #require(fixed.ends.last)
        #expect(abs(learnedEnd - last.at) < 0.001 && learnedEnd < fixedEnd, "smart-turn \(learnedEnd), fixed \(fixedEnd)")
    }

    @Test("Beckett's \"Ever tried. Ever failed. No matter…\", read aloud: each short sentence is judged complete")
    func beckett() throws {
        let audio = try Self.recording("beckett")
        let learned = try Self.segment(audio, model: try SmartTurnModelTests.model())
        #expect(!learned.checks.isEmpty)
        #expect(learned.checks.allSatisfy { $0.probability >= 0.5 }, "\(learned.checks)")
        #expect(learned.ends.count == learned.checks.count, "\(learned.ends)")
    }
}
