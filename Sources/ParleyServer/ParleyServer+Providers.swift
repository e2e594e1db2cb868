import AsyncHTTPClient
import ParleyCore
import ParleyProviders

extension ParleyServer {
    /// The providers of a plan, the `/health` entries that watch them, and the local engines
    /// they need started.
    struct ProviderSetup {
        var providers: SessionProviders
        /// The same providers for phone calls: speech-to-text at 8 kHz (Deepgram gets μ-law).
        var telephonyProviders: SessionProviders
        var stages: [HealthMonitor.Stage]
        var engines: [LocalEngine]
        /// The agent's MCP servers, to run beside the engines.
        var toolServers: [MCPToolServer] = []
    }

    /// One provider of a stage and what `/health` shows of it.
    private struct Built<Provider> {
        var provider: Provider
        var stage: HealthMonitor.Stage
    }

    /// Builds each stage's providers (a chain of more than one becomes a fallback chain); reads
    /// the engine layout only when a local engine is needed. `turnSilence`, when the end-of-turn
    /// model judges turns, is the silence a streaming recogniser's own endpointing must wait for,
    /// so it does not end a turn the model judged unfinished.
    func makeProviders(plan: ProviderPlan, httpClient: HTTPClient, turnSilence: Duration? = nil) async throws -> ProviderSetup {
        let needsLocalSpeech = plan.speechToTextChain.contains(.local) && options.speechToTextURL == nil
        let needsLocalModel = plan.languageModelChain.contains(.local) && options.languageModelURL == nil
        let needsLocalVoice = plan.textToSpeechChain.contains(.local)
        let layout =
            needsLocalSpeech || needsLocalModel || needsLocalVoice ? try LocalEngineLayout.load(from: options.engineLayoutPath) : nil
        var engines: [LocalEngine] = []
        let inputRate = configuration.session.inputSampleRate

        // One recogniser per audio format: browser sessions at `inputRate`, phone calls at 8 kHz μ-law.
        typealias Recogniser = @Sendable (_ sampleRate: Int, _ telephony: Bool) -> any SpeechToText
        var recognisers: [Built<Recogniser>] = []
        for choice in plan.speechToTextChain {
            recognisers.append(
                try makeSpeechToText(choice, plan: plan, layout: layout, httpClient: httpClient, turnSilence: turnSilence, engines: &engines))
        }
        var tools: Toolbox?
        var toolServers: [MCPToolServer] = []
        if let agent = options.agent {
            // MCP stdio servers run under the engines' supervisor when it is installed, so that
            // they never outlive Parley.
            let supervisor = (layout ?? (try? LocalEngineLayout.load(from: options.engineLayoutPath))).map(MCPSupervisor.init(layout:))
            let sources = agent.toolSources(httpClient: httpClient, supervisor: supervisor)
            toolServers = sources.servers
            tools = Toolbox(sources: [sources.static] + sources.servers)
        }
        var models: [Built<any LanguageModel>] = []
        for choice in plan.languageModelChain {
            models.append(
                try makeLanguageModel(choice, plan: plan, layout: layout, httpClient: httpClient, tools: tools, engines: &engines))
        }
        var voices: [Built<any TextToSpeech>] = []
        for choice in plan.textToSpeechChain {
            voices.append(try await makeTextToSpeech(choice, plan: plan, layout: layout, httpClient: httpClient, engines: &engines))
        }
        // The natural local voice has espeak-ng behind it, last in the chain, unless it is there already.
        if plan.textToSpeechChain.contains(.local), !plan.textToSpeechChain.contains(.espeak) {
            voices.append(try await makeTextToSpeech(.espeak, plan: plan, layout: layout, httpClient: httpClient, engines: &engines))
        }

        let timeouts = options.timeouts
        let sttChain = ProviderChain(stage: "stt", timeout: nil)
        let llmChain = ProviderChain(stage: "llm", timeout: timeouts.languageModelFirstText)
        let ttsChain = ProviderChain(stage: "tts", timeout: timeouts.textToSpeechFirstAudio)
        let factories = recognisers.map(\.provider)
        let speechToText: Recogniser = { rate, telephony in
            let built = factories.map { $0(rate, telephony) }
            return built.count == 1 ? built[0] : FallbackSpeechToText(built, chain: sttChain, sampleRate: rate)
        }
        let languageModel: any LanguageModel = models.count == 1 ? models[0].provider : FallbackLanguageModel(models.map(\.provider), chain: llmChain)
        let textToSpeech: any TextToSpeech = voices.count == 1 ? voices[0].provider : FallbackTextToSpeech(voices.map(\.provider), chain: ttsChain)
        // Apologies are spoken in process, whatever the chain: espeak-ng needs no network.
        let apologyVoice = EspeakTextToSpeech()

        let stages = [
            Self.stage(recognisers.map(\.stage), chain: sttChain), Self.stage(models.map(\.stage), chain: llmChain),
            Self.stage(voices.map(\.stage), chain: ttsChain),
        ]
        return ProviderSetup(
            providers: SessionProviders(
                speechToText: speechToText(inputRate, false), languageModel: languageModel, textToSpeech: textToSpeech,
                apologyVoice: apologyVoice, tools: tools),
            telephonyProviders: SessionProviders(
                speechToText: speechToText(ServerConfiguration.telephonySampleRate, true), languageModel: languageModel,
                textToSpeech: textToSpeech, apologyVoice: apologyVoice, tools: tools),
            stages: stages, engines: engines, toolServers: toolServers)
    }

    /// One `/health` entry for a stage's chain: the first provider's entry, named after the whole
    /// chain, with the engine of the first local provider and the chain's fallbacks.
    private static func stage(_ entries: [HealthMonitor.Stage], chain: ProviderChain) -> HealthMonitor.Stage {
        guard entries.count > 1 else { return entries[0] }
        var stage = entries[0]
        stage.provider = entries.map(\.provider).joined(separator: ",")
        stage.status = entries.lazy.compactMap(\.status).first
        stage.connection = entries.lazy.compactMap(\.connection).first
        stage.address = entries.lazy.compactMap(\.address).first
        stage.fallback = chain.health
        return stage
    }

    private func makeSpeechToText(
        _ choice: ProviderPlan.SpeechToText, plan: ProviderPlan, layout: LocalEngineLayout?, httpClient: HTTPClient,
        turnSilence: Duration?, engines: inout [LocalEngine]
    ) throws -> Built<@Sendable (Int, Bool) -> any SpeechToText> {
        let cloud = plan.cloud
        switch choice {
        case .local:
            let endpoint: OpenAICompatibleEndpoint
            let stage: HealthMonitor.Stage
            if let url = options.speechToTextURL {
                endpoint = OpenAICompatibleEndpoint(name: "openai-stt", baseURL: url, httpClient: httpClient)
                stage = .init(stage: "stt", provider: endpoint.name, address: url, connection: endpoint.health)
            } else {
                let engine = try LocalEngines.whisper(layout: layout!, httpClient: httpClient, logDirectory: options.logDirectory)
                engines.append(engine)
                endpoint = OpenAICompatibleEndpoint(name: engine.name, baseURL: engine.baseURL, httpClient: httpClient)
                stage = .init(stage: "stt", provider: engine.name, status: engine.status)
            }
            return Built(
                provider: { rate, _ in OpenAICompatibleSpeechToText(endpoint: endpoint, model: "whisper-tiny.en", sampleRate: rate) }, stage: stage)
        case .deepgram:
            let health = ConnectionHealth()
            let logger = logger
            return Built(
                provider: { rate, telephony in
                    DeepgramSpeechToText(
                        apiKey: cloud.deepgramKey ?? "", baseURL: cloud.deepgramURL, model: cloud.deepgramModel,
                        encoding: telephony ? .mulaw : .linear16, sampleRate: rate, endpointing: turnSilence ?? .milliseconds(300),
                        connectTimeout: options.timeouts.connect, health: health, logger: logger)
                },
                stage: .init(stage: "stt", provider: "deepgram", address: cloud.deepgramURL, connection: health))
        case .deepgramFlux:
            let health = ConnectionHealth()
            let logger = logger
            return Built(
                provider: { rate, telephony in
                    DeepgramFluxSpeechToText(
                        apiKey: cloud.deepgramKey ?? "", baseURL: cloud.deepgramURL, model: cloud.fluxModel,
                        encoding: telephony ? .mulaw : .linear16, sampleRate: rate, endOfTurnThreshold: cloud.fluxEndOfTurnThreshold,
                        eagerEndOfTurnThreshold: cloud.fluxEagerEndOfTurnThreshold,
                        endOfTurnTimeout: cloud.fluxEndOfTurnTimeout.map { .milliseconds($0) }, connectTimeout: options.timeouts.connect,
                        health: health, logger: logger)
                },
                stage: .init(stage: "stt", provider: "deepgram-flux", address: cloud.deepgramURL, connection: health))
        case .smallest:
            let health = ConnectionHealth()
            let logger = logger
            return Built(
                provider: { rate, telephony in
                    SmallestSpeechToText(
                        apiKey: cloud.smallestKey ?? "", baseURL: cloud.smallestURL, language: cloud.smallestLanguage,
                        encoding: telephony ? .mulaw : .linear16, sampleRate: rate,
                        endOfUtteranceTimeout: max(turnSilence ?? .zero, .milliseconds(800)), connectTimeout: options.timeouts.connect,
                        health: health, logger: logger)
                },
                stage: .init(stage: "stt", provider: "smallest", address: cloud.smallestURL, connection: health))
        case .groqWhisper:
            let endpoint = OpenAICompatibleEndpoint(
                name: "groq-whisper", baseURL: cloud.groqBaseURL, apiKey: cloud.groqKey, httpClient: httpClient,
                keyVariable: "GROQ_API_KEY")
            let model = cloud.groqSpeechModel
            return Built(
                provider: { rate, _ in OpenAICompatibleSpeechToText(endpoint: endpoint, model: model, sampleRate: rate) },
                stage: .init(stage: "stt", provider: endpoint.name, address: cloud.groqBaseURL, connection: endpoint.health))
        }
    }

    private func makeLanguageModel(
        _ choice: ProviderPlan.LanguageModel, plan: ProviderPlan, layout: LocalEngineLayout?, httpClient: HTTPClient,
        tools: Toolbox?, engines: inout [LocalEngine]
    ) throws -> Built<any LanguageModel> {
        let cloud = plan.cloud
        switch choice {
        case .local:
            let model = cloud.languageModel ?? options.languageModelName
            let endpoint: OpenAICompatibleEndpoint
            let stage: HealthMonitor.Stage
            if let url = options.languageModelURL {
                endpoint = OpenAICompatibleEndpoint(name: "openai-llm", baseURL: url, httpClient: httpClient, responseTimeout: .seconds(60))
                stage = .init(stage: "llm", provider: endpoint.name, address: url, connection: endpoint.health)
            } else {
                let engine = try LocalEngines.llama(
                    layout: layout!, size: options.localLanguageModel, httpClient: httpClient, logDirectory: options.logDirectory,
                    model: model, warmUp: [.system(configuration.session.systemPrompt), .user("Hello")],
                    warmUpTools: { await Self.warmUpTools(tools) })
                engines.append(engine)
                endpoint = OpenAICompatibleEndpoint(name: engine.name, baseURL: engine.baseURL, httpClient: httpClient, responseTimeout: .seconds(60))
                stage = .init(stage: "llm", provider: engine.name, status: engine.status)
            }
            // Greedy: the small local models answer plain questions right more often without sampling.
            // llama-cpp-python's server leaves Qwen's tool calls in the text and refuses `content:
            // null`: the client reads the calls from the text and sends "" (docs/providers.md).
            let ownEngine = options.languageModelURL == nil
            return Built(
                provider: OpenAICompatibleLanguageModel(
                    endpoint: endpoint, model: model, temperature: 0, maxTokens: options.maximumReplyTokens ?? 80,
                    emptyToolCallContent: ownEngine ? .emptyString : .null, toolCallsInText: ownEngine),
                stage: stage)
        case .groq:
            let endpoint = OpenAICompatibleEndpoint(
                name: "groq", baseURL: cloud.groqBaseURL, apiKey: cloud.groqKey, httpClient: httpClient, keyVariable: "GROQ_API_KEY")
            return Built(
                provider: OpenAICompatibleLanguageModel.groq(
                    endpoint: endpoint, model: cloud.languageModel ?? OpenAICompatibleLanguageModel.defaultGroqModel,
                    maxTokens: options.maximumReplyTokens ?? 400),
                stage: .init(stage: "llm", provider: endpoint.name, address: cloud.groqBaseURL, connection: endpoint.health))
        case .smallest:
            // Electron speaks OpenAI's chat API under /waves/v1 (not /v1); `electron` is its only model.
            let baseURL = cloud.smallestURL + OpenAICompatibleLanguageModel.electronPath
            let endpoint = OpenAICompatibleEndpoint(
                name: "smallest", baseURL: baseURL, apiKey: cloud.smallestKey, httpClient: httpClient, keyVariable: "SMALLEST_API_KEY")
            return Built(
                provider: OpenAICompatibleLanguageModel(
                    endpoint: endpoint, model: OpenAICompatibleLanguageModel.electronModel, maxTokens: options.maximumReplyTokens ?? 400),
                stage: .init(stage: "llm", provider: endpoint.name, address: baseURL, connection: endpoint.health))
        }
    }

    private func makeTextToSpeech(
        _ choice: ProviderPlan.TextToSpeech, plan: ProviderPlan, layout: LocalEngineLayout?, httpClient: HTTPClient,
        engines: inout [LocalEngine]
    ) async throws -> Built<any TextToSpeech> {
        let cloud = plan.cloud
        switch choice {
        case .local:
            let engine = try LocalEngines.speech(layout: layout!, httpClient: httpClient, logDirectory: options.logDirectory)
            engines.append(engine)
            // One try: a local engine that is down is down; espeak-ng takes over at once.
            let endpoint = OpenAICompatibleEndpoint(
                name: engine.name, baseURL: engine.baseURL, httpClient: httpClient, responseTimeout: .seconds(30), maximumRetries: 0)
            return Built(
                provider: OpenAISpeechTextToSpeech(endpoint: endpoint, model: "hibari", voice: "heart"),
                stage: .init(stage: "tts", provider: engine.name, status: engine.status))
        case .openai:
            let endpoint = OpenAICompatibleEndpoint(
                name: "openai-tts", baseURL: cloud.openAIBaseURL, apiKey: cloud.openAIKey, httpClient: httpClient,
                keyVariable: "OPENAI_API_KEY")
            return Built(
                provider: OpenAISpeechTextToSpeech(endpoint: endpoint, model: cloud.openAISpeechModel, voice: cloud.openAIVoice),
                stage: .init(stage: "tts", provider: endpoint.name, address: cloud.openAIBaseURL, connection: endpoint.health))
        case .espeak:
            let espeak = EspeakTextToSpeech()
            // Load espeak-ng's voice data now rather than on the first reply.
            _ = try await EspeakEngine.shared.synthesize("ready", voice: espeak.voice)
            return Built(provider: espeak, stage: .init(stage: "tts", provider: espeak.name))
        case .smallest:
            let health = ConnectionHealth()
            let lightning = SmallestTextToSpeech(
                apiKey: cloud.smallestKey ?? "", baseURL: cloud.smallestURL, voiceID: cloud.smallestVoice, model: cloud.smallestSpeechModel,
                language: cloud.smallestLanguage, connectTimeout: options.timeouts.connect, health: health, logger: logger)
            return Built(provider: lightning, stage: .init(stage: "tts", provider: "smallest", address: cloud.smallestURL, connection: health))
        case .elevenlabs, .elevenlabsHTTP:
            let health = ConnectionHealth()
            let elevenLabs = ElevenLabsConfiguration(
                apiKey: cloud.elevenLabsKey ?? "", baseURL: ProviderURL.http(cloud.elevenLabsURL), voiceID: cloud.elevenLabsVoice,
                modelID: cloud.elevenLabsModel, connectTimeout: options.timeouts.connect, health: health)
            let textToSpeech: any TextToSpeech =
                switch (choice, cloud.elevenLabsMultiContext) {
                case (.elevenlabs, true): ElevenLabsMultiContextTextToSpeech(configuration: elevenLabs)
                case (.elevenlabs, false): ElevenLabsTextToSpeech(configuration: elevenLabs)
                default: ElevenLabsHTTPTextToSpeech(configuration: elevenLabs, httpClient: httpClient)
                }
            return Built(
                provider: textToSpeech,
                stage: .init(stage: "tts", provider: textToSpeech.name, address: cloud.elevenLabsURL, connection: health))
        }
    }

    /// The tools the local LLM is warmed with, so that the prompt they make is cached before the
    /// first caller: every tool of `tools`, once each MCP server has listed its own. The servers
    /// start beside the engines and list in about a second, while the LLM loads for several; one
    /// that has not listed 5 s after the LLM is up (down, or offering none) is not waited for.
    static func warmUpTools(_ tools: Toolbox?) async -> [ToolDefinition] {
        guard let tools else { return [] }
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            var ready = true
            for source in tools.sources where source.prefix != nil {
                if await source.tools().isEmpty { ready = false }
            }
            if ready { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return await tools.current().definitions
    }
}
