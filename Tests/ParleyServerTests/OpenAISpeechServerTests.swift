import ParleyClient
import ParleyCore
import ParleyServer
import ParleyTesting
import Testing

/// `parley serve --tts openai` against the fake `/audio/speech`, the other stages on their fakes.
@Suite("--tts openai through parley serve")
struct OpenAISpeechServerTests {
    typealias Cloud = CloudProvidersTests
    static let key = "sk-parley-speech-test-key"

    @Test("a spoken turn is answered in the speech API's voice; one request per sentence; the key stays hidden", .timeLimit(.minutes(2)))
    func spokenTurn() async throws {
        try await FakeOpenAISpeechServer.run(.init(apiKey: Self.key)) { speech in
            try await Cloud.withCloudServer(
                tts: "openai",
                adjust: { options, _ in
                    options.environment["OPENAI_API_KEY"] = Self.key
                    options.environment["OPENAI_BASE_URL"] = speech.baseURL
                    options.environment["OPENAI_TTS_VOICE"] = "nova"
                }
            ) { port, _, _, _ in
                let result = try await Cloud.talk(port: port)
                #expect(result.session.providers["tts"] == "openai-tts")
                let turn = try #require(result.turns.first)
                #expect(turn.reply == Cloud.answer)
                let requests = speech.requests
                #expect(requests.count == 2, "one request per sentence of \"\(Cloud.answer)\"")
                #expect(requests.allSatisfy { $0.authorized && $0.json?["voice"] == "nova" && $0.json?["response_format"] == "pcm" })
                #expect(requests.map { $0.json?["input"]?.stringValue ?? "" }.joined(separator: " ") == Cloud.answer)
                // The fake's 24 kHz speech, resampled to the session's 16 kHz, reached the client whole.
                let expected = Double(
                    requests.enumerated().map { speech.speech(for: $1.json?["input"]?.stringValue ?? "", request: $0).count }.reduce(0, +))
                #expect(abs(Double(result.audio.count) - expected * 16000 / 24000) < 16000 * 0.05, "\(result.audio.count) samples")
                #expect(PCM.rms(result.audio) > 0.01)
                let health = try await Cloud.health(port: port)
                #expect(!health.contains(Self.key))
                #expect(!result.events.map { "\($0)" }.joined().contains(Self.key))
            }
        }
    }

    @Test("OpenAI's own endpoint without OPENAI_API_KEY stops serve with a message naming it")
    func missingKey() throws {
        #expect(throws: ParleyServer.ConfigurationError.self) {
            try ProviderPlan.resolve(speechToText: "local", languageModel: "local", textToSpeech: "openai", environment: [:])
        }
        // A self-hosted server needs none.
        let plan = try ProviderPlan.resolve(
            speechToText: "local", languageModel: "local", textToSpeech: "openai", environment: ["OPENAI_BASE_URL": "http://127.0.0.1:8880/v1"])
        #expect(plan.textToSpeech == .openai)
        #expect(plan.cloud.openAIVoice == "alloy" && plan.cloud.openAISpeechModel == "gpt-4o-mini-tts")
    }
}
