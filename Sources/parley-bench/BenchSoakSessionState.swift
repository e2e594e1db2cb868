import ParleyCore

/// One soak session as its client sees it: the questions asked and what became of each, the
/// reply playing, and how the connection ended. Updated by the client's reader, read by its writer.
struct BenchSoakSessionState: Sendable {
    /// What became of a question.
    enum Outcome: Sendable, Equatable {
        /// Agent audio answered it.
        case answered
        /// Agent audio answered it, with a `provider_failed` error: the apology of a chain with no
        /// provider left.
        case apology
        /// Agent audio answered it but a provider error cut the reply short (`llm_failed`, `tts_failed`).
        case cutShort
        /// No agent audio answered it, and the caller did not leave on purpose first. The reason
        /// says what the client saw.
        case failed(String)
        /// The script left (closed or vanished) before it was answered.
        case abandoned
    }

    /// One question the caller asked.
    struct Question: Sendable {
        /// Turns the server opened for it (`transcript.final`), in order.
        var turns: [Int] = []
        /// Whether agent audio for one of its turns arrived.
        var audio = false
        /// Whether the server apologised for this question (agent audio then a provider error).
        var apology = false
        /// Whether speech-to-text lost it (`stt_failed`): the server's next turn asks to repeat.
        var reasked = false
        /// Other provider error codes the server sent while it was the latest question.
        var providerErrors: [String] = []
        var outcome: Outcome?
        /// When the caller started asking it.
        var asked: ContinuousClock.Instant
        /// From the end of the question to its first agent audio.
        var waited: Duration?
    }

    /// Whether `session.ready` arrived.
    private(set) var ready = false
    /// Why the connection ended from the server's side (nil while open).
    private(set) var ended: String?
    /// The code of a fatal error event, if one came.
    private(set) var fatal: String?
    /// Error events by code.
    private(set) var errors: [String: Int] = [:]
    /// The questions in order.
    private(set) var questions: [Question] = []
    /// Audio frames after `agent.paused` or `agent.interrupted` of their turn: a broken guarantee.
    private(set) var staleFrames = 0
    /// Turns whose `turn.end` arrived.
    private(set) var endedTurns: Set<Int> = []
    /// `agent.interrupted` events: replies the caller's speech cut short.
    private(set) var interruptions = 0
    /// The reply playing, for `playback.progress` and `playback.cleared`.
    var playback = CapacityClientState()

    // MARK: Caller side

    /// The caller starts a question.
    mutating func ask(at instant: ContinuousClock.Instant = .now) {
        questions.append(Question(asked: instant))
    }

    /// Whether the latest question is answered by audio, or settled otherwise.
    var latestHeard: Bool {
        guard let last = questions.last else { return false }
        return last.audio || last.outcome != nil
    }

    /// Whether the latest question's reply is in flight: its transcript or its audio arrived, or it is settled.
    var latestInFlight: Bool {
        guard let last = questions.last else { return false }
        return !last.turns.isEmpty || latestHeard
    }

    /// Whether the latest question's turn has ended (or the question is settled).
    var latestTurnEnded: Bool {
        guard let last = questions.last else { return true }
        return last.outcome != nil || last.turns.last.map { endedTurns.contains($0) } ?? false
    }

    /// The latest question got no audio within the client's patience.
    mutating func timedOut(after limit: Duration) {
        settleLatest(.failed("no answer within \(limit)"))
    }

    /// The connection is over: open questions are settled as answered (audio came), abandoned
    /// (the caller left on purpose) or failed (the server ended it or it dropped).
    mutating func finish(callerLeft: Bool) {
        for index in questions.indices where questions[index].outcome == nil {
            if questions[index].audio {
                questions[index].outcome = Self.answeredOutcome(questions[index])
            } else if callerLeft {
                questions[index].outcome = .abandoned
            } else {
                questions[index].outcome = .failed("session ended without an answer (\(fatal.map { "fatal \($0)" } ?? ended ?? "closed"))")
            }
        }
    }

    // MARK: Server side

    /// Applies one server message.
    mutating func receive(_ event: SessionEvent, at instant: ContinuousClock.Instant) {
        switch event {
        case .ready: ready = true
        case .transcriptFinal(let turn, _):
            if let last = questions.indices.last, questions[last].outcome == nil { questions[last].turns.append(turn) }
        case .agentAudioStart(let turn, _):
            playback.audioStarted(turn: turn)
            if question(of: turn) == nil, let last = questions.indices.last, questions[last].reasked, questions[last].outcome == nil {
                // The server's "Sorry, I didn't catch that" after `stt_failed`: an apology for this question.
                questions[last].turns.append(turn)
                questions[last].apology = true
            }
            if let index = question(of: turn), !questions[index].audio {
                questions[index].audio = true
                questions[index].waited = questions[index].asked.duration(to: instant) - BenchSoakScript.questionLength
            }
        case .agentAudioEnd(let turn, _): playback.audioEnded(turn: turn)
        case .agentPaused(let turn): playback.paused(turn: turn)
        case .agentResumed(let turn): playback.resumed(turn: turn)
        case .agentInterrupted(let turn):
            interruptions += 1
            playback.interrupted(turn: turn, at: instant)
        case .turnEnd(let summary): turnEnded(summary.turnID)
        case .error(let error): errorArrived(error)
        default: break
        }
    }

    /// Applies one binary (audio) message of `samples` samples.
    mutating func audio(samples: Int, at instant: ContinuousClock.Instant) {
        if case .stale = playback.audio(samples: samples, at: instant) { staleFrames += 1 }
    }

    /// The server closed the connection (`code` nil: dropped without a close frame).
    mutating func closed(code: Int?) {
        if ended == nil { ended = code.map { "close \($0)" } ?? "dropped without a close frame" }
    }

    private mutating func turnEnded(_ turn: Int) {
        endedTurns.insert(turn)
        guard let index = question(of: turn), questions[index].outcome == nil else { return }
        if questions[index].audio {
            questions[index].outcome = Self.answeredOutcome(questions[index])
        } else if questions[index].turns.last == turn {
            let errors = questions[index].providerErrors
            questions[index].outcome = .failed("turn ended without audio" + (errors.isEmpty ? "" : " (\(errors.joined(separator: ", ")))"))
        }
    }

    private mutating func errorArrived(_ error: SessionError) {
        errors[error.code.rawValue, default: 0] += 1
        if error.fatal { fatal = error.code.rawValue }
        guard let last = questions.indices.last else { return }
        switch error.code.rawValue {
        // Parley ends a reply whose LLM or voice chain ran out with an apology in its local voice,
        // then sends the error: audio before it is that apology.
        case "provider_failed", "llm_failed", "tts_failed": questions[last].apology = true
        // A lost utterance gets `stt_failed`, then a new turn (no transcript) asking to repeat.
        case "stt_failed": questions[last].reasked = true
        default: break
        }
    }

    private mutating func settleLatest(_ outcome: Outcome) {
        guard let last = questions.indices.last, questions[last].outcome == nil else { return }
        questions[last].outcome = outcome
    }

    /// The latest question that `turn` belongs to.
    private func question(of turn: Int) -> Int? {
        questions.indices.last { questions[$0].turns.contains(turn) }
    }

    private static func answeredOutcome(_ question: Question) -> Outcome {
        question.apology ? .apology : question.providerErrors.isEmpty ? .answered : .cutShort
    }
}
