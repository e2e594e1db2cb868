public import Logging

/// One conversation: caller audio in, transcripts, reply text and paced reply audio out.
///
/// ``run(inputs:output:)`` runs the whole session as one task group, every part a child:
/// - the transport puts client messages straight onto the coordinator's bounded queue (a
///   ``SessionInbox``);
/// - the *coordinator* reads that queue, runs the VAD, feeds the recogniser, commits turns and
///   keeps the conversation;
/// - the *recogniser* streams audio to ``SpeechToText`` and reports transcripts;
/// - the *reply* child speaks one reply at a time: LLM → sentence chunker → text-to-speech →
///   paced 20 ms frames, the LLM and the speech synthesis running concurrently;
/// - the *speculator* runs early LLM requests, the *summariser* condenses old turns, and the
///   *tool worker* (agents only) runs the tool calls a barge-in must not cancel.
/// Time comes from ``clock``: the continuous clock in a server, a manual one in tests.
/// A reply is one cancellable unit: barge-in fires its ``CancellationSignal`` and the LLM stream,
/// synthesis and queued audio all stop before `agent.interrupted` is sent, so no audio of that
/// turn follows it. Every queue between the parts is bounded.
public struct VoiceSession: Sendable {
    /// The session id, also in every log line.
    public let id: String
    /// Behaviour.
    public let configuration: SessionConfiguration
    /// The providers. While the session runs, its text-to-speech is the provider's session
    /// voice (``TextToSpeech/withSessionVoice(_:)``).
    public private(set) var providers: SessionProviders
    /// The session's logger.
    public let logger: Logger
    /// The clock the session keeps time by: pacing, barge-in, timelines, tool deadlines.
    public let clock: SessionClock
    /// Runs the tool calls a barge-in must not cancel; nil when the agent has no tools.
    let toolWorker: ToolWorker?

    /// Client messages waiting for the coordinator (about 5 s of 20 ms frames).
    static let signalCapacity = 256
    /// Audio frames waiting for the recogniser (30 s of 20 ms frames).
    static let speechCapacity = 1500
    /// Sentences waiting for text-to-speech.
    static let sentenceCapacity = 64
    /// Reply audio a synthesiser may get ahead of the pacer before it waits (``ReplyAudioQueue``):
    /// 64 KB at 16 kHz, 96 KB at 24 kHz.
    static let audioAhead = Duration.seconds(2)
    /// The coordinator yields after every so many signals it handles. A server session runs on
    /// its connection's event loop, which also reads and writes every other socket on it: after a
    /// backlog (the inbox holds up to 5 s of frames) the coordinator gives the loop back between
    /// batches instead of working the whole backlog off in one go.
    static let signalsPerTurnOfTheLoop = 32
    /// How long after its last audio was sent a goodbye may take to play out at the client,
    /// beyond the audio the client may hold (the output lead and batch), before the session ends
    /// anyway.
    static let goodbyeGrace = Duration.seconds(2)

    /// Creates a session that keeps time by `clock`: the continuous clock in a server, a manual
    /// clock in tests.
    public init(
        id: String, configuration: SessionConfiguration, providers: SessionProviders, logger: Logger,
        clock: some Clock<Duration> = ContinuousClock()
    ) {
        self.clock = .erasing(clock)
        self.id = id
        self.configuration = configuration
        self.providers = providers
        var logger = logger
        logger[metadataKey: "parley.session.id"] = "\(id)"
        self.logger = logger
        self.toolWorker = providers.tools == nil ? nil : ToolWorker(clock: self.clock)
    }

    /// What `session.ready` announces.
    public var description: SessionDescription {
        SessionDescription(
            sessionID: id, inputSampleRate: configuration.inputSampleRate,
            outputSampleRate: configuration.outputSampleRate, providers: providers.names)
    }

    /// Runs the session until `inputs` finishes (the client left), `windDown` has fired and no
    /// reply is in flight, or the task is cancelled.
    ///
    /// Once `windDown` fires (the server drains) no new turn starts: the reply in flight is heard
    /// out, then `run` returns. Throws ``SessionError`` for failures that end the session (input
    /// overflow, a recogniser that cannot go on); per-turn failures are reported to the client as
    /// non-fatal errors.
    public func run(inputs: AsyncStream<ClientMessage>, output: some SessionOutput, windDown: CancellationSignal? = nil) async throws {
        let inbox = SessionInbox()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                for await message in inputs {
                    guard inbox.send(message) else { return }
                }
                inbox.finish()
            }
            try await run(inbox: inbox, output: output, windDown: windDown)
        }
    }

    /// Runs the session on the messages a transport puts in `inbox`, until the inbox finishes (the
    /// client left), `windDown` has fired and no reply is in flight, or the task is cancelled; as
    /// ``run(inputs:output:windDown:)`` otherwise. A socket reader sending to the inbox saves a
    /// hand-off per frame.
    public func run(inbox: SessionInbox, output: some SessionOutput, windDown: CancellationSignal? = nil) async throws {
        try await ProviderContext.$sessionID.withValue(id) {
            try await ProviderContext.$voice.withValue(configuration.voice) {
                try await ProviderContext.$observer.withValue(configuration.observer) {
                    try await providers.textToSpeech.withSessionVoice { voice in
                        var session = self
                        session.providers.textToSpeech = voice
                        try await session.runSession(inbox: inbox, output: output, windDown: windDown)
                    }
                }
            }
        }
    }

    private func runSession(inbox: SessionInbox, output: some SessionOutput, windDown: CancellationSignal?) async throws {
        let signals = inbox.signals
        let (speech, speechSink) = AsyncStream.makeStream(
            of: SpeechInput.self, bufferingPolicy: .bufferingOldest(Self.speechCapacity))
        let (requests, requestSink) = AsyncStream.makeStream(of: ReplyRequest.self, bufferingPolicy: .bufferingOldest(8))
        // Early LLM requests (--early-llm); a newer one replaces one not yet started.
        let (speculations, speculationSink) = AsyncStream.makeStream(of: EarlyReply.self, bufferingPolicy: .bufferingNewest(1))
        // Pauses for the end-of-turn model; a newer pause replaces one not yet judged (its verdict
        // would be stale).
        let (checks, checkSink) = AsyncStream.makeStream(of: TurnCheck.self, bufferingPolicy: .bufferingNewest(1))
        // Memory: each stored reply pokes the summariser; only the latest poke matters.
        let (stored, storedSink) = AsyncStream.makeStream(of: ConversationStore.self, bufferingPolicy: .bufferingNewest(1))
        let repliesEnded = CancellationSignal()
        // Fired when the coordinator stops: the parts that wait on the client or the server stop too.
        let coordinatorEnded = CancellationSignal()
        defer {
            speechSink.finish()
            requestSink.finish()
            storedSink.finish()
            checkSink.finish()
            repliesEnded.fire()
        }
        try await output.send(.ready(description))
        logger.info("session started", metadata: ["parley.providers": "\(providers.names)"])

        try await withThrowingTaskGroup(of: Void.self) { group in
            // A part that fails takes the others with it; a normal end (the client left) lets the
            // recogniser say goodbye to its provider (Deepgram's CloseStream) before the group ends.
            defer { group.cancelAll() }
            if let windDown {
                group.addTask {
                    _ = try await coordinatorEnded.run {
                        await windDown.wait()
                        try Self.enqueue(.windDown, on: signals, "the server's drain", logger: logger)
                    }
                }
            }
            group.addTask {
                do {
                    try await providers.speechToText.transcribe(speech) { event in
                        try Self.enqueue(.transcript(event), on: signals, "a transcript", logger: logger)
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
                    // Newest-only by design: the summariser needs the latest conversation, not each one.
                    storedSink.yield(request.conversation)
                    try Self.enqueue(.replyFinished(turnID: request.turnID), on: signals, "the end of a reply", logger: logger)
                    if request.callEnding.isFired, !outcome.interrupted {
                        // The goodbye was said: end once the client has played it (or after the
                        // audio still buffered there could have played).
                        try Self.enqueue(
                            .callEnding(turnID: request.turnID, samples: request.recorder.audioSamples ?? 0), on: signals,
                            "the end of the call", logger: logger)
                        // The last burst went out up to lead + batch ahead of its playback.
                        let grace = configuration.outputLead + configuration.outputBatch + Self.goodbyeGrace
                        if (try? await coordinatorEnded.run { try await clock.sleep(for: grace) }) == true {
                            try Self.enqueue(.callEnded, on: signals, "the end of the call", logger: logger)
                        }
                        break
                    }
                }
                // A summary still being written is of no use once the session is over.
                repliesEnded.fire()
            }
            group.addTask {
                _ = try? await repliesEnded.run { await summarise(stored) }
            }
            group.addTask {
                for await early in speculations {
                    await early.produce(with: providers.languageModel, tools: await providers.tools?.current())
                }
            }
            if let endOfTurn = configuration.endOfTurn {
                group.addTask {
                    for await check in checks {
                        let verdict: Result<Float, TurnCheckFailure>
                        do {
                            verdict = .success(try await endOfTurn.model.probability(of: check.audio, sampleRate: configuration.inputSampleRate))
                        } catch is CancellationError {
                            return
                        } catch {
                            verdict = .failure(TurnCheckFailure(description: "\(error)"))
                        }
                        try Self.enqueue(.turnVerdict(id: check.id, verdict), on: signals, "an end-of-turn verdict", logger: logger)
                    }
                }
            }
            if let toolWorker {
                // The session's end (the coordinator's) cancels the uninterruptible calls still running.
                group.addTask { _ = try? await coordinatorEnded.run { await toolWorker.serve() } }
            }
            group.addTask {
                defer {
                    speculationSink.finish()
                    checkSink.finish()
                    coordinatorEnded.fire()
                }
                var coordinator = Coordinator(
                    session: self, speech: speechSink, requests: requestSink, speculations: speculationSink, checks: checkSink)
                defer { coordinator.stop() }
                try coordinator.greet()
                var ended = false
                var handled = 0
                while let signal = await signals.next() {
                    guard try await coordinator.handle(signal, output: output) else {
                        ended = true
                        break
                    }
                    handled += 1
                    if handled % Self.signalsPerTurnOfTheLoop == 0 { await Task.yield() }
                }
                if !ended, inbox.overflowed {
                    throw SessionError(.inputOverflow, "The server fell more than 5 s behind the audio sent; closing.", fatal: true)
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
        /// The agent ended the call (`end_call`) and turn `turnID`'s `samples` of goodbye were sent.
        case callEnding(turnID: Int, samples: Int)
        /// The goodbye has had time to play out: the session ends.
        case callEnded
        /// The server drains: finish the reply in flight, start no new turn, then end.
        case windDown
        /// The end-of-turn model's answer to check `id`: a probability, or why it could not judge.
        case turnVerdict(id: Int, Result<Float, TurnCheckFailure>)
    }

    /// Why the end-of-turn model gave no probability.
    struct TurnCheckFailure: Error, Sendable {
        let description: String
    }

    /// A pause for the end-of-turn model to judge: the turn's audio so far.
    struct TurnCheck: Sendable {
        let id: Int
        let audio: [Int16]
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
        /// Fired when the reply called `end_call`: the session ends once it has been heard.
        let callEnding = CancellationSignal()
    }
}
