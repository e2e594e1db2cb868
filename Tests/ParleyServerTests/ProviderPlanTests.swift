import ParleyServer
import Testing

@Suite("Provider selection from flags and environment")
struct ProviderPlanTests {
    static let allKeys = ["DEEPGRAM_API_KEY": "dg-secret", "GROQ_API_KEY": "gsk-secret", "ELEVENLABS_API_KEY": "xi-secret"]

    @Test("without keys every stage is local; with keys every stage is the cloud provider")
    func automatic() throws {
        let local = try ProviderPlan.resolve(speechToText: nil, languageModel: "auto", textToSpeech: nil, environment: [:])
        #expect(local.speechToText == .local)
        #expect(local.languageModel == .local)
        #expect(local.textToSpeech == .local)
        let cloud = try ProviderPlan.resolve(speechToText: nil, languageModel: nil, textToSpeech: nil, environment: Self.allKeys)
        #expect(cloud.speechToText == .deepgram)
        #expect(cloud.languageModel == .groq)
        #expect(cloud.textToSpeech == .elevenlabs)
        #expect(cloud.cloud.deepgramURL == "wss://api.deepgram.com")
        #expect(cloud.cloud.groqBaseURL == "https://api.groq.com/openai/v1")
        #expect(cloud.cloud.elevenLabsURL == "https://api.elevenlabs.io")
    }

    @Test("a flag overrides the key-based choice, and empty variables count as unset")
    func overrides() throws {
        let plan = try ProviderPlan.resolve(
            speechToText: "local", languageModel: "local", textToSpeech: "elevenlabs-http",
            environment: Self.allKeys.merging(["DEEPGRAM_API_KEY": " "]) { $1 })
        #expect(plan.speechToText == .local)
        #expect(plan.languageModel == .local)
        #expect(plan.textToSpeech == .elevenlabsHTTP)
        #expect(plan.cloud.deepgramKey == nil)
        let whisper = try ProviderPlan.resolve(
            speechToText: "groq-whisper", languageModel: nil, textToSpeech: nil, environment: ["GROQ_API_KEY": "k"])
        #expect(whisper.speechToText == .groqWhisper)
    }

    @Test("smallest.ai is used only when asked for: SMALLEST_API_KEY alone leaves the LLM automatic; SMALLEST_URL is checked")
    func smallestOnlyWhenAsked() throws {
        let automatic = try ProviderPlan.resolve(speechToText: nil, languageModel: nil, textToSpeech: nil, environment: ["SMALLEST_API_KEY": "k"])
        #expect(automatic.languageModel == .local)
        #expect(automatic.cloud.smallestURL == "https://api.smallest.ai")
        let asked = try ProviderPlan.resolve(
            speechToText: nil, languageModel: "smallest", textToSpeech: nil,
            environment: ["SMALLEST_API_KEY": "k", "SMALLEST_URL": "http://127.0.0.1:9/"])
        #expect(asked.languageModel == .smallest)
        #expect(asked.cloud.smallestURL == "http://127.0.0.1:9")
        let error = #expect(throws: ParleyServer.ConfigurationError.self) {
            try ProviderPlan.resolve(
                speechToText: nil, languageModel: "smallest", textToSpeech: nil, environment: ["SMALLEST_API_KEY": "k", "SMALLEST_URL": "ftp://x"])
        }
        #expect(error?.description.contains("SMALLEST_URL=ftp://x is not a URL") == true)
    }

    @Test("ElevenLabs speaks over the multi-context socket unless ELEVENLABS_WEBSOCKET=stream-input; other values are refused")
    func elevenLabsWebSocket() throws {
        let key = ["ELEVENLABS_API_KEY": "k"]
        let plan = { (environment: [String: String]) in
            try ProviderPlan.resolve(speechToText: nil, languageModel: nil, textToSpeech: nil, environment: environment)
        }
        #expect(try plan(key).cloud.elevenLabsMultiContext)
        #expect(try plan(key.merging(["ELEVENLABS_WEBSOCKET": "multi-stream-input"]) { $1 }).cloud.elevenLabsMultiContext)
        #expect(try !plan(key.merging(["ELEVENLABS_WEBSOCKET": "stream-input"]) { $1 }).cloud.elevenLabsMultiContext)
        let error = #expect(throws: ParleyServer.ConfigurationError.self) {
            try plan(key.merging(["ELEVENLABS_WEBSOCKET": "multi"]) { $1 })
        }
        #expect(error?.description == "ELEVENLABS_WEBSOCKET=multi is not an ElevenLabs socket; expected multi-stream-input or stream-input")
    }

    @Test("smallest.ai's Pulse and Lightning and Deepgram Flux serve only when asked for; the Flux thresholds are read and checked")
    func newProvidersOnlyWhenAsked() throws {
        let keys = ["SMALLEST_API_KEY": "k", "DEEPGRAM_API_KEY": "d"]
        let automatic = try ProviderPlan.resolve(speechToText: nil, languageModel: nil, textToSpeech: nil, environment: keys)
        #expect(automatic.speechToText == .deepgram)
        #expect(automatic.textToSpeech == .local)
        #expect(automatic.cloud.smallestLanguage == "en" && automatic.cloud.smallestVoice == "magnus")
        #expect(automatic.cloud.smallestSpeechModel == "lightning_v3.1")
        #expect(automatic.cloud.fluxModel == "flux-general-en")
        #expect(automatic.cloud.fluxEagerEndOfTurnThreshold == 0.5, "eager end of turn is on by default")
        #expect(automatic.cloud.fluxEndOfTurnThreshold == nil && automatic.cloud.fluxEndOfTurnTimeout == nil)
        let asked = try ProviderPlan.resolve(
            speechToText: "deepgram-flux,smallest", languageModel: nil, textToSpeech: "smallest",
            environment: keys.merging([
                "DEEPGRAM_EOT_THRESHOLD": "0.8", "DEEPGRAM_EAGER_EOT_THRESHOLD": "0.6", "DEEPGRAM_EOT_TIMEOUT_MS": "3000",
            ]) { $1 })
        #expect(asked.speechToTextChain == [.deepgramFlux, .smallest])
        #expect(asked.textToSpeech == .smallest)
        #expect(asked.cloud.fluxEndOfTurnThreshold == 0.8)
        #expect(asked.cloud.fluxEagerEndOfTurnThreshold == 0.6)
        #expect(asked.cloud.fluxEndOfTurnTimeout == 3000)
        let off = try ProviderPlan.resolve(
            speechToText: "deepgram-flux", languageModel: nil, textToSpeech: nil,
            environment: keys.merging(["DEEPGRAM_EAGER_EOT_THRESHOLD": "off"]) { $1 })
        #expect(off.cloud.fluxEagerEndOfTurnThreshold == nil)
        for (variable, value, expected) in [
            ("DEEPGRAM_EOT_THRESHOLD", "0.2", "DEEPGRAM_EOT_THRESHOLD=0.2 must be a number from 0.5 to 1"),
            ("DEEPGRAM_EAGER_EOT_THRESHOLD", "high", "DEEPGRAM_EAGER_EOT_THRESHOLD=high must be a number from 0.3 to 0.9"),
            ("DEEPGRAM_EAGER_EOT_THRESHOLD", "0.8", "is above the end-of-turn threshold 0.7"),
            ("DEEPGRAM_EOT_TIMEOUT_MS", "100", "DEEPGRAM_EOT_TIMEOUT_MS=100 must be a number from 500 to 60000"),
        ] {
            let error = #expect(throws: ParleyServer.ConfigurationError.self) {
                try ProviderPlan.resolve(
                    speechToText: "deepgram-flux", languageModel: nil, textToSpeech: nil, environment: keys.merging([variable: value]) { $1 })
            }
            #expect(error?.description.contains(expected) == true, "\(error?.description ?? "no error")")
        }
    }

    @Test("a cloud provider chosen without its key names the missing variable")
    func missingKey() {
        for (stt, llm, tts, variable) in [
            ("deepgram", nil, nil, "DEEPGRAM_API_KEY"), ("groq-whisper", nil, nil, "GROQ_API_KEY"),
            (nil, "groq", nil, "GROQ_API_KEY"), (nil, nil, "elevenlabs", "ELEVENLABS_API_KEY"),
            (nil, "smallest", nil, "SMALLEST_API_KEY"), ("smallest", nil, nil, "SMALLEST_API_KEY"),
            (nil, nil, "smallest", "SMALLEST_API_KEY"), ("deepgram-flux", nil, nil, "DEEPGRAM_API_KEY"),
        ] as [(String?, String?, String?, String)] {
            let error = #expect(throws: ParleyServer.ConfigurationError.self) {
                try ProviderPlan.resolve(speechToText: stt, languageModel: llm, textToSpeech: tts, environment: [:])
            }
            #expect(error?.description.contains(variable) == true)
        }
    }

    @Test("unknown providers and malformed base URLs are rejected with what to change")
    func badValues() {
        let unknown = #expect(throws: ParleyServer.ConfigurationError.self) {
            try ProviderPlan.resolve(speechToText: "whisperx", languageModel: nil, textToSpeech: nil, environment: [:])
        }
        #expect(unknown?.description.contains("local, deepgram, deepgram-flux, groq-whisper, smallest, auto") == true)
        let badURL = #expect(throws: ParleyServer.ConfigurationError.self) {
            try ProviderPlan.resolve(speechToText: nil, languageModel: nil, textToSpeech: nil, environment: ["GROQ_BASE_URL": "api.groq.com"])
        }
        #expect(badURL?.description.contains("GROQ_BASE_URL") == true)
    }

    @Test("plain ws:// and http:// base URLs are accepted, for gateways and tests")
    func plainURLs() throws {
        let plan = try ProviderPlan.resolve(
            speechToText: nil, languageModel: nil, textToSpeech: nil,
            environment: Self.allKeys.merging([
                "DEEPGRAM_URL": "ws://127.0.0.1:9001", "GROQ_BASE_URL": "http://127.0.0.1:9002/v1/",
                "ELEVENLABS_URL": "http://127.0.0.1:9003", "LLM_MODEL": "llama-3.1-8b-instant",
            ]) { $1 })
        #expect(plan.cloud.deepgramURL == "ws://127.0.0.1:9001")
        #expect(plan.cloud.groqBaseURL == "http://127.0.0.1:9002/v1")
        #expect(plan.cloud.elevenLabsURL == "http://127.0.0.1:9003")
        #expect(plan.cloud.languageModel == "llama-3.1-8b-instant")
    }
}
