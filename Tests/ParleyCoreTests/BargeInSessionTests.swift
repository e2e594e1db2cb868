import ParleyCore
import ParleyTesting
import Testing

/// Speech over a reply, end to end through a session with fake providers on a manual clock:
/// pause, resume, interrupt, and never a stale byte after `agent.interrupted`.
@Suite("Barge-in in a session")
struct BargeInSessionTests {
    typealias Harness = VoiceSessionTests.Harness

    static let story = "Once upon a time there was a story. It went on and on for a long while. And then it went on some more. The end."

    /// A session whose first reply speaks for several seconds.
    static func longReply(transcripts: [String] = ["Tell me a story.", "Stop."]) -> ClockedSession {
        ClockedSession(transcripts: transcripts, reply: story)
    }

    /// Waits until turn 1's audio has started: its first frames go out without the clock moving.
    static func audioStarted(_ harness: Harness) async -> Bool {
        await harness.output.wait { $0.contains(.agentAudioStart(turnID: 1, sampleRate: 16000)) }
    }

    static func audioFrames(of turn: Int, in events: ArraySlice<SessionEvent>) -> Int {
        events.filter { if case .agentAudio(turn, _) = $0 { true } else { false } }.count
    }

    static func turnEnded(_ id: Int) -> @Sendable ([SessionEvent]) -> Bool {
        { events in events.contains { if case .turnEnd(let summary) = $0 { summary.turnID == id } else { false } } }
    }

    @Test("a cough pauses the reply, which resumes where it stopped 1.5 s after the noise when no words follow")
    func cough() async throws {
        let session = Self.longReply(transcripts: ["Tell me a story."])
        let harness = session.harness
        var noise = session.now
        try await harness.run {
            #expect(await session.utterance(turn: 1))
            #expect(await Self.audioStarted(harness))
            #expect(await session.advance(by: .milliseconds(300)))
            // 120 ms of noise, then silence: fewer voiced frames than the 200 ms an interruption needs.
            noise = session.now
            #expect(
                await session.sayAtOnce(AudioFixtures.tone(frequency: 300, duration: .milliseconds(120)) + AudioFixtures.silence(.milliseconds(400))))
            // The pacer's sleep ends when the gate closes: the pause is announced without the
            // clock moving (waited for in wall time, so the clock cannot step past it).
            #expect(await harness.output.wait { $0.contains(.agentPaused(turnID: 1)) })
            // The client's audio keeps coming every 20 ms; the resume is judged on its frames.
            #expect(await session.sayInRealTime(AudioFixtures.silence(.milliseconds(1600))))
            #expect(await session.advance(until: Self.turnEnded(1)))
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
        // On the manual clock these are exact: paused the moment the VAD heard the noise (the
        // pacer's sleep ends when the gate closes), resumed on the first client frame 1.5 s after.
        #expect(timed[paused].at == noise)
        #expect(timed[resumed].at - noise >= .milliseconds(1500) && timed[resumed].at - noise <= .milliseconds(1520))
        #expect(!events.contains(.agentInterrupted(turnID: 1)))
        let summary = try #require(events.compactMap { if case .turnEnd(let s) = $0, s.turnID == 1 { s } else { nil } }.first)
        #expect(!summary.interrupted)
        #expect(session.llm.calls.first?.cancelled == false)
    }

    @Test("real speech over the reply pauses it at the VAD's start decision and interrupts it after 200 ms of voice")
    func realInterruption() async throws {
        let session = Self.longReply()
        let harness = session.harness
        var speechSent = session.now  // set below to the instant the interrupting speech starts
        try await harness.run {
            #expect(await session.utterance(turn: 1))
            #expect(await Self.audioStarted(harness))
            #expect(await session.advance(by: .milliseconds(300)))
            speechSent = session.now
            #expect(
                await session.sayInRealTime(
                    AudioFixtures.tone(frequency: 200, duration: .milliseconds(600)) + AudioFixtures.silence(.milliseconds(400))))
            #expect(await session.advance(until: Self.turnEnded(2)))
        }
        let timed = harness.output.timedEvents
        let events = timed.map(\.event)
        let pausedIndex = events.firstIndex(of: .agentPaused(turnID: 1))
        let paused = try #require(pausedIndex)
        let interruptedIndex = events.firstIndex(of: .agentInterrupted(turnID: 1))
        let interrupted = try #require(interruptedIndex)
        #expect(paused < interrupted)
        #expect(Self.audioFrames(of: 1, in: events[paused...]) == 0)
        // The VAD decides speech started after 80 ms of voice and the policy interrupts after
        // 200 ms; frames arrive one per 20 ms of the clock. The interruption's event may trail
        // its decision by a few steps on a loaded machine, never lead it.
        let pausedAfter = timed[paused].at - speechSent
        let interruptedAfter = timed[interrupted].at - speechSent
        #expect(pausedAfter >= .milliseconds(60) && pausedAfter <= .milliseconds(100), "paused \(pausedAfter) after speech")
        #expect(interruptedAfter >= .milliseconds(180) && interruptedAfter <= .milliseconds(400), "interrupted \(interruptedAfter) after speech")
        let summary = try #require(events.compactMap { if case .turnEnd(let s) = $0, s.turnID == 1 { s } else { nil } }.first)
        #expect(summary.interrupted)
    }

    @Test("not one byte of an interrupted reply follows agent.interrupted, wherever the interruption falls")
    func noStaleAudio() async throws {
        var random = SplitMix64(seed: 7)
        let delays = (0..<12).map { _ in Duration.milliseconds(Int(random.next() % 1200)) }
        // Sessions are independent, each on its own clock: run them side by side.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for delay in delays {
                group.addTask {
                    let session = Self.longReply()
                    let harness = session.harness
                    try await harness.run {
                        #expect(await session.utterance(turn: 1))
                        #expect(await Self.audioStarted(harness))
                        #expect(await session.advance(by: delay))
                        #expect(await session.utterance(turn: 2))
                        #expect(await session.advance(until: Self.turnEnded(2)), "delay \(delay)")
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
        let session = ClockedSession(stt: WordsOnSpeech(), reply: "Once upon a time there was a story. It went on and on for a long while. The end.")
        let harness = session.harness
        // About −47 dBFS: above the VAD's −50 dBFS threshold, below the 6 dB echo margin over it.
        let echoLike = AudioFixtures.tone(frequency: 300, duration: .milliseconds(600), amplitude: 0.0063)
        try await harness.run {
            #expect(await session.utterance(turn: 1))
            #expect(await Self.audioStarted(harness))
            #expect(await session.advance(by: .milliseconds(200)))
            #expect(await session.sayInRealTime(echoLike + AudioFixtures.silence(.milliseconds(400))))
            #expect(harness.output.events.contains(.agentPaused(turnID: 1)))
            #expect(!harness.output.events.contains(.agentInterrupted(turnID: 1)), "600 ms of echo-level voice interrupted")
            // The same quiet voice, but now the recogniser hears a word in it.
            #expect(await session.sayInRealTime(echoLike + AudioFixtures.silence(.milliseconds(400))))
            #expect(await harness.output.wait { $0.contains(.agentInterrupted(turnID: 1)) })
        }
    }
}
