import ParleyCore
import ParleyTesting
import Synchronization
import Testing

/// The learned end of turn in a session, on a manual clock: when the model is asked, what its
/// verdicts do to the turn, and what `turn.end` records. The model here answers from a script so
/// each verdict is known; `EmbeddedEnginesTests` runs the real smart-turn on spoken audio.
@Suite("Learned end of turn in a session")
struct EndOfTurnSessionTests {
    /// Answers each check with the next scripted probability (nil: fails), after `latency` on the
    /// session's clock; records how much audio each check carried.
    final class ScriptedTurnModel: TurnCompletionModel {
        let answers: [Float?]
        let latency: Duration
        let clock: SessionClock
        let asked = Mutex<[Int]>([])

        struct Failure: Error {}

        init(answers: [Float?], latency: Duration = .milliseconds(60), clock: SessionClock) {
            self.answers = answers
            self.latency = latency
            self.clock = clock
        }

        var name: String { "scripted-turn" }

        func probability(of audio: [Int16], sampleRate: Int) async throws -> Float {
            let index = asked.withLock { asked in
                asked.append(audio.count)
                return asked.count - 1
            }
            try await clock.sleep(for: latency)
            guard index < answers.count, let answer = answers[index] else { throw Failure() }
            return answer
        }
    }

    static let pause = Duration.milliseconds(200)
    static let longest = Duration.milliseconds(1200)

    /// A session that hears `transcripts`, its turns judged by `model`.
    static func session(transcripts: [String], answers: [Float?]) -> (ClockedSession, ScriptedTurnModel) {
        let manual = ManualClock()
        let model = ScriptedTurnModel(answers: answers, clock: SessionClock(manual))
        var configuration = SessionConfiguration(systemPrompt: "Be brief.")
        configuration.endOfTurn = EndOfTurnConfiguration(model: model, threshold: 0.5, pause: pause, maximumSilence: longest)
        return (ClockedSession(manual: manual, transcripts: transcripts, reply: "Sure.", configuration: configuration), model)
    }

    static func speech(_ duration: Duration) -> [Int16] {
        AudioFixtures.tone(frequency: 200, duration: duration)
    }

    /// Speech for `speech`, then `silence`, frame by frame, until turn 1 has ended; returns when
    /// the silence began.
    static func speak(_ speech: Duration, thenSilence silence: Duration, in session: ClockedSession) async throws -> SessionClock.Instant {
        var silenceStart = session.now
        try await session.harness.run {
            #expect(await session.sayInRealTime(Self.speech(speech)))
            silenceStart = session.now
            #expect(await session.sayInRealTime(AudioFixtures.silence(silence)))
            #expect(await session.advance(until: BargeInSessionTests.turnEnded(1)))
        }
        return silenceStart
    }

    /// When the first `speech.stopped` was sent, measured from `start`.
    static func stopped(_ output: RecordingSessionOutput, after start: SessionClock.Instant) -> Duration? {
        output.timedEvents.first { $0.event == .speechStopped }.map { start.duration(to: $0.at) }
    }

    static func summary(_ output: RecordingSessionOutput) -> TurnSummary? {
        output.events.lazy.compactMap { if case .turnEnd(let summary) = $0 { summary } else { nil } }.first
    }

    @Test("a complete verdict ends the turn at the pause plus the model's time, and turn.end records it")
    func completeEndsAtOnce() async throws {
        let (session, model) = Self.session(transcripts: ["What time is it?"], answers: [0.9])
        let harness = session.harness
        let silenceStart = try await Self.speak(.milliseconds(800), thenSilence: .milliseconds(600), in: session)
        let stopped = try #require(Self.stopped(harness.output, after: silenceStart))
        // Asked at 200 ms of silence, answered 60 ms later (a frame either side for the hand-offs).
        #expect(stopped >= .milliseconds(240) && stopped <= .milliseconds(320), "speech stopped \(stopped) into the silence")
        let verdict = try #require(Self.summary(harness.output)?.endOfTurn)
        #expect(verdict.probability == 0.9 && verdict.complete && verdict.checks == 1)
        #expect(verdict.silence == Self.pause)
        #expect(verdict.wait >= .milliseconds(60) && verdict.wait <= .milliseconds(100), "\(verdict.wait)")
        // The model heard the turn from half a second before its speech began (the harness's
        // 300 ms of silence before it are all there is) to the pause.
        let heard = try #require(model.asked.withLock { $0.first })
        #expect(heard >= 16 * (300 + 800 + 200) - 320 && heard <= 16 * (300 + 800 + 220), "\(heard) samples")
    }

    @Test("an incomplete verdict keeps listening: the turn ends only after the longer silence")
    func incompleteWaitsForLongerSilence() async throws {
        let (session, _) = Self.session(transcripts: ["My number is five five five"], answers: [0.1])
        let harness = session.harness
        let silenceStart = try await Self.speak(.milliseconds(800), thenSilence: .milliseconds(1600), in: session)
        let stopped = try #require(Self.stopped(harness.output, after: silenceStart))
        // The 60th silent frame arrives 1180 ms after the first.
        #expect(
            stopped >= Self.longest - .milliseconds(20) && stopped <= Self.longest + .milliseconds(20), "speech stopped \(stopped) into the silence")
        let verdict = try #require(Self.summary(harness.output)?.endOfTurn)
        #expect(verdict.probability == Float(0.1) && !verdict.complete && verdict.checks == 1)
    }

    @Test("speech after a pause makes the pause's verdict stale: one turn, both pauses judged")
    func pauseMidThoughtIsOneTurn() async throws {
        // The first pause is judged incomplete; the speaker goes on 700 ms into it; the second is complete.
        let (session, model) = Self.session(transcripts: ["My number is five five five, one two one two.", "unused"], answers: [0.1, 0.8])
        let harness = session.harness
        try await harness.run {
            #expect(await session.sayInRealTime(Self.speech(.milliseconds(700))))
            #expect(await session.sayInRealTime(AudioFixtures.silence(.milliseconds(700))))
            #expect(await session.sayInRealTime(Self.speech(.milliseconds(700))))
            #expect(await session.sayInRealTime(AudioFixtures.silence(.milliseconds(600))))
            #expect(await session.advance(until: BargeInSessionTests.turnEnded(1)))
            #expect(await session.advance(by: .milliseconds(1500)))
        }
        let events = harness.output.events
        #expect(events.filter { $0 == .speechStopped }.count == 1, "\(harness.output.controlEvents)")
        #expect(events.filter { if case .transcriptFinal = $0 { true } else { false } }.count == 1)
        #expect(model.asked.withLock { $0.count } == 2)
        let verdict = try #require(Self.summary(harness.output)?.endOfTurn)
        #expect(verdict.probability == Float(0.8) && verdict.complete && verdict.checks == 2)
    }

    @Test("a model that cannot judge ends the turn on the silence so far, with no probability")
    func failureEndsOnSilence() async throws {
        let (session, _) = Self.session(transcripts: ["Hello there."], answers: [nil])
        let harness = session.harness
        let silenceStart = try await Self.speak(.milliseconds(600), thenSilence: .milliseconds(600), in: session)
        let stopped = try #require(Self.stopped(harness.output, after: silenceStart))
        #expect(stopped < .milliseconds(400), "speech stopped \(stopped) into the silence")
        let verdict = try #require(Self.summary(harness.output)?.endOfTurn)
        #expect(verdict.probability == nil && verdict.complete)
    }
}
