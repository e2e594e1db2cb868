import AsyncHTTPClient
import Foundation
import Hummingbird
public import Logging
import ParleyCore
import ParleyProviders
import ServiceLifecycle

/// `parley serve`: chooses providers, starts the local engines they need, and serves until
/// SIGINT/SIGTERM, then stops everything it started.
public struct ParleyServer: Sendable {
    /// Which implementation serves each stage, and where.
    public struct Options: Sendable {
        /// `local` (the embedded engine).
        public var speechToText = "local"
        /// `local` (the embedded engine).
        public var languageModel = "local"
        /// `local` (espeak-ng).
        public var textToSpeech = "local"
        /// An already running OpenAI-compatible chat server to use instead of starting llama.cpp.
        public var languageModelURL: String?
        /// An already running OpenAI-compatible transcription server to use instead of starting faster-whisper.
        public var speechToTextURL: String?
        /// The model id sent to the chat server.
        public var languageModelName = "smollm2-135m-instruct"
        /// The longest reply, in LLM tokens (a spoken reply of 100 tokens lasts about 30 s).
        public var maximumReplyTokens = 100
        /// Where `make setup` recorded the engines.
        public var engineLayoutPath = LocalEngineLayout.defaultPath
        /// Directory for the engines' logs.
        public var logDirectory = FileManager.default.temporaryDirectory.path + "/parley-\(ProcessInfo.processInfo.processIdentifier)"

        /// Default options: everything local.
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
        for (flag, value) in [("--stt", options.speechToText), ("--llm", options.languageModel), ("--tts", options.textToSpeech)]
        where value != "local" {
            throw ConfigurationError("\(flag) \(value): unknown provider; this build supports only `local`")
        }
        let httpClient = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(timeout: .init(connect: .seconds(5), read: .seconds(30))))
        do {
            try await serve(httpClient: httpClient)
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }

    private func serve(httpClient: HTTPClient) async throws {
        try FileManager.default.createDirectory(atPath: options.logDirectory, withIntermediateDirectories: true)
        let needsLayout = options.speechToTextURL == nil || options.languageModelURL == nil
        let layout: LocalEngineLayout? = needsLayout ? try LocalEngineLayout.load(from: options.engineLayoutPath) : nil
        var engines: [LocalEngine] = []
        var stages: [HealthMonitor.Stage] = []

        let sttEndpoint: OpenAICompatibleEndpoint
        if let url = options.speechToTextURL {
            sttEndpoint = OpenAICompatibleEndpoint(name: "openai-stt", baseURL: url, httpClient: httpClient)
            stages.append(.init(stage: "stt", provider: sttEndpoint.name))
        } else {
            let engine = try LocalEngines.whisper(layout: layout!, httpClient: httpClient, logDirectory: options.logDirectory)
            engines.append(engine)
            sttEndpoint = OpenAICompatibleEndpoint(name: engine.name, baseURL: engine.baseURL, httpClient: httpClient)
            stages.append(.init(stage: "stt", provider: engine.name, status: engine.status))
        }

        let llmEndpoint: OpenAICompatibleEndpoint
        if let url = options.languageModelURL {
            llmEndpoint = OpenAICompatibleEndpoint(name: "openai-llm", baseURL: url, httpClient: httpClient, responseTimeout: .seconds(60))
            stages.append(.init(stage: "llm", provider: llmEndpoint.name))
        } else {
            let engine = try LocalEngines.llama(
                layout: layout!, httpClient: httpClient, logDirectory: options.logDirectory, model: options.languageModelName)
            engines.append(engine)
            llmEndpoint = OpenAICompatibleEndpoint(name: engine.name, baseURL: engine.baseURL, httpClient: httpClient, responseTimeout: .seconds(60))
            stages.append(.init(stage: "llm", provider: engine.name, status: engine.status))
        }

        let textToSpeech = EspeakTextToSpeech()
        // Load espeak-ng's voice data now rather than on the first reply.
        _ = try await EspeakEngine.shared.synthesize("ready", voice: textToSpeech.voice)
        stages.append(.init(stage: "tts", provider: textToSpeech.name))

        let providers = SessionProviders(
            speechToText: OpenAICompatibleSpeechToText(
                endpoint: sttEndpoint, model: "whisper-tiny.en", sampleRate: configuration.session.inputSampleRate),
            languageModel: OpenAICompatibleLanguageModel(
                endpoint: llmEndpoint, model: options.languageModelName, maxTokens: options.maximumReplyTokens),
            textToSpeech: textToSpeech)
        let logger = self.logger
        let host = configuration.host
        let onListening = self.onListening
        let app = buildApplication(
            configuration: configuration, providers: providers, health: HealthMonitor(stages: stages), logger: logger
        ) { port in
            logger.notice("Parley listening on http://\(host):\(port)/ (voice WebSocket at ws://\(host):\(port)/ws)")
            await onListening(port)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: EngineService(engines: engines, logger: logger)), .init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
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
