public import Logging

/// One conversation: caller audio in, transcripts, reply text and paced reply audio out.
///
/// ``run(inputs:output:)`` runs the whole session as one task tree:
/// - the *coordinator* (the calling task) reads client messages, runs the VAD, feeds the
///   recogniser, commits turns and keeps the conversation;
/// - the *recogniser* child streams audio to ``SpeechToText`` and reports transcripts;
/// - the *reply* child speaks one reply at a time: LLM → sentence chunker → text-to-speech →
///   paced 20 ms frames, the LLM and the speech synthesis running concurrently.
/// A reply is one cancellable unit: barge-in fires its ``CancellationSignal`` and the LLM stream,
/// synthesis and queued audio all stop before `agent.interrupted` is sent, so no audio of that
/// turn follows it. Every queue between the parts is bounded.
public struct VoiceSession: Sendable {
    /// The session id, also in every log line.
    public let id: String
    /// Behaviour.
    public let configuration: SessionConfiguration
    /// The providers.
    public let providers: SessionProviders
    /// The session's logger.
    public let logger: Logger

    /// Client messages waiting for the coordinator (about 5 s of 20 ms frames).
    static let signalCapacity = 256
    /// Audio frames waiting for the recogniser (30 s of 20 ms frames).
    static let speechCapacity = 1500
    /// Sentences waiting for text-to-speech.
    static let sentenceCapacity = 64

    /// Creates a session.
    public init(id: String, configuration: SessionConfiguration, providers: SessionProviders, logger: Logger) {
        self.id = id
        self.configuration = configuration
        self.providers = providers
        var logger = logger
        logger[metadataKey: "parley.session.id"] = "\(id)"
        self.logger = logger
    }

    /// What `session.ready` announces.
    public var description: SessionDescription {
        SessionDescription(
            sessionID: id, inputSampleRate: configuration.inputSampleRate,
            outputSampleRate: configuration.outputSampleRate, providers: providers.names)
    }

    /// Runs the session until `inputs` finishes (the client left) or the task is cancelled.
    ///
    /// Throws ``SessionError`` for failures that end the session (input overflow, a recogniser
    /// that cannot go on); per-turn failures are reported to the client as non-fatal errors.
    public func run(inputs: AsyncStream<ClientMessage>, output: some SessionOutput) async throws {
        try await ProviderContext.$sessionID.withValue(id) {
            try await runSession(inputs: inputs, output: output)
        }
    }

    private func runSession(inputs: AsyncStream<ClientMessage>, output: some SessionOutput) async throws {
        let (signals, signalSink) = AsyncStream.makeStream(
            of: Signal.self, bufferingPolicy: .bufferingOldest(Self.signalCapacity))
        let (speech, speechSink) = AsyncStream.makeStream(
            of: SpeechInput.self, bufferingPolicy: .bufferingOldest(Self.speechCapacity))
        let (requests, requestSink) = AsyncStream.makeStream(of: ReplyRequest.self, bufferingPolicy: .bufferingOldest(8))
        // Early LLM requests (--early-llm); a newer one replaces one not yet started.
        let (speculations, speculationSink) = AsyncStream.makeStream(of: EarlyReply.self, bufferingPolicy: .bufferingNewest(1))
        // Memory: each stored reply pokes the summariser; only the latest poke matters.
        let (stored, storedSink) = AsyncStream.makeStream(of: ConversationStore.self, bufferingPolicy: .bufferingNewest(1))
        let repliesEnded = CancellationSignal()
        defer {
            speechSink.finish()
            requestSink.finish()
            storedSink.finish()
            repliesEnded.fire()
        }
        try await output.send(.ready(description))
        logger.info("session started", metadata: ["parley.providers": "\(providers.names)"])

        try await withThrowingTaskGroup(of: Void.self) { group in
            // A part that fails takes the others with it; a normal end (the client left) lets the
            // recogniser say goodbye to its provider (Deepgram's CloseStream) before the group ends.
            defer { group.cancelAll() }
            group.addTask {
                for await message in inputs {
                    if case .dropped = signalSink.yield(.input(message)) {
                        throw SessionError(
                            .inputOverflow, "The server fell more than 5 s behind the audio sent; closing.", fatal: true)
                    }
                }
                signalSink.yield(.inputEnded)
            }
            group.addTask {
                do {
                    try await providers.speechToText.transcribe(speech) { event in
                        if case .dropped = signalSink.yield(.transcript(event)) {
                            logger.warning("transcript event dropped: session queue full")
                        }
                    }
                } catch let error as ProviderError {
                    // The recogniser cannot go on (refused connection, lost stream): without it the
                    // session cannot hear, so it ends with the provider's own words.
                    configuration.observer?.providerFailed(error, stage: "stt")
                    throw SessionError(.sttFailed, error.description, fatal: true)
                }
            }
            group.addTask {
                // One reply at a time; each is recorded in the conversation before the next starts.
                for await request in requests {
                    let outcome = await reply(request, output: output)
                    remember(request, text: outcome.text, interrupted: outcome.interrupted)
                    storedSink.yield(request.conversation)
                    signalSink.yield(.replyFinished(turnID: request.turnID))
                }
                // A summary still being written is of no use once the session is over.
                repliesEnded.fire()
            }
            group.addTask {
                _ = try? await repliesEnded.run { await summarise(stored) }
            }
            group.addTask {
                for await early in speculations { await early.produce(with: providers.languageModel) }
            }
            group.addTask {
                defer { speculationSink.finish() }
                var coordinator = Coordinator(session: self, speech: speechSink, requests: requestSink, speculations: speculationSink)
                defer { coordinator.stop() }
                coordinator.greet()
                for await signal in signals {
                    guard try await coordinator.handle(signal, output: output) else { break }
                }
                logger.info("session ended", metadata: ["parley.turns": "\(coordinator.turnCount)"])
            }
            // `next()` rethrows the first child's error at once (`waitForAll()` would first wait
            // for every other child); the coordinator is a child too, so no error waits behind its loop.
            while try await group.next() != nil {}
        }
    }

    /// What reaches the coordinator.
    enum Signal: Sendable {
        case input(ClientMessage)
        case transcript(TranscriptEvent)
        case replyFinished(turnID: Int)
        case inputEnded
    }

    /// A reply to speak.
    struct ReplyRequest: Sendable {
        let turnID: Int
        let conversation: ConversationStore
        let recorder: TurnRecorder
        let interruption: CancellationSignal
        /// Holds the reply's audio while speech over it is judged (``BargeInPolicy``).
        let gate: PlaybackGate
        /// An early LLM request for the same words, adopted instead of asking again.
        var early: EarlyReply? = nil
        /// Text to speak instead of asking the LLM (the greeting).
        var script: String? = nil
        /// What of the reply the listener has heard, filled as its audio goes out.
        let heard = HeardTextRecorder()
    }

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
        var lastVoiced: ContinuousClock.Instant?
        var speechEnd: ContinuousClock.Instant?
        var vadEnd: ContinuousClock.Instant?
        var activeReply: ReplyRequest?
        var bargeIn: BargeInPolicy
        var playedSamples: [Int: Int] = [:]

        init(
            session: VoiceSession, speech: AsyncStream<SpeechInput>.Continuation, requests: AsyncStream<ReplyRequest>.Continuation,
            speculations: AsyncStream<EarlyReply>.Continuation
        ) {
            self.session = session
            self.speech = speech
            self.requests = requests
            self.speculations = speculations
            self.vad = EnergyVoiceActivityDetector(configuration: session.configuration.vad)
            self.bargeIn = BargeInPolicy(configuration: session.configuration.bargeIn)
            self.conversation = ConversationStore(
                Conversation(
                    systemPrompt: session.configuration.systemPrompt, maximumTurns: session.configuration.maximumTurns,
                    historyTokenBudget: session.configuration.historyTokenBudget))
        }

        /// Handles one signal; returns false when the session is over.
        mutating func handle(_ signal: Signal, output: some SessionOutput) async throws -> Bool {
            // Checked on every signal: audio arrives every 20 ms while a client is connected.
            apply(bargeIn.tick(at: .now))
            switch signal {
            case .input(.audio(let samples)):
                try await hear(samples, output: output)
            case .input(.playbackProgress(let turnID, let played)), .input(.playbackCleared(let turnID, let played)):
                // Bounded: only the latest turns matter once memory truncation uses this.
                playedSamples[turnID] = played
                if case .input(.playbackCleared) = signal { conversation.playbackCleared(turnID: turnID, playedSamples: played) }
                if playedSamples.count > 8, let oldest = playedSamples.keys.min() { playedSamples[oldest] = nil }
            case .input(.ping(let id)):
                try await output.send(.pong(id))
            case .transcript(let event):
                try await transcribed(event, output: output)
            case .replyFinished(let turnID):
                if activeReply?.turnID == turnID {
                    activeReply = nil
                    bargeIn.reset()
                }
            case .inputEnded:
                return false
            }
            return true
        }

        private mutating func hear(_ samples: [Int16], output: some SessionOutput) async throws {
            let now = ContinuousClock.now
            if case .dropped = speech.yield(.audio(samples)) {
                throw SessionError(.inputOverflow, "Speech-to-text fell 30 s behind the audio; closing.", fatal: true)
            }
            let result = vad.process(samples)
            if result.containsVoice { lastVoiced = now }
            // The frame that completed the VAD's start decision is already in its `voiced` credit.
            let judgedBefore = bargeIn.isJudging
            for event in result.events {
                switch event {
                case .speechStarted:
                    session.logger.debug("speech started")
                    speech.yield(.speechStarted)
                    discardEarlyReply()  // the user goes on talking
                    if activeReply != nil {
                        let voiced = vad.configuration.frameDuration * vad.configuration.startFrames
                        apply(bargeIn.speechStarted(voiced: voiced), at: now)
                    }
                    try await output.send(.speechStarted)
                case .speechEnded(let voiced):
                    session.logger.debug("speech ended", metadata: ["parley.voiced_ms": "\(Int(voiced.milliseconds))"])
                    apply(bargeIn.speechEnded(at: now))
                    speechEnd = lastVoiced ?? now
                    vadEnd = now
                    speech.yield(.speechEnded)
                    try await output.send(.speechStopped)
                }
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

        /// Whether a transcript holds words (not just "…" or punctuation).
        static func hasWords(_ text: String) -> Bool {
            text.contains { $0.isLetter || $0.isNumber }
        }

        /// Carries out a barge-in decision on the reply in flight.
        private mutating func apply(_ action: BargeInPolicy.Action, at instant: ContinuousClock.Instant = .now) {
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
            case .speechStarted:
                session.logger.debug("recogniser heard speech start")
            case .noSpeech:
                session.logger.debug("utterance without words")
            case .failed(let error):
                session.logger.warning("speech-to-text failed", metadata: ["parley.error": "\(error)"])
                session.configuration.observer?.providerFailed(error, stage: "stt")
                try await output.send(.error(SessionError(.sttFailed, error.description)))
            }
        }

        private mutating func commitTurn(output: some SessionOutput) async throws {
            let text = pendingText.joined(separator: " ")
            pendingText.removeAll()
            guard !text.isEmpty else { return }
            let now = ContinuousClock.now
            turnCount += 1
            let turnID = turnCount
            var instants: [TurnTimeline.Stage: ContinuousClock.Instant] = [.sttFinal: now]
            if let vadEnd { instants[.vadEnd] = vadEnd }
            let recorder = TurnRecorder(origin: speechEnd ?? now, instants: instants)
            speechEnd = nil
            vadEnd = nil
            try await output.send(.transcriptFinal(turnID: turnID, text: text))
            if let previous = activeReply {
                // The user said more before the last reply finished: that reply is stale.
                previous.recorder.mark(.interrupted, at: now)
                previous.interruption.fire()
            }
            conversation.addUserTurn(id: turnID, text: text)
            var request = ReplyRequest(
                turnID: turnID, conversation: conversation, recorder: recorder, interruption: CancellationSignal(), gate: PlaybackGate())
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
            requests.yield(request)
        }

        /// Starts an early LLM request on the final text so far, if enabled and nothing is playing.
        private mutating func startEarlyReply() {
            guard session.configuration.earlyLLM, activeReply == nil else { return }
            let text = pendingText.joined(separator: " ")
            guard early?.userText != text else { return }
            discardEarlyReply()
            let reply = EarlyReply(userText: text, messages: conversation.messages(upTo: .max) + [.user(text)])
            session.logger.debug("early LLM request started")
            early = reply
            speculations.yield(reply)
        }

        private mutating func discardEarlyReply() {
            early?.discard()
            early = nil
        }

        /// Ends the session's streams and any reply in flight.
        func stop() {
            early?.discard()
            activeReply?.interruption.fire()
            speech.finish()
            requests.finish()
        }
    }
}
