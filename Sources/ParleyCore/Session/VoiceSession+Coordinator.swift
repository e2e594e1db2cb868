import Logging

extension VoiceSession {
    /// The coordinator's state: VAD, turn assembly, conversation and the reply in flight.
    struct Coordinator {
        let session: VoiceSession
        let speech: AsyncStream<SpeechInput>.Continuation
        let requests: AsyncStream<ReplyRequest>.Continuation
        let speculations: AsyncStream<EarlyReply>.Continuation
        var early: EarlyReply?
        var vad: EnergyVoiceActivityDetector
        let conversation: ConversationStore
        var turnCount = 0
        var pendingText: [String] = []
        var lastVoiced: SessionClock.Instant?
        var speechEnd: SessionClock.Instant?
        var vadEnd: SessionClock.Instant?
        var activeReply: ReplyRequest?
        var bargeIn: BargeInPolicy
        var playedSamples: [Int: Int] = [:]
        /// The server drains: no new turn starts, and the session ends when the reply in flight does.
        var windingDown = false
        /// The agent ended the call: the goodbye's turn and its samples; the session ends once the
        /// client has played them.
        var callEnding: (turnID: Int, samples: Int)?
        /// Whether the VAD's speech model failing has been logged.
        var modelFailureLogged = false
        /// Pauses for the end-of-turn model to judge (``EndOfTurnConfiguration``).
        let checks: AsyncStream<TurnCheck>.Continuation
        /// The caller's recent audio, for the end-of-turn model; nil without one.
        var history: AudioHistory?
        /// Where the VAD's current speech started, in samples from the start of the stream.
        var speechStartSample = 0
        /// Checks made so far (their ids).
        var checkCount = 0
        /// The check awaiting its verdict: when it was asked and the silence then.
        var pendingCheck: (id: Int, asked: SessionClock.Instant, silence: Duration)?
        /// Checks of the current speech, and the latest verdict on it.
        var utteranceChecks = 0
        var utteranceVerdict: EndOfTurnVerdict?
        /// The verdict on the speech that ended last, for the turn it commits.
        var endOfTurnVerdict: EndOfTurnVerdict?
        /// Whether the end-of-turn model failing has been logged.
        var turnModelFailureLogged = false
        /// Audio held for the recogniser, handed over in blocks of `quietBlockSamples`
        /// (``SpeechToText/quietInputDuration``) while the VAD hears no speech and of
        /// `speechBlockSamples` (``SpeechToText/speechInputDuration``) while it does; nil: every
        /// frame goes over as it comes.
        var quietBlockSamples: Int?
        var speechBlockSamples: Int?
        var heldAudio: [Int16] = []

        init(
            session: VoiceSession, speech: AsyncStream<SpeechInput>.Continuation, requests: AsyncStream<ReplyRequest>.Continuation,
            speculations: AsyncStream<EarlyReply>.Continuation, checks: AsyncStream<TurnCheck>.Continuation
        ) {
            self.session = session
            self.speech = speech
            self.requests = requests
            self.speculations = speculations
            self.checks = checks
            var vad = session.configuration.vad
            if let endOfTurn = session.configuration.endOfTurn {
                // The model judges at the short pause; silence ends speech only at the long limit.
                vad.silenceTimeout = endOfTurn.maximumSilence
                vad.turnCheckTimeout = endOfTurn.pause
                let held = EndOfTurnConfiguration.longestTurn + EndOfTurnConfiguration.leadIn
                history = AudioHistory(capacity: Int(held.seconds * Double(session.configuration.inputSampleRate)))
            }
            self.vad = EnergyVoiceActivityDetector(configuration: vad, classifier: session.configuration.speechClassifier)
            let recogniser = session.providers.speechToText
            let rate = Double(session.configuration.inputSampleRate)
            if let quiet = recogniser.quietInputDuration, quiet > vad.frameDuration { quietBlockSamples = Int(quiet.seconds * rate) }
            if let speech = recogniser.speechInputDuration, speech > vad.frameDuration { speechBlockSamples = Int(speech.seconds * rate) }
            heldAudio.reserveCapacity(max(quietBlockSamples ?? 0, speechBlockSamples ?? 0))
            self.bargeIn = BargeInPolicy(configuration: session.configuration.bargeIn)
            self.conversation = ConversationStore(
                Conversation(
                    systemPrompt: session.configuration.systemPrompt, maximumTurns: session.configuration.maximumTurns,
                    historyTokenBudget: session.configuration.historyTokenBudget))
        }

        /// Handles one signal; returns false when the session is over.
        mutating func handle(_ signal: Signal, output: some SessionOutput) async throws -> Bool {
            // Checked on every signal: audio arrives every 20 ms while a client is connected.
            apply(bargeIn.tick(at: session.clock.now))
            switch signal {
            case .input(.audio(let samples)):
                try await hear(samples, output: output)
            case .input(.playbackProgress(let turnID, let played)), .input(.playbackCleared(let turnID, let played)):
                // Bounded: only the latest turns matter once memory truncation uses this.
                playedSamples[turnID] = played
                if played > 0, let reply = activeReply, reply.turnID == turnID {
                    let heard = Duration.seconds(Double(played) / Double(session.configuration.outputSampleRate))
                    reply.recorder.mark(.playbackStart, at: session.clock.now - heard)
                }
                if case .input(.playbackCleared) = signal { conversation.playbackCleared(turnID: turnID, playedSamples: played) }
                if playedSamples.count > 8, let oldest = playedSamples.keys.min() { playedSamples[oldest] = nil }
                if let ending = callEnding, ending.turnID == turnID, played >= ending.samples {
                    return try await endCall(output: output)
                }
            case .input(.ping(let id)):
                try await output.send(.pong(id))
            case .transcript(let event):
                try await transcribed(event, output: output)
            case .replyFinished(let turnID):
                if activeReply?.turnID == turnID {
                    activeReply = nil
                    bargeIn.reset()
                }
                if windingDown && activeReply == nil { return false }
            case .inputEnded:
                return false
            case .callEnding(let turnID, let samples):
                session.logger.info("the agent ended the call", metadata: ["parley.turn.id": "\(turnID)"])
                callEnding = (turnID, samples)
                windingDown = true
                discardEarlyReply()
                if playedSamples[turnID, default: 0] >= samples { return try await endCall(output: output) }
            case .callEnded:
                return try await endCall(output: output)
            case .turnVerdict(let id, let verdict):
                try await judged(id: id, verdict, output: output)
            case .windDown:
                session.logger.info("winding down: the reply in flight is heard out", metadata: ["parley.replying": "\(activeReply != nil)"])
                windingDown = true
                discardEarlyReply()
                if activeReply == nil { return false }
            }
            return true
        }

        /// Tells the client the session ends (`session.end`); returns false, ending the coordinator.
        private func endCall(output: some SessionOutput) async throws -> Bool {
            try await output.send(.sessionEnd(reason: "end_call"))
            return false
        }

        private mutating func hear(_ samples: [Int16], output: some SessionOutput) async throws {
            let now = session.clock.now
            let result = vad.process(samples)
            try giveRecogniser(samples, flush: !result.events.isEmpty)
            if !modelFailureLogged, let failure = vad.classifierFailure {
                modelFailureLogged = true
                session.logger.warning(
                    "the speech model failed; this session's VAD goes on by energy alone", metadata: ["parley.error": "\(failure)"])
            }
            history?.append(samples)
            if result.containsVoice {
                lastVoiced = now
                pendingCheck = nil  // the speaker went on: the pause's verdict is stale
            }
            // The frame that completed the VAD's start decision is already in its `voiced` credit.
            let judgedBefore = bargeIn.isJudging
            for event in result.events {
                try await voiceActivity(event, at: now, output: output)
            }
            if judgedBefore, bargeIn.isJudging, let reply = activeReply {
                // While the agent's audio plays, only frames clearly louder than its echo count.
                let playing = reply.recorder.audioSamples != nil
                let threshold = max(vad.noiseFloor + vad.configuration.margin, vad.configuration.minimumLevel)
                let loudEnough = !playing || vad.lastLevel >= threshold + bargeIn.configuration.echoMargin
                let duration = Duration.seconds(Double(samples.count) / Double(vad.configuration.sampleRate))
                apply(bargeIn.frame(counts: result.containsVoice && loudEnough, duration: duration), at: now)
            }
        }

        /// Hands `samples` to the recogniser: in blocks of `speechBlockSamples` while the VAD
        /// hears speech and of `quietBlockSamples` otherwise (each frame as it comes where that is
        /// nil), and with what is held on `flush` (the VAD had events). Before any of the VAD's
        /// events is acted on, so the recogniser has the audio up to it first.
        private mutating func giveRecogniser(_ samples: [Int16], flush: Bool) throws {
            var block = samples
            let blockSamples = vad.isSpeaking ? speechBlockSamples : quietBlockSamples
            if !heldAudio.isEmpty || (blockSamples != nil && !flush) {
                heldAudio.append(contentsOf: samples)
                guard flush || heldAudio.count >= blockSamples ?? 0 else { return }
                block = heldAudio
                heldAudio.removeAll(keepingCapacity: true)
            }
            if case .dropped = speech.yield(.audio(block)) {
                throw SessionError(.inputOverflow, "Speech-to-text fell 30 s behind the audio; closing.", fatal: true)
            }
        }

        /// Acts on one of the VAD's events, heard at `now`.
        private mutating func voiceActivity(
            _ event: EnergyVoiceActivityDetector.Event, at now: SessionClock.Instant, output: some SessionOutput
        )
            async throws
        {
            switch event {
            case .speechStarted(let offset):
                session.logger.debug("speech started")
                speechStartSample = offset
                utteranceChecks = 0
                utteranceVerdict = nil
                try VoiceSession.enqueue(.speechStarted, on: speech, "the start of speech", logger: session.logger)
                discardEarlyReply()  // the user goes on talking
                if activeReply != nil {
                    let voiced = vad.configuration.frameDuration * vad.startFrames
                    apply(bargeIn.speechStarted(voiced: voiced), at: now)
                }
                try await output.send(.speechStarted)
            case .speechEnded(let voiced):
                session.logger.debug("speech ended", metadata: ["parley.voiced_ms": "\(Int(voiced.milliseconds))"])
                apply(bargeIn.speechEnded(at: now))
                speechEnd = lastVoiced ?? now
                vadEnd = now
                pendingCheck = nil
                endOfTurnVerdict = utteranceVerdict
                try VoiceSession.enqueue(.speechEnded, on: speech, "the end of speech", logger: session.logger)
                try await output.send(.speechStopped)
            case .paused:
                try VoiceSession.enqueue(.paused, on: speech, "a pause in speech", logger: session.logger)
            case .resumed:
                try VoiceSession.enqueue(.resumed, on: speech, "speech resuming", logger: session.logger)
                discardEarlyReply()  // the user goes on talking
            case .turnCheck:
                askWhetherTurnIsOver(at: now)
            }
        }

        /// Gives the end-of-turn model the turn so far, from a little before its speech began.
        private mutating func askWhetherTurnIsOver(at now: SessionClock.Instant) {
            guard let history, vad.isSpeaking else { return }
            checkCount += 1
            utteranceChecks += 1
            let leadIn = Int(EndOfTurnConfiguration.leadIn.seconds * Double(session.configuration.inputSampleRate))
            pendingCheck = (checkCount, now, vad.silence)
            // Newest-only by design: a check not yet started is stale once a newer pause is judged.
            checks.yield(TurnCheck(id: checkCount, audio: history.samples(from: speechStartSample - leadIn)))
        }

        /// Acts on the end-of-turn model's verdict on check `id`: a complete turn ends now; an
        /// incomplete one waits for the longer silence. A verdict on a pause the speaker has since
        /// broken, or one that came after the speech ended anyway, is stale and ignored.
        private mutating func judged(id: Int, _ verdict: Result<Float, TurnCheckFailure>, output: some SessionOutput) async throws {
            guard let check = pendingCheck, check.id == id, vad.isSpeaking, let endOfTurn = session.configuration.endOfTurn else { return }
            pendingCheck = nil
            let now = session.clock.now
            var probability: Float?
            switch verdict {
            case .success(let value):
                probability = value
            case .failure(let failure):
                // Without a verdict the turn ends on the silence so far, as with no model.
                if !turnModelFailureLogged {
                    turnModelFailureLogged = true
                    session.logger.warning(
                        "the end-of-turn model could not judge; turns end on silence until it can", metadata: ["parley.error": "\(failure)"])
                }
            }
            let complete = probability.map { $0 >= endOfTurn.threshold } ?? true
            utteranceVerdict = EndOfTurnVerdict(
                probability: probability, complete: complete, silence: check.silence, wait: now - check.asked, checks: utteranceChecks)
            session.logger.debug(
                "end of turn judged",
                metadata: [
                    "parley.probability": "\(probability.map { "\($0)" } ?? "none")", "parley.complete": "\(complete)",
                    "parley.wait_ms": "\(Int((now - check.asked).milliseconds))",
                ])
            if complete, let ended = vad.endSpeech() {
                try await voiceActivity(ended, at: now, output: output)
            }
        }

        /// Whether a transcript holds words (not just "…" or punctuation).
        static func hasWords(_ text: String) -> Bool {
            text.contains { $0.isLetter || $0.isNumber }
        }

        /// Carries out a barge-in decision on the reply in flight.
        private mutating func apply(_ action: BargeInPolicy.Action, at instant: SessionClock.Instant? = nil) {
            guard let reply = activeReply else { return }
            let metadata: Logger.Metadata = ["parley.turn.id": "\(reply.turnID)"]
            switch action {
            case .none:
                break
            case .pause:
                session.logger.debug("speech over the reply: paused", metadata: metadata)
                reply.gate.pause(at: instant)
            case .resume:
                session.logger.debug("no words followed: resumed", metadata: metadata)
                reply.gate.resume(at: instant)
            case .interrupt:
                // Barge-in: the user talks over the agent, so the reply stops as a unit.
                session.logger.debug("barge-in", metadata: metadata)
                reply.recorder.mark(.interrupted, at: instant)
                reply.interruption.fire()
            }
        }

        private mutating func transcribed(_ event: TranscriptEvent, output: some SessionOutput) async throws {
            switch event {
            case .partial(let text):
                if Self.hasWords(text) {
                    apply(bargeIn.words())
                    discardEarlyReply()  // more words are coming
                }
                try await output.send(.transcriptPartial(text))
            case .final(let text, let endsTurn):
                let trimmed = text.trimmingWhitespace()
                if !trimmed.isEmpty { pendingText.append(trimmed) }
                if Self.hasWords(trimmed) { apply(bargeIn.words()) }
                if endsTurn {
                    try await commitTurn(output: output)
                } else if Self.hasWords(trimmed) {
                    startEarlyReply()
                }
            case .tentative(let text):
                // Transcribed at a pause: ask the LLM now; it is spoken only if the turn ends so.
                // One made before voice came back is stale (the recogniser may not have seen it yet).
                if Self.hasWords(text), vad.isPaused || !vad.isSpeaking {
                    startEarlyReply(adding: text.trimmingWhitespace(), always: true)
                }
            case .likelyEndOfTurn(let text):
                // The recogniser's turn detector is the judge here, not Parley's VAD.
                if Self.hasWords(text) { startEarlyReply(adding: text.trimmingWhitespace(), always: true) }
            case .turnResumed:
                session.logger.debug("recogniser: the turn goes on")
                discardEarlyReply()  // the user goes on talking
            case .turnStarted:
                session.logger.debug("recogniser heard a turn start")
                apply(bargeIn.words())
                discardEarlyReply()
            case .speechStarted:
                session.logger.debug("recogniser heard speech start")
            case .noSpeech:
                session.logger.debug("utterance without words")
            case .failed(let error):
                session.logger.warning("speech-to-text failed", metadata: ["parley.error": "\(error)"])
                session.configuration.observer?.providerFailed(error, stage: "stt")
                try await output.send(.error(SessionError(.sttFailed, error.description)))
                // The speech was lost: ask again rather than leave the caller waiting.
                if session.providers.apologyVoice != nil, activeReply == nil, !windingDown {
                    turnCount += 1
                    try say(session.configuration.notHeard, turnID: turnCount)
                    session.configuration.observer?.apologised(stage: "stt")
                }
            }
        }

        private mutating func commitTurn(output: some SessionOutput) async throws {
            let text = pendingText.joined(separator: " ")
            pendingText.removeAll()
            guard !text.isEmpty else { return }
            guard !windingDown else {
                session.logger.debug("turn not started: the server is draining")
                return
            }
            let now = session.clock.now
            turnCount += 1
            let turnID = turnCount
            var instants: [TurnTimeline.Stage: SessionClock.Instant] = [.sttFinal: now]
            if let vadEnd { instants[.vadEnd] = vadEnd }
            let recorder = TurnRecorder(clock: session.clock, origin: speechEnd ?? now, instants: instants, endOfTurn: endOfTurnVerdict)
            speechEnd = nil
            vadEnd = nil
            endOfTurnVerdict = nil
            try await output.send(.transcriptFinal(turnID: turnID, text: text))
            if let previous = activeReply {
                // The user said more before the last reply finished: that reply is stale.
                previous.recorder.mark(.interrupted, at: now)
                previous.interruption.fire()
            }
            conversation.addUserTurn(id: turnID, text: text)
            var request = ReplyRequest(
                turnID: turnID, conversation: conversation, recorder: recorder, interruption: CancellationSignal(),
                gate: PlaybackGate(clock: session.clock))
            if let early, early.userText == text, !early.isDiscarded {
                session.logger.debug("early LLM request adopted", metadata: ["parley.turn.id": "\(turnID)"])
                request.early = early
                self.early = nil
            } else {
                discardEarlyReply()
            }
            activeReply = request
            bargeIn.reset()
            session.logger.debug("turn committed", metadata: ["parley.turn.id": "\(turnID)"])
            try VoiceSession.enqueue(request, on: requests, "turn \(turnID)'s reply request", logger: session.logger)
        }

        /// Starts an early LLM request on the final text so far (and `adding`, a tentative
        /// transcript), if enabled (`always` for tentative transcripts) and nothing is playing.
        private mutating func startEarlyReply(adding tentative: String? = nil, always: Bool = false) {
            guard session.configuration.earlyLLM || always, activeReply == nil, !windingDown else { return }
            let text = (pendingText + (tentative.map { [$0] } ?? [])).joined(separator: " ")
            guard early?.userText != text else { return }
            discardEarlyReply()
            let reply = EarlyReply(userText: text, messages: conversation.messages(upTo: .max) + [.user(text)], created: session.clock.now)
            session.logger.debug("early LLM request started")
            early = reply
            // Newest-only by design: a newer early request replaces one not yet started, which
            // was discarded above.
            if case .dropped(let older) = speculations.yield(reply) { older.discard() }
        }

        private mutating func discardEarlyReply() {
            early?.discard()
            early = nil
        }

        /// Ends the session's streams and any reply in flight.
        func stop() {
            early?.discard()
            activeReply?.interruption.fire()
            // The recogniser gets the audio held back (the caller may have been speaking below
            // the VAD's threshold) before its input ends.
            if !heldAudio.isEmpty { speech.yield(.audio(heldAudio)) }
            speech.finish()
            requests.finish()
        }
    }
}
