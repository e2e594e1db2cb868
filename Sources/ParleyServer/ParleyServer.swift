import AsyncHTTPClient
import Foundation
import Hummingbird
public import Logging
import ParleyCore
public import ParleyProviders
import ServiceLifecycle

/// `parley serve`: chooses providers, starts the local engines they need, and serves until
/// SIGINT/SIGTERM, then stops everything it started.
public struct ParleyServer: Sendable {
    /// Which implementation serves each stage, and where.
    public struct Options: Sendable {
        /// `local`, `deepgram`, `groq-whisper`, or nil/`auto`: Deepgram when `DEEPGRAM_API_KEY` is set.
        public var speechToText: String?
        /// `local`, `groq`, or nil/`auto`: Groq when `GROQ_API_KEY` is set.
        public var languageModel: String?
        /// `local` (hibari-tts, espeak-ng behind it), `espeak`, `openai`, `elevenlabs`,
        /// `elevenlabs-http`, or nil/`auto`: ElevenLabs when `ELEVENLABS_API_KEY` is set.
        public var textToSpeech: String?
        /// Keys, base URLs and models of the cloud providers (see ``CloudSettings``).
        public var environment: [String: String] = ProcessInfo.processInfo.environment
        /// An already running OpenAI-compatible chat server to use instead of starting llama.cpp.
        public var languageModelURL: String?
        /// An already running OpenAI-compatible transcription server to use instead of starting faster-whisper.
        public var speechToTextURL: String?
        /// Which local LLM llama.cpp serves (`--local-llm`).
        public var localLanguageModel = LocalLanguageModel.large
        /// The model id sent to the local chat server (`LLM_MODEL` overrides it).
        public var languageModelName: String { localLanguageModel.modelID }
        /// The longest reply, in LLM tokens; nil means 80 for the local model (about 60 words: the
        /// session's word limit ends a reply at a sentence end well before) and 400 for Groq, whose
        /// reasoning tokens count too.
        public var maximumReplyTokens: Int?
        /// The most words in a reply (`--max-reply-words`); nil means 40 when the first LLM is the
        /// local one (small models ramble) and no limit otherwise; 0 means no limit.
        public var maximumReplyWords: Int?
        /// Words the first clause of a reply needs to go to text-to-speech on its own
        /// (`--first-chunk-words`); 0: the first piece is a whole sentence.
        public var firstChunkWords = SentenceChunker.defaultFirstClauseWords
        /// How long a provider in a chain may keep a session waiting before the next takes over.
        public var timeouts = Timeouts()
        /// The agent (`--agent FILE`): its tools are offered to the LLM; its prompt, greeting and
        /// voice are applied to the session configuration by the caller.
        public var agent: AgentFile?
        /// Whether tool events and logs carry arguments and results (`--log-tool-payloads`).
        public var logToolPayloads = false
        /// Where `make setup` recorded the engines.
        public var engineLayoutPath = LocalEngineLayout.defaultPath
        /// Which voice activity detector judges the caller's audio (`--vad`).
        public var voiceActivity = VoiceActivityChoice.auto
        /// Silero's speech probability that starts speech (`--vad-threshold`); inside speech a
        /// frame stays voiced down to 0.15 below it.
        public var vadThreshold: Float = 0.5
        /// Which end of turn the sessions use (`--turn-model`).
        public var turnModel = TurnModelChoice.auto
        /// The end-of-turn model's probability that ends a turn (`--turn-threshold`).
        public var turnThreshold: Float = 0.5
        /// The silence after which the model judges the turn (`--turn-pause`).
        public var turnPause = Duration.milliseconds(200)
        /// The silence that ends a turn whatever the model said (`--turn-max-silence`).
        public var turnMaximumSilence = Duration.milliseconds(1200)
        /// Directory for the engines' logs.
        public var logDirectory = FileManager.default.temporaryDirectory.path + "/parley-\(ProcessInfo.processInfo.processIdentifier)"

        /// Default options: everything local.
        public init() {}
    }

    /// The voice activity detector (`--vad`).
    public enum VoiceActivityChoice: String, Sendable, CaseIterable {
        /// Silero VAD when `make setup` installed it and ONNX Runtime loads, else energy.
        case auto
        /// Silero VAD, or the server does not start.
        case silero
        /// The energy detector alone (no model).
        case energy
    }

    /// The end of turn (`--turn-model`).
    public enum TurnModelChoice: String, Sendable, CaseIterable {
        /// smart-turn when `make setup` installed it and ONNX Runtime loads, else `off`.
        case auto
        /// The smart-turn v3 model judges each pause, or the server does not start.
        case smartTurn = "smart-turn"
        /// A fixed silence ends the turn (`--vad-silence`).
        case off
    }

    /// The deadlines of provider chains (`--llm-timeout`, `--tts-timeout`).
    public struct Timeouts: Sendable {
        /// The LLM's first reply text, and any gap in it.
        public var languageModelFirstText: Duration = .seconds(5)
        /// Text-to-speech's first audio after text, and any gap in it.
        public var textToSpeechFirstAudio: Duration = .seconds(3)
        /// Connecting to a cloud provider (TCP, TLS and the WebSocket upgrade or HTTP head).
        public var connect: Duration = .seconds(3)
        /// Creates the defaults.
        public init() {}
    }

    /// A configuration mistake; the message says what to change.
    public struct ConfigurationError: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Server settings.
    public var configuration: ServerConfiguration
    /// Provider choices.
    public var options: Options
    /// The logger.
    public var logger: Logger
    /// Called with the bound port once the server listens (useful with port 0).
    public var onListening: @Sendable (Int) async -> Void

    /// Creates a server.
    public init(
        configuration: ServerConfiguration, options: Options, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.options = options
        self.logger = logger
        self.onListening = onListening
    }

    /// Runs until a shutdown signal; throws configuration errors before serving.
    public func run() async throws {
        let plan = try ProviderPlan.resolve(
            speechToText: options.speechToText, languageModel: options.languageModel, textToSpeech: options.textToSpeech,
            environment: options.environment)
        var http = HTTPClient.Configuration(
            timeout: .init(connect: .milliseconds(Int64(options.timeouts.connect.milliseconds)), read: .seconds(30)))
        // Every session may stream a reply (and fold a summary) from the same LLM host at once;
        // the default of 8 connections per host queued the ninth session's request behind the
        // others' whole replies (`parley bench capacity` at 200 sessions: p99 overhead 185 ms).
        http.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, 2 * configuration.maximumSessions))
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
        do {
            try await serve(plan: plan, httpClient: httpClient)
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }

    private func serve(plan: ProviderPlan, httpClient: HTTPClient) async throws {
        try FileManager.default.createDirectory(atPath: options.logDirectory, withIntermediateDirectories: true)
        var configuration = self.configuration
        configuration.session.endOfTurn = try endOfTurn(plan: plan)
        let setup = try await makeProviders(plan: plan, httpClient: httpClient, turnSilence: configuration.session.endOfTurn?.maximumSilence)
        switch options.maximumReplyWords {
        case nil: configuration.session.maximumReplyWords = plan.languageModel == .local ? 40 : nil
        case 0?: configuration.session.maximumReplyWords = nil
        case let words?: configuration.session.maximumReplyWords = words
        }
        configuration.session.firstChunkWords = options.firstChunkWords == 0 ? nil : options.firstChunkWords
        configuration.session.speechClassifier = try speechClassifier()
        configuration.session.logToolPayloads = options.logToolPayloads
        if configuration.session.voice == nil, let voice = options.agent?.voice {
            configuration.session.voice = voice.forProvider(plan.textToSpeech.rawValue)
        }
        let providers = setup.providers
        let stages =
            setup.stages + [
                HealthMonitor.Stage(stage: "vad", provider: configuration.session.speechClassifier?.name ?? "energy"),
                HealthMonitor.Stage(stage: "turn", provider: configuration.session.endOfTurn?.model.name ?? "silence"),
            ]
        let engines = setup.engines
        logger.info(
            "providers chosen",
            metadata: Dictionary(uniqueKeysWithValues: stages.map { ("parley.\($0.stage)", "\($0.provider) \($0.address ?? "")") }))
        let logger = self.logger
        let host = configuration.host
        let onListening = self.onListening
        let lifecycle = ServerLifecycle(maximumSessions: configuration.maximumSessions)
        let app = buildApplication(
            configuration: configuration, providers: providers, telephonyProviders: setup.telephonyProviders,
            health: HealthMonitor(stages: stages), lifecycle: lifecycle, logger: logger
        ) { port in
            logger.notice(
                "Parley listening on http://\(host):\(port)/ (voice WebSocket at ws://\(host):\(port)/ws, Twilio webhook at POST /twilio/voice)")
            await onListening(port)
        }
        // Graceful shutdown runs in reverse order: the drain first (the listener still answers,
        // with 503), then the HTTP server, then the engines the sessions used.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: EngineService(engines: engines, logger: logger)),
                    .init(service: ToolServerService(servers: setup.toolServers, logger: logger)),
                    .init(service: HTTPServerService(app: app, logger: logger)),
                    .init(service: DrainService(lifecycle: lifecycle, timeout: configuration.drainTimeout, logger: logger)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        logger.notice("Parley stopped")
    }
}

extension ParleyServer {
    /// The speech model for the sessions' VAD that `--vad` asks for: Silero from the engine
    /// layout, or nil for the energy detector. `auto` falls back to energy (with a notice) when
    /// the model or ONNX Runtime is absent, as in a slim image; `silero` then fails to start.
    func speechClassifier() throws -> SpeechClassifierFactory? {
        guard options.voiceActivity != .energy else { return nil }
        do {
            let layout = try LocalEngineLayout.load(from: options.engineLayoutPath)
            guard let library = layout.onnxRuntimeLibrary, let model = layout.sileroVADModel else {
                throw ConfigurationError("\(options.engineLayoutPath) names no Silero model; run `make setup` again")
            }
            let runtime = try OnnxRuntime(libraryPath: library)
            let factory = try SileroSpeechClassifier.factory(
                runtime: runtime, modelPath: model, threshold: options.vadThreshold, silenceThreshold: max(0.01, options.vadThreshold - 0.15))
            logger.info("voice activity: Silero VAD", metadata: ["parley.onnxruntime": "\(runtime.version)", "parley.model": "\(model)"])
            return factory
        } catch {
            guard options.voiceActivity == .auto else {
                throw ConfigurationError("--vad silero: \(error)")
            }
            logger.notice("voice activity: energy detector (Silero VAD unavailable: \(error))")
            return nil
        }
    }
}

extension ParleyServer {
    /// The learned end of turn that `--turn-model` asks for: smart-turn from the engine layout,
    /// or nil for a fixed silence. `auto` falls back to silence (with a notice) when the model or
    /// ONNX Runtime is absent; `smart-turn` then fails to start. Deepgram Flux ends turns itself,
    /// so with Flux alone there is no model.
    func endOfTurn(plan: ProviderPlan) throws -> EndOfTurnConfiguration? {
        guard options.turnModel != .off else { return nil }
        if plan.speechToTextChain.allSatisfy({ $0 == .deepgramFlux }) {
            guard options.turnModel == .auto else { throw ConfigurationError("--turn-model smart-turn: Deepgram Flux ends turns itself") }
            logger.info("end of turn: Deepgram Flux's own (no smart-turn)")
            return nil
        }
        do {
            let layout = try LocalEngineLayout.load(from: options.engineLayoutPath)
            guard let library = layout.onnxRuntimeLibrary, let path = layout.smartTurnModel else {
                throw ConfigurationError("\(options.engineLayoutPath) names no smart-turn model; run `make setup` again")
            }
            let model = try SmartTurnModel(runtime: try OnnxRuntime(libraryPath: library), modelPath: path)
            let workers = ModelWorkers(workers: ProcessInfo.processInfo.activeProcessorCount, label: "parley.smart-turn")
            logger.info(
                "end of turn: smart-turn judges each pause",
                metadata: [
                    "parley.model": "\(path)", "parley.turn_pause_ms": "\(Int(options.turnPause.milliseconds))",
                    "parley.turn_max_silence_ms": "\(Int(options.turnMaximumSilence.milliseconds))",
                ])
            return EndOfTurnConfiguration(
                model: SmartTurnJudge(model: model, workers: workers), threshold: options.turnThreshold, pause: options.turnPause,
                maximumSilence: options.turnMaximumSilence)
        } catch {
            guard options.turnModel == .auto else { throw ConfigurationError("--turn-model smart-turn: \(error)") }
            logger.notice("end of turn: a fixed silence (smart-turn unavailable: \(error))")
            return nil
        }
    }
}

/// Drains the sessions on graceful shutdown (SIGTERM, SIGINT) while the server still listens:
/// readiness and new upgrades answer 503, open sessions finish their replies and close with
/// `going_away` (see ``ServerLifecycle/drain(timeout:logger:)``).
struct DrainService: Service {
    let lifecycle: ServerLifecycle
    let timeout: Duration
    let logger: Logger

    func run() async throws {
        // Thrown only when the group is cancelled instead: then there is nothing to drain for.
        try await gracefulShutdown()
        await lifecycle.drain(timeout: timeout, logger: logger)
    }
}

/// Runs the HTTP server; on graceful shutdown (after the drain) gives the connections still open
/// `closeLimit` (3 s) to finish, then cancels the server, which closes them.
///
/// Hummingbird's graceful shutdown waits for every connection to close, and a connection with a
/// request in progress is closed only once its response is written. After the drain the sessions
/// are gone, but a request whose body never finishes (a webhook POST cut off by its client) held
/// the process until the platform killed it (`tests/lifecycle/drain_test.py` reproduces it), and
/// the soak (`scripts/soak-test.sh --with-chains`) met a connection that held its server past the
/// bench's 10 s in about one run in twenty.
struct HTTPServerService<App: Service>: Service {
    let app: App
    let closeLimit: Duration
    let logger: Logger

    init(app: App, closeLimit: Duration = .seconds(3), logger: Logger) {
        self.app = app
        self.closeLimit = closeLimit
        self.logger = logger
    }

    private enum Ending {
        case stopped, limitPassed, cancelled
    }

    func run() async throws {
        var closedByLimit = false
        do {
            try await withThrowingTaskGroup(of: Ending.self) { group in
                defer { group.cancelAll() }
                group.addTask {
                    try await app.run()
                    return .stopped
                }
                group.addTask {
                    do {
                        try await gracefulShutdown()
                        try await Task.sleep(for: closeLimit)
                    } catch {
                        return .cancelled  // the group is being cancelled; the server's own end decides
                    }
                    return .limitPassed
                }
                while let ending = try await group.next() {
                    switch ending {
                    case .stopped: return
                    case .cancelled: continue
                    case .limitPassed:
                        logger.warning(
                            "HTTP connections still open after the drain; closing them",
                            metadata: ["parley.close_limit_ms": "\(Int(closeLimit.milliseconds))"])
                        closedByLimit = true
                        group.cancelAll()
                    }
                }
            }
        } catch is CancellationError where closedByLimit {
            // The cancellation above, as intended.
        }
        logger.info("HTTP server stopped")
    }
}

/// Keeps the local engines running until graceful shutdown, then stops them (after the HTTP
/// server, which the service group stops first).
struct EngineService: Service {
    let engines: [LocalEngine]
    let logger: Logger

    func run() async throws {
        defer { logger.debug("engine service stopped") }
        guard !engines.isEmpty else {
            // Nothing to run (every stage uses an external URL), but a service that returns
            // early stops the whole group: stay until shutdown.
            try await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            for engine in engines {
                group.addTask {
                    do {
                        try await cancelWhenGracefulShutdown {
                            try await engine.run(logger: logger)
                        }
                    } catch is CancellationError {
                    } catch {
                        // Keep serving: /health reports the failure and sessions are refused.
                        logger.critical("local engine stopped for good", metadata: ["parley.error": "\(error)"])
                        try? await gracefulShutdown()
                    }
                }
            }
        }
    }
}

/// Keeps the agent's MCP servers connected (stdio ones started as child processes) until graceful
/// shutdown, then stops them, after the HTTP server.
struct ToolServerService: Service {
    let servers: [MCPToolServer]
    let logger: Logger

    func run() async throws {
        guard !servers.isEmpty else {
            try await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            for server in servers {
                group.addTask {
                    // A server that cannot be started is logged and retried by `run`; only the
                    // shutdown ends it.
                    try? await cancelWhenGracefulShutdown { try await server.run(logger: logger) }
                }
            }
        }
    }
}
