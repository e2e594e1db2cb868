import ParleyCore
import ParleyTesting

/// A session on a ``ManualClock`` whose providers answer at once: the test moves time, so what
/// it asserts about pacing and barge-in holds however loaded the machine is.
///
/// Time moves in 20 ms steps, as a client's frames arrive; after each step the test waits until
/// the session is idle again — the pacer asleep until its next frame, paused at its gate, or no
/// reply in flight — so every step is seen by every part before the next.
struct ClockedSession {
    typealias Harness = VoiceSessionTests.Harness

    let manual: ManualClock
    let harness: Harness
    let recogniser: FrameCountingSpeechToText
    let llm: StreamingFakeLanguageModel
    static let step = Duration.milliseconds(20)

    /// A session that hears `transcripts` (or what `stt` makes of the audio) and answers each
    /// turn with `reply`, streamed with the delays given and spoken by `tts` (tones of
    /// `durationPerCharacter` by default). Every delay is on the manual clock. `configuration`
    /// replaces the default one (system prompt "Be brief.").
    init(
        manual: ManualClock = ManualClock(), transcripts: [String] = [], stt: (any SpeechToText)? = nil, reply: String,
        firstTokenDelay: Duration = .zero,
        tokenDelay: Duration = .zero, tts: (any TextToSpeech)? = nil, ttsRate: Int = 22050, durationPerCharacter: Duration = .milliseconds(30),
        configuration: SessionConfiguration? = nil
    ) {
        self.manual = manual
        let clock = SessionClock(manual)
        recogniser = FrameCountingSpeechToText(stt ?? ScriptedSpeechToText(transcripts: transcripts, latency: .zero, clock: clock))
        llm = StreamingFakeLanguageModel(reply: reply, firstTokenDelay: firstTokenDelay, tokenDelay: tokenDelay, clock: clock)
        let speech = tts ?? ToneTextToSpeech(sampleRate: ttsRate, durationPerCharacter: durationPerCharacter, latency: .zero, clock: clock)
        harness = Harness(stt: recogniser, llm: llm, tts: speech, configuration: configuration, clock: clock)
    }

    /// The session clock's current instant.
    var now: SessionClock.Instant { harness.clock.now }

    /// Sends `samples` as a client does, one 20 ms frame per 20 ms of the clock; each frame is
    /// taken by the session before time moves on.
    func sayInRealTime(_ samples: [Int16]) async -> Bool {
        for frame in AudioFixtures.frames(samples) {
            harness.say(frame)
            guard await taken() else { return false }
            guard await advance(by: Self.step) else { return false }
        }
        return true
    }

    /// Sends `samples` at once (a burst, no time passing) and waits until the session took them.
    func sayAtOnce(_ samples: [Int16]) async -> Bool {
        harness.say(samples)
        return await taken()
    }

    /// Speaks an utterance at once (``Harness/utterance(_:)``) and waits until the session has
    /// committed it as turn `turn`, so time moves on only once the reply is under way.
    func utterance(turn: Int) async -> Bool {
        harness.utterance()
        guard await taken() else { return false }
        return await harness.output.wait { events in
            events.contains { if case .transcriptFinal(turn, _) = $0 { true } else { false } }
        }
    }

    /// Sends a client message and waits until the session has handled it (a 20 ms frame of
    /// silence sent after it has reached the recogniser).
    func send(_ message: ClientMessage) async -> Bool {
        harness.sink.yield(message)
        return await sayAtOnce(AudioFixtures.silence(.milliseconds(20)))
    }

    /// Waits until the session has taken every frame sent so far.
    func taken() async -> Bool {
        await recogniser.waitForFrames(harness.framesSent)
    }

    /// Moves the clock on by `duration` in 20 ms steps, waiting after each until the session is idle.
    @discardableResult
    func advance(by duration: Duration) async -> Bool {
        var left = duration
        while left > .zero {
            let move = min(Self.step, left)
            manual.advance(by: move)
            left -= move
            guard await settled() else { return false }
        }
        return true
    }

    /// Moves the clock on in 20 ms steps until `predicate` holds for the events sent; false if
    /// `limit` of clock time passes first.
    func advance(until predicate: @escaping @Sendable ([SessionEvent]) -> Bool, limit: Duration = .seconds(30)) async -> Bool {
        var moved = Duration.zero
        while !predicate(harness.output.events) {
            guard moved < limit, await advance(by: Self.step) else { return predicate(harness.output.events) }
            moved += Self.step
        }
        return true
    }

    /// Waits until the session is idle: a reply in flight is asleep on the clock or paused at its
    /// gate, or no reply is in flight. False after 10 s of wall time (something is stuck).
    private func settled() async -> Bool {
        await poll(timeout: .seconds(10)) { manual.sleeperCount > 0 || !Self.replying(harness.output.events) }
    }

    /// Whether a reply is under way and not paused: a turn committed has not ended and its audio
    /// is not held at the gate.
    static func replying(_ events: [SessionEvent]) -> Bool {
        var open: Set<Int> = []
        var paused: Set<Int> = []
        for event in events {
            switch event {
            case .transcriptFinal(let turnID, _): open.insert(turnID)
            case .turnEnd(let summary): open.remove(summary.turnID)
            case .agentPaused(let turnID): paused.insert(turnID)
            case .agentResumed(let turnID): paused.remove(turnID)
            default: continue
            }
        }
        return !open.subtracting(paused).isEmpty
    }
}
