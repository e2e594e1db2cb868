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
    }

    /// Builds each stage's provider; reads the engine layout only when a local engine is needed.
    func makeProviders(plan: ProviderPlan, httpClient: HTTPClient) async throws -> ProviderSetup {
        let cloud = plan.cloud
        let needsLocalSpeech = plan.speechToText == .local && options.speechToTextURL == nil
        let needsLocalModel = plan.languageModel == .local && options.languageModelURL == nil
        let layout = needsLocalSpeech || needsLocalModel ? try LocalEngineLayout.load(from: options.engineLayoutPath) : nil
        var engines: [LocalEngine] = []
        let inputRate = configuration.session.inputSampleRate

        // One recogniser per audio format: browser sessions at `inputRate`, phone calls at 8 kHz μ-law.
        let speechToText: @Sendable (_ sampleRate: Int, _ telephony: Bool) -> any SpeechToText
        let sttStage: HealthMonitor.Stage
        switch plan.speechToText {
        case .local:
            let endpoint: OpenAICompatibleEndpoint
            if let url = options.speechToTextURL {
                endpoint = OpenAICompatibleEndpoint(name: "openai-stt", baseURL: url, httpClient: httpClient)
                sttStage = .init(stage: "stt", provider: endpoint.name, address: url, connection: endpoint.health)
            } else {
                let engine = try LocalEngines.whisper(layout: layout!, httpClient: httpClient, logDirectory: options.logDirectory)
                engines.append(engine)
                endpoint = OpenAICompatibleEndpoint(name: engine.name, baseURL: engine.baseURL, httpClient: httpClient)
                sttStage = .init(stage: "stt", provider: engine.name, status: engine.status)
            }
            speechToText = { rate, _ in OpenAICompatibleSpeechToText(endpoint: endpoint, model: "whisper-tiny.en", sampleRate: rate) }
        case .deepgram:
            let health = ConnectionHealth()
            let logger = logger
            speechToText = { rate, telephony in
                DeepgramSpeechToText(
                    apiKey: cloud.deepgramKey ?? "", baseURL: cloud.deepgramURL, model: cloud.deepgramModel,
                    encoding: telephony ? .mulaw : .linear16, sampleRate: rate, health: health, logger: logger)
            }
            sttStage = .init(stage: "stt", provider: "deepgram", address: cloud.deepgramURL, connection: health)
        case .groqWhisper:
            let endpoint = OpenAICompatibleEndpoint(
                name: "groq-whisper", baseURL: cloud.groqBaseURL, apiKey: cloud.groqKey, httpClient: httpClient,
                keyVariable: "GROQ_API_KEY")
            let model = cloud.groqSpeechModel
            speechToText = { rate, _ in OpenAICompatibleSpeechToText(endpoint: endpoint, model: model, sampleRate: rate) }
            sttStage = .init(stage: "stt", provider: endpoint.name, address: cloud.groqBaseURL, connection: endpoint.health)
        }

        let languageModel: any LanguageModel
        let llmStage: HealthMonitor.Stage
        switch plan.languageModel {
        case .local:
            let model = cloud.languageModel ?? options.languageModelName
            let endpoint: OpenAICompatibleEndpoint
            if let url = options.languageModelURL {
                endpoint = OpenAICompatibleEndpoint(name: "openai-llm", baseURL: url, httpClient: httpClient, responseTimeout: .seconds(60))
                llmStage = .init(stage: "llm", provider: endpoint.name, address: url, connection: endpoint.health)
            } else {
                let engine = try LocalEngines.llama(layout: layout!, httpClient: httpClient, logDirectory: options.logDirectory, model: model)
                engines.append(engine)
                endpoint = OpenAICompatibleEndpoint(name: engine.name, baseURL: engine.baseURL, httpClient: httpClient, responseTimeout: .seconds(60))
                llmStage = .init(stage: "llm", provider: engine.name, status: engine.status)
            }
            languageModel = OpenAICompatibleLanguageModel(endpoint: endpoint, model: model, maxTokens: options.maximumReplyTokens ?? 100)
        case .groq:
            let endpoint = OpenAICompatibleEndpoint(
                name: "groq", baseURL: cloud.groqBaseURL, apiKey: cloud.groqKey, httpClient: httpClient, keyVariable: "GROQ_API_KEY")
            languageModel = OpenAICompatibleLanguageModel.groq(
                endpoint: endpoint, model: cloud.languageModel ?? OpenAICompatibleLanguageModel.defaultGroqModel,
                maxTokens: options.maximumReplyTokens ?? 400)
            llmStage = .init(stage: "llm", provider: endpoint.name, address: cloud.groqBaseURL, connection: endpoint.health)
        }

        let textToSpeech: any TextToSpeech
        let ttsStage: HealthMonitor.Stage
        switch plan.textToSpeech {
        case .local:
            let espeak = EspeakTextToSpeech()
            // Load espeak-ng's voice data now rather than on the first reply.
            _ = try await EspeakEngine.shared.synthesize("ready", voice: espeak.voice)
            textToSpeech = espeak
            ttsStage = .init(stage: "tts", provider: espeak.name)
        case .elevenlabs, .elevenlabsHTTP:
            let health = ConnectionHealth()
            let elevenLabs = ElevenLabsConfiguration(
                apiKey: cloud.elevenLabsKey ?? "", baseURL: Self.httpScheme(cloud.elevenLabsURL), voiceID: cloud.elevenLabsVoice,
                modelID: cloud.elevenLabsModel, health: health)
            textToSpeech =
                plan.textToSpeech == .elevenlabs
                ? ElevenLabsTextToSpeech(configuration: elevenLabs)
                : ElevenLabsHTTPTextToSpeech(configuration: elevenLabs, httpClient: httpClient)
            ttsStage = .init(stage: "tts", provider: textToSpeech.name, address: cloud.elevenLabsURL, connection: health)
        }

        return ProviderSetup(
            providers: SessionProviders(
                speechToText: speechToText(inputRate, false), languageModel: languageModel, textToSpeech: textToSpeech),
            telephonyProviders: SessionProviders(
                speechToText: speechToText(ServerConfiguration.telephonySampleRate, true), languageModel: languageModel,
                textToSpeech: textToSpeech),
            stages: [sttStage, llmStage, ttsStage], engines: engines)
    }

    /// ElevenLabs' base URL with an HTTP scheme (its WebSocket uses the matching `ws`/`wss`).
    static func httpScheme(_ url: String) -> String {
        if url.hasPrefix("wss://") { return "https://" + url.dropFirst(6) }
        if url.hasPrefix("ws://") { return "http://" + url.dropFirst(5) }
        return url
    }
}
