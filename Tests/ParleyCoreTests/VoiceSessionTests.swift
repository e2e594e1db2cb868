import Logging
import ParleyCore
import ParleyTesting
import Synchronization
import Testing

@Suite("Voice session with fake providers")
struct VoiceSessionTests {
    /// A running session fed by the test.
    struct Harness {
        /// The session's clock, which the output times events by too.
        let clock: SessionClock
        let output: RecordingSessionOutput
        let inputs: AsyncStream<ClientMessage>
        let sink: AsyncStream<ClientMessage>.Continuation
        let session: VoiceSession
        private let sent = SentFrames()

        final class SentFrames: Sendable {
            let count = Mutex(0)
        }

        init(
            stt: any SpeechToText, llm: any LanguageModel, tts: any TextToSpeech, systemPrompt: String = "Be brief.",
            configuration: SessionConfiguration? = nil, clock: SessionClock = .continuous
        ) {
            self.clock = clock
            output = RecordingSessionOutput(clock: clock)
            (inputs, sink) = AsyncStream.makeStream(of: ClientMessage.self)
            session = VoiceSession(
                id: "test", configuration: configuration ?? SessionConfiguration(systemPrompt: systemPrompt),
                providers: SessionProviders(speechToText: stt, languageModel: llm, textToSpeech: tts),
                logger: Logger(label: "test"), clock: clock)
        }

        /// Sends audio as 20 ms frames.
        func say(_ samples: [Int16]) {
            for frame in AudioFixtures.frames(samples) {
                sent.count.withLock { $0 += 1 }
                sink.yield(.audio(frame))
            }
        }

        /// Audio frames sent so far.
        var framesSent: Int { sent.count.withLock { $0 } }

        /// An utterance: a voiced tone followed by enough silence to end the turn.
        func utterance(_ duration: Duration = .milliseconds(600)) {
            say(AudioFixtures.tone(frequency: 200, duration: duration) + AudioFixtures.silence(.milliseconds(400)))
        }

        /// Waits until turn `id` has ended; false on timeout.
        func turnEnded(_ id: Int) async -> Bool {
            // Keep closures out of #expect: its expression capture rewrites them.
            await output.wait { events in
                events.contains { event in
                    guard case .turnEnd(let summary) = event else { return false }
                    return summary.turnID == id
                }
            }
        }

        /// Speaks two utterances, the second after the first turn ended; true when both turns ended.
        func twoTurns() async -> Bool {
            utterance()
            _ = await turnEnded(1)
            utterance()
            return await turnEnded(2)
        }

        /// Runs `body` while the session runs, then ends the session.
        func run(_ body: () async throws -> Void) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await session.run(inputs: inputs, output: output) }
                say(AudioFixtures.silence(.milliseconds(300)))
                try await body()
                sink.finish()
                try await group.waitForAll()
            }
        }
    }

    static func index(_ events: [SessionEvent], _ predicate: (SessionEvent) -> Bool) -> Int? {
        events.firstIndex(where: predicate)
    }

    @Test("a turn produces events in protocol order, and speech synthesis starts before the LLM finishes")
    func turnOrder() async throws {
        let llm = StreamingFakeLanguageModel(
            reply: "It is sunny today. It will rain tomorrow, so bring an umbrella. Have a nice day.",
            tokenDelay: .milliseconds(25))
        let tts = ToneTextToSpeech(sampleRate: 22050, durationPerCharacter: .milliseconds(4))
        let harness = Harness(stt: ScriptedSpeechToText(transcripts: ["What is the weather?"]), llm: llm, tts: tts)
        try await harness.run {
            harness.utterance()
            let ended = await harness.turnEnded(1)
            #expect(ended)
        }
        let events = harness.output.controlEvents
        let ready = try #require(Self.index(events) { if case .ready = $0 { true } else { false } })
        let started = try #require(Self.index(events) { $0 == .speechStarted })
        let stopped = try #require(Self.index(events) { $0 == .speechStopped })
        let final = try #require(Self.index(events) { $0 == .transcriptFinal(turnID: 1, text: "What is the weather?") })
        let firstText = try #require(Self.index(events) { if case .agentText(1, _) = $0 { true } else { false } })
        let audioStart = try #require(Self.index(events) { $0 == .agentAudioStart(turnID: 1, sampleRate: 16000) })
        let audioEnd = try #require(Self.index(events) { if case .agentAudioEnd(1, _) = $0 { true } else { false } })
        let turnEnd = try #require(Self.index(events) { if case .turnEnd = $0 { true } else { false } })
        #expect(ready == 0)
        #expect(started < stopped && stopped < final && final < firstText && firstText < audioStart)
        #expect(audioStart < audioEnd && audioEnd == turnEnd - 1 && turnEnd == events.count - 1)

        // All reply text arrives, and the audio comes in whole 20 ms frames, one or a burst per
        // message (the last frame may be shorter).
        let text = events.compactMap { if case .agentText(_, let delta) = $0 { delta } else { nil } }.joined()
        #expect(text == llm.reply)
        let frames = harness.output.events.compactMap { if case .agentAudio(1, let samples) = $0 { samples } else { nil } }
        let burst = 320 * AudioPacer(outputRate: 16000, batch: SessionConfiguration(systemPrompt: "").outputBatch).maximumBurst
        #expect(frames.dropLast().allSatisfy { $0.count % 320 == 0 && $0.count <= burst })
        guard case .agentAudioEnd(_, let total) = events[audioEnd], case .turnEnd(let summary) = events[turnEnd] else { return }
        #expect(total == frames.reduce(0) { $0 + $1.count })
        #expect(summary.text == llm.reply && !summary.interrupted)

        // Pipelining: the first sentence reached TTS while the LLM was still streaming.
        let llmFinished = try #require(llm.calls.first?.finished)
        let firstSentence = try #require(tts.sentences.first)
        #expect(firstSentence.text == "It is sunny today.")
        #expect(firstSentence.at < llmFinished)
        #expect(tts.sentences.map(\.text) == ["It is sunny today.", "It will rain tomorrow, so bring an umbrella.", "Have a nice day."])

        // The timeline's stages are present and in causal order.
        let timeline = summary.timeline
        let stages: [TurnTimeline.Stage] = [
            .speechEnd, .vadEnd, .sttFinal, .llmRequest, .llmFirstToken, .firstSentence, .ttsFirstAudio, .firstAudioSent, .lastAudioSent,
        ]
        let offsets = try stages.map { try #require(timeline[$0], "missing \($0)") }
        #expect(offsets == offsets.sorted())
        #expect(timeline[.interrupted] == nil)
        #expect(llm.calls.first?.messages == [.system("Be brief."), .user("What is the weather?")])
    }

    @Test(
        "the first clause goes to text-to-speech alone once it has firstChunkWords words; nil waits for the sentence",
        arguments: [
            (3, ["Well, the answer is yes,", "of course.", "Thanks, see you."]), (6, ["Well, the answer is yes, of course.", "Thanks, see you."]),
            (nil, ["Well, the answer is yes, of course.", "Thanks, see you."]),
        ] as [(Int?, [String])])
    func firstChunk(words: Int?, pieces: [String]) async throws {
        let llm = StreamingFakeLanguageModel(reply: "Well, the answer is yes, of course. Thanks, see you.", tokenDelay: .milliseconds(2))
        let tts = ToneTextToSpeech(sampleRate: 16000, durationPerCharacter: .milliseconds(2))
        var configuration = SessionConfiguration(systemPrompt: "Be brief.")
        configuration.firstChunkWords = words
        let harness = Harness(stt: ScriptedSpeechToText(transcripts: ["Is it?"]), llm: llm, tts: tts, configuration: configuration)
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        #expect(tts.sentences.map(\.text) == pieces)
    }

    @Test("a rambling reply ends at the sentence end past the word limit: not spoken, shown or remembered beyond it, no error")
    func wordLimit() async throws {
        let llm = StreamingFakeLanguageModel(
            reply: "Paris is the capital of France. It sits on the river Seine in the north of the country. It has many museums and "
                + "famous buildings, and millions of people visit it every year to see them.",
            tokenDelay: .milliseconds(2))
        let tts = ToneTextToSpeech(durationPerCharacter: .milliseconds(1))
        var configuration = SessionConfiguration(systemPrompt: "Be brief.")
        configuration.maximumReplyWords = 20  // past 12 words, the next sentence end ends the reply
        let harness = Harness(
            stt: ScriptedSpeechToText(transcripts: ["Tell me about Paris.", "And Rome?"]), llm: llm, tts: tts, configuration: configuration)
        try await harness.run {
            harness.utterance()
            let ended = await harness.turnEnded(1)
            #expect(ended)
            // The conversation keeps only what was said.
            harness.utterance()
            _ = await harness.turnEnded(2)
        }
        let events = harness.output.controlEvents
        let expected = "Paris is the capital of France. It sits on the river Seine in the north of the country."
        let text = events.compactMap { if case .agentText(1, let delta) = $0 { delta } else { nil } }.joined()
        #expect(text == expected)
        // Each turn speaks two sentences (the second turn's reply is the same text).
        let spoken = ["Paris is the capital of France.", "It sits on the river Seine in the north of the country."]
        #expect(tts.sentences.map(\.text) == spoken + spoken)
        #expect(!events.contains { if case .error = $0 { true } else { false } })
        #expect(llm.calls.last?.messages.contains(.assistant(expected)) == true, "\(llm.calls.last?.messages ?? [])")
    }

    @Test("each turn sends the conversation so far to the LLM")
    func history() async throws {
        let llm = StreamingFakeLanguageModel(reply: "Nice to meet you.", tokenDelay: .milliseconds(1))
        let harness = Harness(
            stt: ScriptedSpeechToText(transcripts: ["My name is John.", "What is my name?"]), llm: llm,
            tts: ToneTextToSpeech(durationPerCharacter: .milliseconds(1)))
        try await harness.run {
            let ended = await harness.twoTurns()
            #expect(ended)
        }
        #expect(llm.calls.count == 2, "\(harness.output.controlEvents)")
        #expect(
            llm.calls.last?.messages == [
                .system("Be brief."), .user("My name is John."), .assistant("Nice to meet you."), .user("What is my name?"),
            ])
    }

    @Test("speech during the reply cancels it: LLM stream cancelled, clear sent, no audio of that turn after it")
    func bargeIn() async throws {
        let llm = StreamingFakeLanguageModel(
            reply: "Once upon a time. There was a very long story. It went on and on. And on and on. The end.",
            tokenDelay: .milliseconds(60))
        let harness = Harness(
            stt: ScriptedSpeechToText(transcripts: ["Tell me a story.", "Stop."]), llm: llm,
            tts: ToneTextToSpeech(durationPerCharacter: .milliseconds(30)))
        try await harness.run {
            harness.utterance()
            #expect(await harness.output.wait { $0.contains(.agentAudioStart(turnID: 1, sampleRate: 16000)) })
            harness.utterance()
            let ended2 = await harness.turnEnded(2)
            #expect(ended2)
        }
        let events = harness.output.events
        let interrupted = try #require(events.firstIndex(of: .agentInterrupted(turnID: 1)))
        let staleAudio = events[(interrupted + 1)...].filter { if case .agentAudio(1, _) = $0 { true } else { false } }
        #expect(staleAudio.isEmpty)
        #expect(!events.contains { if case .agentAudioEnd(1, _) = $0 { true } else { false } })
        let summary = try #require(events.compactMap { if case .turnEnd(let s) = $0, s.turnID == 1 { s } else { nil } }.first)
        #expect(summary.interrupted)
        #expect(summary.timeline[.interrupted] != nil)
        #expect(llm.calls.first?.cancelled == true)
        // The interrupted reply is kept in history only as far as it was heard, marked as cut off.
        let history = llm.calls.last?.messages.dropLast() ?? []
        #expect(!history.contains(.assistant(summary.text)))
        #expect(history.filter { $0.role == .assistant }.allSatisfy { $0.content.hasSuffix(Conversation.interruptionMarker) })
    }

    @Test("an utterance without words produces no turn")
    func noSpeech() async throws {
        let llm = StreamingFakeLanguageModel(reply: "Hi.")
        let harness = Harness(stt: ScriptedSpeechToText(transcripts: []), llm: llm, tts: ToneTextToSpeech())
        try await harness.run {
            harness.utterance()
            #expect(await harness.output.wait { $0.contains(.speechStopped) })
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(llm.calls.isEmpty)
        #expect(!harness.output.events.contains { if case .transcriptFinal = $0 { true } else { false } })
    }

    @Test("an LLM failure ends the turn with llm_failed and the session goes on")
    func llmFailure() async throws {
        struct FailingModel: LanguageModel {
            var name: String { "failing" }
            func complete(_ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void) async throws -> [ToolCall] {
                try await onText("Partial ")
                throw ProviderError(provider: "failing", kind: .rejected, message: "HTTP 500: overloaded", status: 500)
            }
        }
        let harness = Harness(stt: ScriptedSpeechToText(transcripts: ["One.", "Two."]), llm: FailingModel(), tts: ToneTextToSpeech())
        try await harness.run {
            let ended = await harness.twoTurns()
            #expect(ended)
        }
        let errors = harness.output.events.compactMap { if case .error(let e) = $0 { e } else { nil } }
        #expect(errors.count == 2, "\(harness.output.controlEvents)")
        #expect(errors.allSatisfy { $0.code == .llmFailed && !$0.fatal && $0.message == "failing: HTTP 500: overloaded" })
    }

    @Test("a text-to-speech failure ends the turn with tts_failed and stops the LLM at once")
    func ttsFailure() async throws {
        struct FailingSpeech: TextToSpeech {
            var name: String { "failing-tts" }
            func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
                for await _ in text {
                    throw ProviderError(provider: "failing-tts", kind: .rejected, message: "quota_exceeded: out of credits")
                }
            }
        }
        // A long, slow reply: the LLM would stream for about 10 s of the clock if nothing stopped it.
        let session = ClockedSession(
            transcripts: ["Go on."], reply: "Short first sentence. " + String(repeating: "and then more words ", count: 100),
            tokenDelay: .milliseconds(50), tts: FailingSpeech())
        let harness = session.harness
        let llm = session.llm
        try await harness.run {
            #expect(await session.utterance(turn: 1))
            #expect(await session.advance(until: BargeInSessionTests.turnEnded(1), limit: .seconds(2)))
        }
        // The first sentence takes three words (150 ms of the clock); the failure stops the rest.
        #expect(session.now.offset < .milliseconds(500), "the turn ended \(session.now.offset) into the reply")
        let errors = harness.output.events.compactMap { if case .error(let e) = $0 { e } else { nil } }
        #expect(errors.map(\.code) == [.ttsFailed])
        #expect(errors.first?.message == "failing-tts: quota_exceeded: out of credits")
        #expect(llm.calls.first?.cancelled == true)
    }

    @Test("a recogniser that gives up ends the session with a fatal stt_failed, without waiting for the client")
    func recogniserFailure() async throws {
        struct FailingRecogniser: SpeechToText {
            var name: String { "failing-stt" }
            func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
                throw ProviderError(provider: "failing-stt", kind: .rejected, message: "refused the API key (HTTP 401)", status: 401)
            }
        }
        let harness = Harness(stt: FailingRecogniser(), llm: StreamingFakeLanguageModel(reply: "Hi."), tts: ToneTextToSpeech())
        // The client never leaves (the input stays open): the session must end by itself.
        let error = await #expect(throws: SessionError.self) {
            try await harness.session.run(inputs: harness.inputs, output: harness.output)
        }
        #expect(error?.code == .sttFailed)
        #expect(error?.fatal == true)
        #expect(error?.message == "failing-stt: refused the API key (HTTP 401)")
    }

    @Test("a transcript the session has no room for ends it with a fatal input_overflow instead of being lost")
    func transcriptOverflow() async throws {
        /// Answers the first speech with more partial transcripts than the session's queue holds.
        struct Flood: SpeechToText {
            var name: String { "flood" }
            func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
                for await item in input {
                    guard case .speechStarted = item else { continue }
                    for index in 0..<1000 { try await onEvent(.partial("word \(index)")) }
                }
            }
        }
        /// Stalls on the first transcript, so the coordinator stops taking signals.
        struct StallingOutput: SessionOutput {
            func send(_ event: SessionEvent) async throws {
                guard case .transcriptPartial = event else { return }
                try await Task.sleep(for: .seconds(60))
            }
        }
        let harness = Harness(stt: Flood(), llm: StreamingFakeLanguageModel(reply: "Hi."), tts: ToneTextToSpeech())
        harness.say(AudioFixtures.silence(.milliseconds(300)))  // the VAD learns the noise floor first
        harness.utterance()
        let error = await #expect(throws: SessionError.self) {
            try await harness.session.run(inputs: harness.inputs, output: StallingOutput())
        }
        #expect(error?.code == .inputOverflow)
        #expect(error?.fatal == true)
        #expect(error?.message.contains("a transcript") == true)
    }

    @Test("ping is answered with pong")
    func ping() async throws {
        let harness = Harness(stt: ScriptedSpeechToText(transcripts: []), llm: StreamingFakeLanguageModel(reply: ""), tts: ToneTextToSpeech())
        try await harness.run {
            harness.sink.yield(.ping(["n": 1]))
            #expect(await harness.output.wait { $0.contains(.pong(["n": 1])) })
        }
    }

    @Test("the client's first playback report puts playback_start on the timeline: its arrival minus what it had played")
    func playbackStart() async throws {
        let session = ClockedSession(
            transcripts: ["Tell me a story."], reply: VoiceSessionMemoryTests.story, ttsRate: 16000, durationPerCharacter: .milliseconds(20))
        let harness = session.harness
        var reported = session.now
        try await harness.run {
            #expect(await session.utterance(turn: 1))
            // 500 ms of reply audio out (16 kHz): the client says 100 ms of it has played.
            #expect(await session.advance { VoiceSessionMemoryTests.audioSamples($0, turn: 1) >= 8000 })
            reported = session.now
            #expect(await session.send(.playbackProgress(turnID: 1, playedSamples: 1600)))
            #expect(await session.advance(by: .milliseconds(200)))
            #expect(await session.send(.playbackProgress(turnID: 1, playedSamples: 4000)))
            #expect(await session.advance(until: BargeInSessionTests.turnEnded(1)))
        }
        let summary = try #require(
            harness.output.events.compactMap {
                if case .turnEnd(let summary) = $0, summary.turnID == 1 { summary } else { nil }
            }.first)
        let timeline = summary.timeline
        let start = try #require(timeline[.playbackStart])
        let firstSent = try #require(timeline[.firstAudioSent])
        let lastSent = try #require(timeline[.lastAudioSent])
        // The report came at least 300 ms after the first frame went out (500 ms sent, at most
        // 200 ms ahead: the 100 ms lead and the 100 ms batch), so the start it implies is at
        // least 200 ms after it, and the later report does not move it.
        #expect(start - firstSent >= .milliseconds(200) && start < lastSent)
        let firstFrame = try #require(
            harness.output.timedEvents.first {
                if case .agentAudio(1, _) = $0.event { true } else { false }
            })
        // On the test's clock: the first frame's instant plus the timeline's gap to the start is
        // the report's instant minus the 100 ms played.
        let startInstant = firstFrame.at + (start - firstSent)
        #expect(startInstant == reported - .milliseconds(100), "playback_start at \(startInstant), reported at \(reported)")
    }
}
