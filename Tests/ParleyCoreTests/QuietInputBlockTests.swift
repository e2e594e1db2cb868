import Logging
import ParleyCore
import ParleyTesting
import Synchronization
import Testing

@Suite("Caller audio reaches the recogniser in blocks")
struct QuietInputBlockTests {
    /// Records everything the session gives it.
    struct RecordingRecogniser: SpeechToText {
        let quietInputDuration: Duration?
        var speechInputDuration: Duration? = nil
        let received = Received()

        final class Received: Sendable {
            let items = Mutex<[SpeechInput]>([])
        }

        var name: String { "recording" }

        func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
            for await item in input { received.items.withLock { $0.append(item) } }
        }
    }

    static let frame = 320  // 20 ms at 16 kHz

    /// Sends 500 ms of silence, 600 ms of a voiced tone and 1 s of silence (the speech ends), then
    /// 30 ms of silence (not a whole block) and leaves; returns what the recogniser got.
    static func run(quiet: Duration?, speech: Duration? = nil) async throws -> (items: [SpeechInput], sent: Int) {
        let recogniser = RecordingRecogniser(quietInputDuration: quiet, speechInputDuration: speech)
        let harness = VoiceSessionTests.Harness(stt: recogniser, llm: StreamingFakeLanguageModel(reply: ""), tts: ToneTextToSpeech())
        let audio =
            AudioFixtures.silence(.milliseconds(500)) + AudioFixtures.tone(frequency: 200, duration: .milliseconds(600))
            + AudioFixtures.silence(.milliseconds(1000))
        harness.say(audio)
        // One frame more than a block's worth short: held when the caller leaves.
        harness.sink.yield(.audio(AudioFixtures.silence(.milliseconds(30))))
        harness.sink.finish()
        try await harness.session.run(inputs: harness.inputs, output: harness.output)
        return (recogniser.received.items.withLock { $0 }, audio.count + 480)
    }

    static func blocks(_ items: ArraySlice<SpeechInput>) -> [Int] {
        items.compactMap { if case .audio(let samples) = $0 { samples.count } else { nil } }
    }

    @Test("silence goes over in blocks, speech frame by frame, every sample once and in order")
    func blocksInSilence() async throws {
        let (items, sent) = try await Self.run(quiet: .milliseconds(100))
        let started = try #require(items.firstIndex(of: .speechStarted))
        let ended = try #require(items.firstIndex(of: .speechEnded))
        #expect(started < ended)
        #expect(Self.blocks(items[...]).reduce(0, +) == sent)

        // Before the VAD's decision: 100 ms blocks, then what was held up to the decision, which
        // includes the silence and the voiced frames it decided on.
        let before = Self.blocks(items[..<started])
        #expect(before.dropLast().allSatisfy { $0 == 1600 }, "\(before)")
        #expect(before.reduce(0, +) > 8000 && before.reduce(0, +) <= 8000 + 30 * Self.frame, "\(before)")
        // While the VAD hears speech, every frame as it comes.
        let speaking = Self.blocks(items[started..<ended])
        #expect(!speaking.isEmpty && speaking.allSatisfy { $0 == Self.frame }, "\(speaking)")
        // After the end of speech, blocks again; the last, held when the caller left, comes before
        // the input ends.
        let after = Self.blocks(items[(ended + 1)...])
        #expect(after.count >= 2 && after.dropLast().allSatisfy { $0 == 1600 }, "\(after)")
        #expect(after.last.map { $0 < 1600 } == true, "\(after)")
        // The speech's end follows the frame that ended it.
        if case .audio = items[ended - 1] {} else { Issue.record("no audio right before speechEnded") }
    }

    @Test("speech goes over in the recogniser's blocks too, flushed at the end of speech")
    func blocksInSpeech() async throws {
        let (items, sent) = try await Self.run(quiet: .milliseconds(100), speech: .milliseconds(40))
        let started = try #require(items.firstIndex(of: .speechStarted))
        let ended = try #require(items.firstIndex(of: .speechEnded))
        #expect(Self.blocks(items[...]).reduce(0, +) == sent)
        // While the VAD hears speech, 40 ms blocks; the last holds what was left at the VAD's
        // end-of-speech decision, which it comes right before.
        let speaking = Self.blocks(items[started..<ended])
        #expect(speaking.count >= 2, "\(speaking)")
        #expect(speaking.dropLast().allSatisfy { $0 == 2 * Self.frame }, "\(speaking)")
        #expect(speaking.last.map { $0 > 0 && $0 <= 2 * Self.frame } == true, "\(speaking)")
        if case .audio = items[ended - 1] {} else { Issue.record("no audio right before speechEnded") }
        // Silence before and after still goes in its own blocks.
        #expect(Self.blocks(items[(ended + 1)...]).dropLast().allSatisfy { $0 == 1600 })
    }

    @Test("a recogniser without a quiet block length gets every frame as it comes")
    func framesByDefault() async throws {
        let (items, sent) = try await Self.run(quiet: nil)
        let blocks = Self.blocks(items[...])
        #expect(blocks.reduce(0, +) == sent)
        #expect(blocks.dropLast().allSatisfy { $0 == Self.frame } && blocks.last == 480)
    }

    @Test("a chain of recognisers takes blocks only when every one does, the shortest")
    func chain() {
        let chain = ProviderChain(stage: "stt", timeout: nil)
        let both = FallbackSpeechToText(
            [RecordingRecogniser(quietInputDuration: .milliseconds(200)), RecordingRecogniser(quietInputDuration: .milliseconds(100))],
            chain: chain, sampleRate: 16000)
        #expect(both.quietInputDuration == .milliseconds(100))
        let one = FallbackSpeechToText(
            [RecordingRecogniser(quietInputDuration: .milliseconds(200)), RecordingRecogniser(quietInputDuration: nil)], chain: chain,
            sampleRate: 16000)
        #expect(one.quietInputDuration == nil)
        let speech = FallbackSpeechToText(
            [
                RecordingRecogniser(quietInputDuration: nil, speechInputDuration: .milliseconds(40)),
                RecordingRecogniser(quietInputDuration: nil, speechInputDuration: .milliseconds(80)),
            ], chain: chain, sampleRate: 16000)
        #expect(speech.speechInputDuration == .milliseconds(40))
        #expect(one.speechInputDuration == nil)
    }
}
