import ParleyTesting

/// The fake Deepgram, Groq and ElevenLabs that `parley-bench capacity` and `calls` run
/// `parley serve` against, at realistic latencies: utterances end after the 300 ms endpointing
/// Parley asks for (with Deepgram's empty finals every 3 s of silence), the first word after
/// 150 ms, the first audio 150 ms after each piece of text, 30 ms of speech per character; the
/// fake ElevenLabs answers a WebSocket upgrade after `ttsHandshake` (what TCP, TLS and the upgrade
/// take to a distant provider; nothing by default).
enum BenchFakes {
    /// Runs `body` with the fakes up, passing the environment that points `parley serve` at them.
    static func run<Result: Sendable>(
        reply: String, tokenDelay: Duration = .zero, ttsHandshake: Duration = .zero,
        _ body: @Sendable (_ environment: [String: String]) async throws -> Result
    ) async throws -> Result {
        let keys = CapacityRun.keys
        var recogniser = FakeDeepgramServer.Configuration(apiKey: keys["DEEPGRAM_API_KEY"]!, utterances: [CapacityRun.question])
        recogniser.repeatsUtterances = true
        recogniser.recordsTraffic = false
        // As Deepgram does (docs/providers.md: empty finals are normal during silence); they let
        // the client drop the audio it keeps for a replay after a reconnect.
        recogniser.emptyFinalsEvery = .seconds(3)
        let deepgram = recogniser
        var chat = FakeOpenAIServer.Configuration(apiKey: keys["GROQ_API_KEY"]!)
        chat.reply = { _ in reply }
        chat.firstTokenDelay = CapacityRun.llmFirstToken
        chat.tokenDelay = tokenDelay
        chat.recordsRequests = false
        let groq = chat
        var speech = FakeElevenLabsServer.Configuration(
            apiKey: keys["ELEVENLABS_API_KEY"]!, durationPerCharacter: .milliseconds(30), firstByteDelay: CapacityRun.ttsFirstByte)
        speech.recordsAudio = false
        speech.handshakeDelay = ttsHandshake
        let elevenLabs = speech
        return try await FakeDeepgramServer.run(deepgram) { deepgram in
            try await FakeOpenAIServer.run(groq) { groq in
                try await FakeElevenLabsServer.run(elevenLabs) { elevenLabs in
                    try await body(
                        keys.merging([
                            "DEEPGRAM_URL": deepgram.baseURL, "GROQ_BASE_URL": groq.groqBaseURL, "ELEVENLABS_URL": elevenLabs.baseURL,
                        ]) { $1 })
                }
            }
        }
    }
}
