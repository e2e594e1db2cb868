import ParleyCore
import ParleyTesting
import Testing

/// `--early-llm`: the LLM starts on a stable final transcript before the turn is committed; its
/// answer is never spoken early, and is thrown away when the user goes on.
@Suite("Early LLM requests")
struct EarlyLLMTests {
    typealias Harness = VoiceSessionTests.Harness

    /// A recogniser like Deepgram's: a final for the words when the speech starts, then (after
    /// `turnEndDelay`) the turn end the VAD's Finalize brings, with `moreWords` in between if set.
    struct StreamingRecogniser: SpeechToText {
        var firstWords: String
        var moreWords: String?
        var turnEndDelay: Duration = .milliseconds(150)
        var name: String { "streaming-stt" }

        func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
            for await item in input {
                switch item {
                case .speechStarted:
                    try await onEvent(.final(firstWords, endsTurn: false))
                case .speechEnded:
                    if let moreWords {
                        try await onEvent(.partial(moreWords))
                        try await onEvent(.final(moreWords, endsTurn: false))
                    }
                    try await Task.sleep(for: turnEndDelay)
                    try await onEvent(.final("", endsTurn: true))
                case .audio, .paused, .resumed:
                    continue
                }
            }
        }
    }

    static func configuration(earlyLLM: Bool) -> SessionConfiguration {
        var configuration = SessionConfiguration(systemPrompt: "Be brief.")
        configuration.earlyLLM = earlyLLM
        return configuration
    }

    @Test("the LLM starts before the turn is committed, and its answer is spoken only after")
    func adopted() async throws {
        let llm = StreamingFakeLanguageModel(reply: "It is sunny.", firstTokenDelay: .milliseconds(50), tokenDelay: .milliseconds(5))
        let harness = Harness(
            stt: StreamingRecogniser(firstWords: "What is the weather?"), llm: llm, tts: ToneTextToSpeech(),
            configuration: Self.configuration(earlyLLM: true))
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        #expect(llm.calls.count == 1, "one request, adopted")
        let timed = harness.output.timedEvents
        let finalIndex = timed.firstIndex { if case .transcriptFinal = $0.event { true } else { false } }
        let committed = try #require(finalIndex)
        let call = try #require(llm.calls.first)
        #expect(call.started < timed[committed].at, "the request began before the turn was committed")
        #expect(call.messages.last == .user("What is the weather?"))
        // Nothing of the reply reached the client before the turn was committed.
        let early = timed[..<committed].contains { if case .agentText = $0.event { true } else { false } }
        #expect(!early)
        let summary = try #require(timed.compactMap { if case .turnEnd(let s) = $0.event { s } else { nil } }.first)
        #expect(summary.text == "It is sunny.")
        #expect(try #require(summary.timeline[.llmRequest]) < #require(summary.timeline[.sttFinal]))
    }

    @Test("when the user goes on, the early request is cancelled and the reply answers everything said")
    func discarded() async throws {
        let llm = StreamingFakeLanguageModel(reply: "Here is a story.", firstTokenDelay: .milliseconds(300), tokenDelay: .milliseconds(5))
        let harness = Harness(
            stt: StreamingRecogniser(firstWords: "Tell me", moreWords: "a story."), llm: llm, tts: ToneTextToSpeech(),
            configuration: Self.configuration(earlyLLM: true))
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        let calls = llm.calls
        #expect(calls.count >= 2)
        #expect(calls.first?.messages.last == .user("Tell me"))
        #expect(calls.first?.cancelled == true)
        #expect(calls.last?.messages.last == .user("Tell me a story."))
        #expect(harness.output.events.contains(.transcriptFinal(turnID: 1, text: "Tell me a story.")))
        let texts = harness.output.events.compactMap { if case .agentText(_, let delta) = $0 { delta } else { nil } }
        #expect(texts.joined() == "Here is a story.")
    }

    /// A recogniser like the Whisper client with `--vad-pause`: a tentative transcript at each
    /// pause (`late`: only once voice came back, as a slow transcription would), the whole at the end.
    struct PausingRecogniser: SpeechToText {
        var atPause: [String]
        var late = false
        var final: String
        var name: String { "pausing-stt" }

        func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
            var pauses = 0
            for await item in input {
                switch item {
                case .paused where !late && pauses < atPause.count:
                    try await onEvent(.tentative(atPause[pauses]))
                    pauses += 1
                case .resumed where late && pauses < atPause.count:
                    try await onEvent(.tentative(atPause[pauses]))
                    pauses += 1
                case .speechEnded:
                    try await onEvent(.final(final, endsTurn: true))
                default:
                    continue
                }
            }
        }
    }

    static func pausing() -> SessionConfiguration {
        var configuration = SessionConfiguration(systemPrompt: "Be brief.")
        configuration.vad.pauseTimeout = .milliseconds(100)
        return configuration
    }

    @Test("a tentative transcript at a pause starts the LLM without --early-llm; the one at the end is adopted")
    func tentativeAdopted() async throws {
        // A first token a second away: the early request must still be waiting when the voice comes
        // back. With 20 ms it once finished first on a loaded CI machine, and was not cancelled.
        let llm = StreamingFakeLanguageModel(reply: "Paris.", firstTokenDelay: .seconds(1))
        let stt = PausingRecogniser(atPause: ["What is", "What is the capital of France?"], final: "What is the capital of France?")
        let harness = Harness(stt: stt, llm: llm, tts: ToneTextToSpeech(), configuration: Self.pausing())
        try await harness.run {
            // The speech up to its pause, then the rest once the early request started: sent at
            // once, the voice coming back could otherwise reach the session before the tentative
            // transcript does on a loaded machine (which makes that transcript stale).
            let tone = AudioFixtures.tone(frequency: 200, duration: .milliseconds(500))
            harness.say(tone + AudioFixtures.silence(.milliseconds(200)))
            #expect(await poll(timeout: .seconds(30)) { !llm.calls.isEmpty }, "no request at the pause")
            harness.say(tone + AudioFixtures.silence(.milliseconds(500)))
            #expect(await harness.turnEnded(1))
        }
        let calls = llm.calls
        #expect(calls.count == 2, "\(calls.map(\.messages.last))")
        #expect(calls.first?.messages.last == .user("What is") && calls.first?.cancelled == true, "voice came back: dropped")
        #expect(calls.last?.messages.last == .user("What is the capital of France?") && calls.last?.cancelled == false)
        let summary = try #require(harness.output.events.compactMap { if case .turnEnd(let s) = $0 { s } else { nil } }.first)
        #expect(summary.text == "Paris.")
        #expect(try #require(summary.timeline[.llmRequest]) < #require(summary.timeline[.sttFinal]))
    }

    @Test("a tentative transcript that arrives after voice came back starts nothing")
    func staleTentative() async throws {
        let llm = StreamingFakeLanguageModel(reply: "Paris.")
        let stt = PausingRecogniser(atPause: ["What is"], late: true, final: "What is the capital of France?")
        let harness = Harness(stt: stt, llm: llm, tts: ToneTextToSpeech(), configuration: Self.pausing())
        try await harness.run {
            // In real time, as a microphone sends it: the late transcript reaches the session while
            // the speaker is talking again.
            let speech =
                AudioFixtures.tone(frequency: 200, duration: .milliseconds(500)) + AudioFixtures.silence(.milliseconds(200))
                + AudioFixtures.tone(frequency: 200, duration: .milliseconds(500)) + AudioFixtures.silence(.milliseconds(500))
            for frame in AudioFixtures.frames(speech) {
                harness.sink.yield(.audio(frame))
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(await harness.turnEnded(1))
        }
        #expect(llm.calls.map { $0.messages.last } == [.user("What is the capital of France?")])
    }

    @Test("without --early-llm the LLM is asked only once the turn is committed")
    func off() async throws {
        let llm = StreamingFakeLanguageModel(reply: "It is sunny.")
        let harness = Harness(
            stt: StreamingRecogniser(firstWords: "What is the weather?"), llm: llm, tts: ToneTextToSpeech(),
            configuration: Self.configuration(earlyLLM: false))
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        let timed = harness.output.timedEvents
        let finalIndex = timed.firstIndex { if case .transcriptFinal = $0.event { true } else { false } }
        let committed = try #require(finalIndex)
        let call = try #require(llm.calls.first)
        #expect(call.started >= timed[committed].at)
    }
}

@Suite("End of turn")
struct EndOfTurnTests {
    @Test("a pause mid-sentence shorter than the silence threshold does not end the turn; the silence after it does")
    func midSentencePause() async throws {
        var configuration = SessionConfiguration(systemPrompt: "Be brief.")
        configuration.vad.silenceTimeout = .milliseconds(500)
        let llm = StreamingFakeLanguageModel(reply: "Sure.")
        let harness = VoiceSessionTests.Harness(
            stt: ScriptedSpeechToText(transcripts: ["I would like to book a table for two."]), llm: llm, tts: ToneTextToSpeech(),
            configuration: configuration)
        let tone = AudioFixtures.tone(frequency: 200, duration: .milliseconds(500))
        try await harness.run {
            // 500 ms of speech, a 400 ms pause, 500 ms more speech, then 600 ms of silence.
            harness.say(tone + AudioFixtures.silence(.milliseconds(400)) + tone + AudioFixtures.silence(.milliseconds(600)))
            #expect(await harness.turnEnded(1))
        }
        let events = harness.output.events
        #expect(events.filter { $0 == .speechStopped }.count == 1)
        #expect(events.filter { $0 == .speechStarted }.count == 1)
        #expect(llm.calls.count == 1)
    }

}

/// A recogniser's own likely end of turn (Deepgram Flux's `EagerEndOfTurn`).
extension EarlyLLMTests {
    /// A recogniser like Deepgram Flux with eager end of turn: `StartOfTurn` when speech starts,
    /// `EagerEndOfTurn` on `eager` once it stops, then (after `endDelay`) `TurnResumed` and the
    /// `final` words if they differ, else `EndOfTurn` on the same words.
    struct EagerRecogniser: SpeechToText {
        var eager: String
        var final: String
        var endDelay: Duration = .milliseconds(150)
        var name: String { "eager-stt" }

        func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
            for await item in input {
                switch item {
                case .speechStarted:
                    try await onEvent(.turnStarted)
                case .speechEnded:
                    try await onEvent(.likelyEndOfTurn(eager))
                    try await Task.sleep(for: endDelay)
                    if final != eager {
                        try await onEvent(.turnResumed)
                        try await onEvent(.partial(final))
                        try await Task.sleep(for: endDelay)
                    }
                    try await onEvent(.final(final, endsTurn: true))
                case .audio, .paused, .resumed:
                    continue
                }
            }
        }
    }

    @Test("a recogniser's likely end of turn starts the LLM, without --early-llm, and the same words adopt it")
    func likelyEndAdopted() async throws {
        let llm = StreamingFakeLanguageModel(reply: "It is sunny.", firstTokenDelay: .milliseconds(50), tokenDelay: .milliseconds(5))
        let harness = Harness(
            stt: EagerRecogniser(eager: "What is the weather?", final: "What is the weather?"), llm: llm, tts: ToneTextToSpeech(),
            configuration: Self.configuration(earlyLLM: false))
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        #expect(llm.calls.count == 1, "one request, adopted")
        let timed = harness.output.timedEvents
        let committed = try #require(timed.firstIndex { if case .transcriptFinal = $0.event { true } else { false } })
        let call = try #require(llm.calls.first)
        #expect(call.started < timed[committed].at, "the request began at the likely end, before the turn ended")
        #expect(call.cancelled == false)
        #expect(!timed[..<committed].contains { if case .agentText = $0.event { true } else { false } }, "nothing spoken early")
        let summary = try #require(timed.compactMap { if case .turnEnd(let s) = $0.event { s } else { nil } }.first)
        #expect(summary.text == "It is sunny.")
        #expect(try #require(summary.timeline[.llmRequest]) < #require(summary.timeline[.sttFinal]))
    }

    @Test("when the recogniser says the turn resumed, the early request is cancelled and the reply answers the whole turn")
    func likelyEndResumed() async throws {
        let llm = StreamingFakeLanguageModel(reply: "Here is a story.", firstTokenDelay: .milliseconds(400), tokenDelay: .milliseconds(5))
        let harness = Harness(
            stt: EagerRecogniser(eager: "Tell me", final: "Tell me a story."), llm: llm, tts: ToneTextToSpeech(),
            configuration: Self.configuration(earlyLLM: false))
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        let calls = llm.calls
        #expect(calls.count == 2)
        #expect(calls.first?.messages.last == .user("Tell me"))
        #expect(calls.first?.cancelled == true)
        #expect(calls.last?.messages.last == .user("Tell me a story."))
        let texts = harness.output.events.compactMap { if case .agentText(_, let delta) = $0 { delta } else { nil } }
        #expect(texts.joined() == "Here is a story.")
    }
}
