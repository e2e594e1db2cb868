import ParleyCore
import ParleyTesting
import Testing

@Suite("Voice session memory")
struct VoiceSessionMemoryTests {
    typealias Harness = VoiceSessionTests.Harness

    static let story = "Once upon a time. There was a very long story. It went on and on. And on and on. The end."

    /// Output samples of turn `id`'s audio sent so far.
    static func audioSamples(_ events: [SessionEvent], turn id: Int) -> Int {
        events.reduce(0) { total, event in
            if case .agentAudio(id, let samples) = event { total + samples.count } else { total }
        }
    }

    /// Starts a story, waits until `samples` of it were sent, and talks over it; returns when
    /// the reply was interrupted.
    static func interruptStory(_ harness: Harness, after samples: Int) async -> Bool {
        harness.utterance()
        let playing = await harness.output.wait { Self.audioSamples($0, turn: 1) >= samples }
        harness.say(AudioFixtures.tone(frequency: 200, duration: .milliseconds(600)))
        let interrupted = await harness.output.wait { $0.contains(.agentInterrupted(turnID: 1)) }
        return playing && interrupted
    }

    @Test("an interrupted reply is remembered as far as the client says it played, with the marker")
    func clientReport() async throws {
        let llm = StreamingFakeLanguageModel(reply: Self.story)
        // 30 ms per character at 22 050 Hz: "Once upon a time." is 510 ms = 8160 output samples,
        // then each character of the second sentence ends 480 samples after the one before.
        let harness = Harness(
            stt: ScriptedSpeechToText(transcripts: ["Tell me a story.", "Stop."]), llm: llm,
            tts: ToneTextToSpeech(sampleRate: 22050, durationPerCharacter: .milliseconds(30)))
        try await harness.run {
            let interrupted = await Self.interruptStory(harness, after: 14000)
            #expect(interrupted)
            // "There was" ends at 8160 + 9 × 480 = 12 480; the space after it at 12 960.
            harness.sink.yield(.playbackCleared(turnID: 1, playedSamples: 12580))
            harness.say(AudioFixtures.silence(.milliseconds(400)))
            let ended = await harness.turnEnded(2)
            #expect(ended)
        }
        #expect(llm.calls.count == 2)
        #expect(
            llm.calls.last?.messages == [
                .system("Be brief."), .user("Tell me a story."), .assistant("Once upon a time. There was…"), .user("Stop."),
            ])
    }

    @Test("without a client report, the server's estimate of what played is remembered")
    func serverEstimate() async throws {
        let llm = StreamingFakeLanguageModel(reply: Self.story)
        let harness = Harness(
            stt: ScriptedSpeechToText(transcripts: ["Tell me a story.", "Stop."]), llm: llm,
            tts: ToneTextToSpeech(sampleRate: 22050, durationPerCharacter: .milliseconds(30)))
        try await harness.run {
            let interrupted = await Self.interruptStory(harness, after: 14000)
            #expect(interrupted)
            harness.say(AudioFixtures.silence(.milliseconds(400)))
            let ended = await harness.turnEnded(2)
            #expect(ended)
        }
        let generated = try #require(
            harness.output.events.compactMap {
                if case .turnEnd(let summary) = $0, summary.turnID == 1 { summary.text } else { nil }
            }.first)
        let messages = try #require(llm.calls.last?.messages)
        #expect(messages.count == 4)
        let kept = try #require(messages.dropLast().last)
        #expect(kept.role == .assistant && kept.content.hasSuffix(Conversation.interruptionMarker))
        let heard = String(kept.content.dropLast())
        // At least 14 000 samples went out before the barge-in, so at least 14 000 − 1600 (the
        // 100 ms lead) had played: past the first sentence (8160); not all that was generated.
        #expect(heard.hasPrefix("Once upon a time. There"))
        #expect(generated.hasPrefix(heard) && heard.count < generated.count)
        let next = generated.dropFirst(heard.count).first
        #expect(next == " " || next == ",")
    }

    @Test("a slow summary runs beside the replies: the next reply is not delayed, and the summary replaces the old turns")
    func slowSummary() async throws {
        let llm = SummarisingFakeLanguageModel(summary: "John lives in Paris.", summaryDelay: .seconds(2))
        let harness = Harness(
            stt: ScriptedSpeechToText(transcripts: [
                "My name is John and I live in Paris, in a small flat near the river.", "I like green tea.",
                "What is my name?", "What do I drink?",
            ]),
            llm: llm, tts: ToneTextToSpeech(durationPerCharacter: .milliseconds(1)),
            configuration: SessionConfiguration(systemPrompt: "Be brief.", historyTokenBudget: 24))
        try await harness.run {
            #expect(await harness.twoTurns())
            // Turn 1 is being folded now (19 + 7 estimated tokens > 24); turn 3 must not wait for it.
            harness.utterance()
            #expect(await harness.turnEnded(3))
            await llm.summaryReturned.wait()
            harness.utterance()
            #expect(await harness.turnEnded(4))
        }
        let replies = llm.replies.calls
        #expect(replies.count == 4)
        #expect(llm.summaryCalls.count == 1)
        let summaryStarted = try #require(llm.summaryCalls.first)
        #expect(summaryStarted < replies[2].started)
        let third = try #require(
            harness.output.events.compactMap {
                if case .turnEnd(let summary) = $0, summary.turnID == 3 { summary.timeline } else { nil }
            }.first)
        let waited = try #require(third[.llmFirstToken]) - (try #require(third[.llmRequest]))
        #expect(waited < .milliseconds(500), "the reply waited \(waited) for the LLM")
        // Meanwhile the turns being folded were still there.
        #expect(replies[2].messages.contains(.user("My name is John and I live in Paris, in a small flat near the river.")))
        // Afterwards: the summary instead of turn 1, and the history within budget.
        let fourth = replies[3].messages
        #expect(
            fourth == [
                .system("Be brief."), .system(Conversation.summaryPrefix + "John lives in Paris."),
                .user("I like green tea."), .assistant("Noted."), .user("What is my name?"), .assistant("Noted."),
                .user("What do I drink?"),
            ])
        let tokens = fourth.dropFirst(2).reduce(Conversation.estimatedTokens("John lives in Paris.")) {
            $0 + Conversation.estimatedTokens($1.content)
        }
        #expect(tokens <= 24)
    }

    @Test("a failing summary is retried after the next reply and never reaches the user")
    func failingSummary() async throws {
        let llm = SummarisingFakeLanguageModel(summary: nil, summaryDelay: .zero)
        let harness = Harness(
            stt: ScriptedSpeechToText(transcripts: ["One two three four five six.", "Seven eight nine.", "Ten.", "Eleven."]),
            llm: llm, tts: ToneTextToSpeech(durationPerCharacter: .milliseconds(1)),
            configuration: SessionConfiguration(systemPrompt: "Be brief.", historyTokenBudget: 4))
        try await harness.run {
            #expect(await harness.twoTurns())
            harness.utterance()
            #expect(await harness.turnEnded(3))
            harness.utterance()
            #expect(await harness.turnEnded(4))
        }
        #expect(!harness.output.events.contains { if case .error = $0 { true } else { false } })
        #expect(llm.replies.calls.count == 4)
        #expect(llm.summaryCalls.count >= 2)
        // Nothing was folded: every turn is still sent.
        #expect(llm.replies.calls.last?.messages.contains(.user("One two three four five six.")) == true)
    }

    @Test("the greeting is spoken first as turn 0 and remembered as the assistant's first message")
    func greeting() async throws {
        let llm = StreamingFakeLanguageModel(reply: "Hi John.")
        let harness = Harness(
            stt: ScriptedSpeechToText(transcripts: ["I am John."]), llm: llm, tts: ToneTextToSpeech(durationPerCharacter: .milliseconds(1)),
            configuration: SessionConfiguration(systemPrompt: "Be brief.", greeting: "Hello! I am Parley."))
        try await harness.run {
            #expect(await harness.turnEnded(0))
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        let events = harness.output.controlEvents
        let greetingEvents = events.prefix { if case .speechStarted = $0 { false } else { true } }.dropFirst()
        #expect(greetingEvents.count == 4, "\(events)")
        #expect(greetingEvents.first == .agentText(turnID: 0, delta: "Hello! I am Parley."))
        #expect(greetingEvents.contains(.agentAudioStart(turnID: 0, sampleRate: 16000)))
        #expect(greetingEvents.contains { if case .agentAudioEnd(0, _) = $0 { true } else { false } })
        let end = greetingEvents.compactMap { if case .turnEnd(let summary) = $0 { summary } else { nil } }.first
        #expect(end?.turnID == 0 && end?.text == "Hello! I am Parley." && end?.interrupted == false)
        #expect(llm.calls.first?.messages == [.system("Be brief."), .assistant("Hello! I am Parley."), .user("I am John.")])
    }
}
