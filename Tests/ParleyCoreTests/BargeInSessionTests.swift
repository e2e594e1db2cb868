import ParleyCore
import ParleyTesting
import Testing

/// Speech over a reply, end to end through a session with fake providers: pause, resume,
/// interrupt, and never a stale byte after `agent.interrupted`.
@Suite("Barge-in in a session")
struct BargeInSessionTests {
    typealias Harness = VoiceSessionTests.Harness

    /// A session whose first reply speaks for several seconds.
    static func longReply(transcripts: [String] = ["Tell me a story.", "Stop."]) -> (Harness, StreamingFakeLanguageModel) {
        let llm = StreamingFakeLanguageModel(
            reply: "Once upon a time there was a story. It went on and on for a long while. And then it went on some more. The end.",
            tokenDelay: .milliseconds(10))
        let harness = Harness(
            stt: ScriptedSpeechToText(transcripts: transcripts), llm: llm, tts: ToneTextToSpeech(durationPerCharacter: .milliseconds(30)))
        return (harness, llm)
    }

    /// Sends `samples` as a client does: one 20 ms frame every 20 ms.
    static func sayInRealTime(_ harness: Harness, _ samples: [Int16]) async throws {
        for frame in AudioFixtures.frames(samples) {
            harness.sink.yield(.audio(frame))
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until turn 1's audio has started.
    static func audioStarted(_ harness: Harness) async -> Bool {
        await harness.output.wait { $0.contains(.agentAudioStart(turnID: 1, sampleRate: 16000)) }
    }

    static func audioFrames(of turn: Int, in events: ArraySlice<SessionEvent>) -> Int {
        events.filter { if case .agentAudio(turn, _) = $0 { true } else { false } }.count
    }

    @Test("a cough pauses the reply, which resumes where it stopped when no words follow")
    func cough() async throws {
        let (harness, llm) = Self.longReply(transcripts: ["Tell me a story."])
        try await harness.run {
            harness.utterance()
            #expect(await Self.audioStarted(harness))
            try await Task.sleep(for: .milliseconds(300))
            // 120 ms of noise, then silence: fewer voiced frames than the 200 ms an interruption needs.
            harness.say(AudioFixtures.tone(frequency: 300, duration: .milliseconds(120)) + AudioFixtures.silence(.milliseconds(400)))
            #expect(await harness.output.wait { $0.contains(.agentPaused(turnID: 1)) })
            // Audio keeps arriving every 20 ms from the client; the resume comes 1.5 s after the noise ended.
            for _ in 0..<100 where !harness.output.events.contains(.agentResumed(turnID: 1)) {
                harness.say(AudioFixtures.silence(.milliseconds(20)))
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(await harness.output.wait { $0.contains(.agentResumed(turnID: 1)) })
            #expect(await harness.turnEnded(1))
        }
        let timed = harness.output.timedEvents
        let events = timed.map(\.event)
        let pausedIndex = events.firstIndex(of: .agentPaused(turnID: 1))
        let paused = try #require(pausedIndex)
        let resumedIndex = events.firstIndex(of: .agentResumed(turnID: 1))
        let resumed = try #require(resumedIndex)
        #expect(paused < resumed)
        #expect(Self.audioFrames(of: 1, in: events[paused..<resumed]) == 0, "audio sent while paused")
        #expect(Self.audioFrames(of: 1, in: events[resumed...]) > 0, "the reply went on after resuming")
        #expect(timed[resumed].at - timed[paused].at >= .milliseconds(1400))
        #expect(!events.contains(.agentInterrupted(turnID: 1)))
        let summary = try #require(events.compactMap { if case .turnEnd(let s) = $0, s.turnID == 1 { s } else { nil } }.first)
        #expect(!summary.interrupted)
        #expect(llm.calls.first?.cancelled == false)
    }

    @Test("real speech over the reply pauses it at once and interrupts it after 200 ms of voice")
    func realInterruption() async throws {
        let (harness, llm) = Self.longReply()
        var speechSent = ContinuousClock.now  // set below to the instant the interrupting speech starts
        try await harness.run {
            harness.utterance()
            #expect(await Self.audioStarted(harness))
            try await Task.sleep(for: .milliseconds(300))
            speechSent = .now
            try await Self.sayInRealTime(
                harness, AudioFixtures.tone(frequency: 200, duration: .milliseconds(600)) + AudioFixtures.silence(.milliseconds(400)))
            #expect(await harness.turnEnded(2))
        }
        let timed = harness.output.timedEvents
        let events = timed.map(\.event)
        let pausedIndex = events.firstIndex(of: .agentPaused(turnID: 1))
        let paused = try #require(pausedIndex)
        let interruptedIndex = events.firstIndex(of: .agentInterrupted(turnID: 1))
        let interrupted = try #require(interruptedIndex)
        #expect(paused < interrupted)
        #expect(Self.audioFrames(of: 1, in: events[paused...]) == 0)
        // Behaviour that is itself timing, with generous bounds: the pause follows the VAD's start
        // decision (80 ms of voice) and the interruption 200 ms of voice; the frames were sent at once.
        #expect(timed[paused].at - speechSent < .milliseconds(500))
        #expect(timed[interrupted].at - speechSent < .milliseconds(800))
        let summary = try #require(events.compactMap { if case .turnEnd(let s) = $0, s.turnID == 1 { s } else { nil } }.first)
        #expect(summary.interrupted)
        _ = llm
    }

    @Test("not one byte of an interrupted reply follows agent.interrupted, wherever the interruption falls")
    func noStaleAudio() async throws {
        var random = SplitMix64(seed: 7)
        let delays = (0..<12).map { _ in Duration.milliseconds(Int(random.next() % 1200)) }
        // Sessions are independent: run them side by side.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for delay in delays {
                group.addTask {
                    let (harness, _) = Self.longReply()
                    try await harness.run {
                        harness.utterance()
                        #expect(await Self.audioStarted(harness))
                        try await Task.sleep(for: delay)
                        harness.utterance()
                        #expect(await harness.turnEnded(2), "delay \(delay)")
                    }
                    let events = harness.output.events
                    let interruptedIndex = events.firstIndex(of: .agentInterrupted(turnID: 1))
                    let interrupted = try #require(interruptedIndex, "delay \(delay)")
                    #expect(Self.audioFrames(of: 1, in: events[interrupted...]) == 0, "stale audio, delay \(delay)")
                    #expect(!events.contains { if case .agentAudioEnd(1, _) = $0 { true } else { false } })
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("while the agent plays, voice no louder than its echo does not interrupt; words from the recogniser do")
    func echo() async throws {
        struct WordsOnSpeech: SpeechToText {
            var name: String { "words-on-speech" }
            func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
                var utterances = 0
                for await item in input {
                    switch item {
                    case .speechStarted where utterances == 2:
                        try await onEvent(.partial("wait"))
                    case .speechEnded:
                        utterances += 1
                        if utterances == 1 { try await onEvent(.final("Tell me a story.", endsTurn: true)) }
                    default:
                        continue
                    }
                }
            }
        }
        let llm = StreamingFakeLanguageModel(
            reply: "Once upon a time there was a story. It went on and on for a long while. The end.", tokenDelay: .milliseconds(10))
        let harness = Harness(stt: WordsOnSpeech(), llm: llm, tts: ToneTextToSpeech(durationPerCharacter: .milliseconds(30)))
        // About −47 dBFS: above the VAD's −50 dBFS threshold, below the 6 dB echo margin over it.
        let echoLike = AudioFixtures.tone(frequency: 300, duration: .milliseconds(600), amplitude: 0.0063)
        try await harness.run {
            harness.utterance()
            #expect(await Self.audioStarted(harness))
            try await Task.sleep(for: .milliseconds(200))
            harness.say(echoLike + AudioFixtures.silence(.milliseconds(400)))
            #expect(await harness.output.wait { $0.contains(.agentPaused(turnID: 1)) })
            try await Task.sleep(for: .milliseconds(300))
            #expect(!harness.output.events.contains(.agentInterrupted(turnID: 1)), "600 ms of echo-level voice interrupted")
            // The same quiet voice, but now the recogniser hears a word in it.
            harness.say(echoLike + AudioFixtures.silence(.milliseconds(400)))
            #expect(await harness.output.wait { $0.contains(.agentInterrupted(turnID: 1)) })
        }
        _ = llm
    }
}
