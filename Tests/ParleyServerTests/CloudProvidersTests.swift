import AsyncHTTPClient
import Logging
import NIOCore
import ParleyClient
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Testing

/// `parley serve` with every stage on a cloud provider, reached only through the base-URL and key
/// variables, each provider played by its protocol-faithful fake.
@Suite("Cloud providers end to end on their fakes")
struct CloudProvidersTests {
    static let keys = ["DEEPGRAM_API_KEY": "dg-secret-0001", "GROQ_API_KEY": "gsk-secret-0002", "ELEVENLABS_API_KEY": "xi-secret-0003"]
    static let question = "What is the capital of France?"
    static let answer = "Paris is the capital of France. It is lovely in spring."

    /// Runs the three fakes (with `adjust` applied) and `parley serve` pointed at them.
    static func withCloudServer(
        deepgram: FakeDeepgramServer.Configuration? = nil, openAI: FakeOpenAIServer.Configuration? = nil,
        elevenLabs: FakeElevenLabsServer.Configuration? = nil, tts: String? = nil,
        adjust: @escaping @Sendable (inout ParleyServer.Options, FakeOpenAIServer.Running) -> Void = { _, _ in },
        _ body: @escaping @Sendable (Int, FakeDeepgramServer.Running, FakeOpenAIServer.Running, FakeElevenLabsServer) async throws -> Void
    ) async throws {
        var deepgramConfiguration = deepgram ?? FakeDeepgramServer.Configuration(apiKey: keys["DEEPGRAM_API_KEY"]!, utterances: [question])
        deepgramConfiguration.idleTimeout = .seconds(10)
        var openAIConfiguration = openAI ?? FakeOpenAIServer.Configuration(apiKey: keys["GROQ_API_KEY"]!)
        if openAI == nil {
            openAIConfiguration.models = ["openai/gpt-oss-20b"]
            openAIConfiguration.reasoning = "The user asks about France."
            openAIConfiguration.reply = { _ in answer }
        }
        let elevenLabsConfiguration = elevenLabs ?? FakeElevenLabsServer.Configuration(apiKey: keys["ELEVENLABS_API_KEY"]!)
        let chatConfiguration = openAIConfiguration
        try await FakeDeepgramServer.run(deepgramConfiguration) { deepgram in
            try await FakeOpenAIServer.run(chatConfiguration) { groq in
                try await FakeElevenLabsServer.run(elevenLabsConfiguration) { elevenLabs in
                    var options = ParleyServer.Options()
                    options.engineLayoutPath = "/nonexistent/layout.json"  // no local engine may be needed
                    options.textToSpeech = tts
                    options.environment = keys.merging([
                        "DEEPGRAM_URL": deepgram.baseURL, "GROQ_BASE_URL": groq.groqBaseURL, "ELEVENLABS_URL": elevenLabs.baseURL,
                    ]) { $1 }
                    adjust(&options, groq)
                    try await withParleyServer(options: options) { port in
                        try await body(port, deepgram, groq, elevenLabs)
                    }
                }
            }
        }
    }

    /// Speaks a second of "speech" (a voiced tone the fake Deepgram hears as the question).
    static func talk(port: Int) async throws -> TalkClient.Result {
        let speech = AudioFixtures.tone(frequency: 220, duration: .milliseconds(1200), amplitude: 0.4)
        let talk = TalkClient(options: .init(url: "ws://127.0.0.1:\(port)/ws", replyTimeout: .seconds(20)), logger: Logger(label: "talk"))
        return try await talk.run(speech: PCM.floats(speech), sampleRate: 16000)
    }

    static func health(port: Int) async throws -> String {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health")
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        return String(buffer: try await response.body.collect(upTo: 1 << 16))
    }

    @Test("--llm smallest: the turn's reply comes from smallest.ai's Electron at SMALLEST_URL/waves/v1, its key never shown", .timeLimit(.minutes(2)))
    func smallestElectron() async throws {
        let key = "sm-secret-0004"
        var electron = FakeOpenAIServer.Configuration(apiKey: key)
        electron.models = [OpenAICompatibleLanguageModel.electronModel]
        electron.reply = { _ in Self.answer }
        try await Self.withCloudServer(
            openAI: electron,
            adjust: { options, fake in
                options.languageModel = "smallest"
                // The fake's root: its generic base URL without the `/v1`.
                options.environment["SMALLEST_URL"] = String(fake.baseURL.dropLast("/v1".count))
                options.environment["SMALLEST_API_KEY"] = key
                options.environment["GROQ_API_KEY"] = nil
            }
        ) { port, _, electronServer, _ in
            let result = try await Self.talk(port: port)
            #expect(result.session.providers == ["stt": "deepgram", "llm": "smallest", "tts": "elevenlabs"])
            let turn = try #require(result.turns.first)
            #expect(turn.transcript == Self.question)
            #expect(turn.reply == Self.answer)
            let request = try #require(electronServer.requests.first)
            #expect(request.path == "/waves/v1/chat/completions")
            #expect(request.authorized)
            #expect(request.json?["model"]?.stringValue == "electron")
            #expect(request.json?["stream"]?.boolValue == true)
            let health = try await Self.health(port: port)
            #expect(JSONValue.parse(health)?["stages"]?["llm"]?["provider"]?.stringValue == "smallest")
            #expect(!health.contains(key))
            #expect(!result.events.map { "\($0)" }.joined().contains(key))
        }
    }

    @Test("a full turn runs through Deepgram, Groq and ElevenLabs", .timeLimit(.minutes(2)))
    func fullTurn() async throws {
        try await Self.withCloudServer { port, deepgram, groq, elevenLabs in
            let result = try await Self.talk(port: port)
            #expect(result.session.providers == ["stt": "deepgram", "llm": "groq", "tts": "elevenlabs"])
            let turn = try #require(result.turns.first)
            #expect(turn.transcript == Self.question)
            #expect(turn.reply == Self.answer)
            #expect(!turn.interrupted)
            // ElevenLabs' audio for exactly the reply, at the session's rate, reached the client.
            let expected = FakeElevenLabsServer.speech(
                for: Self.answer, sampleRate: 16000, durationPerCharacter: elevenLabs.configuration.durationPerCharacter)
            #expect(abs(result.audio.count - expected.count) <= 320 * 2, "got \(result.audio.count) samples, expected about \(expected.count)")
            #expect(PCM.rms(result.audio) > 0.01)
            #expect(turn.serverTimeline[.firstAudioSent] != nil)

            // Each provider saw its own protocol, addressed only through the variables.
            let connection = try #require(deepgram.connections.first)
            #expect(connection.authorized)
            #expect(connection.queryValue("model") == "nova-3")
            #expect(connection.queryValue("tag") == result.session.sessionID)
            // The client left; the session said goodbye to Deepgram before ending.
            #expect(await deepgram.waitUntil { $0.connections.first?.controlTypes.last == "CloseStream" })
            let chat = try #require(groq.requests.first?.json)
            #expect(chat["model"]?.stringValue == "openai/gpt-oss-20b")
            #expect(chat["messages"]?.arrayValue?.last?["content"]?.stringValue == Self.question)
            // One multi-context socket for the session, the reply a context on it.
            #expect(elevenLabs.multiStreamInputCount == 1)
            #expect(elevenLabs.multiStreamInput.first?.contexts.first?.finalSent == true)
            #expect(elevenLabs.streamInput.isEmpty)

            // /health tells which provider serves each stage and that its last connection worked,
            // and no key appears anywhere a user can see.
            let health = try await Self.health(port: port)
            let report = try #require(JSONValue.parse(health))
            for (stage, provider) in [("stt", "deepgram"), ("llm", "groq"), ("tts", "elevenlabs")] {
                #expect(report["stages"]?[stage]?["provider"]?.stringValue == provider)
                #expect(report["stages"]?[stage]?["last_connection_ok"]?.boolValue == true, "\(stage): \(health)")
            }
            for key in Self.keys.values {
                #expect(!health.contains(key))
                #expect(!result.events.map { "\($0)" }.joined().contains(key))
            }
        }
    }

    @Test("the HTTP streaming fallback speaks the same reply", .timeLimit(.minutes(2)))
    func httpFallback() async throws {
        try await Self.withCloudServer(tts: "elevenlabs-http") { port, _, _, elevenLabs in
            let result = try await Self.talk(port: port)
            #expect(result.session.providers["tts"] == "elevenlabs-http")
            #expect(result.turns.first?.reply == Self.answer)
            #expect(PCM.rms(result.audio) > 0.01)
            #expect(elevenLabs.httpRequests.count == 2)  // one request per sentence
        }
    }

    @Test("a refused LLM key ends the turn with an error naming Groq, and the session goes on", .timeLimit(.minutes(2)))
    func refusedKey() async throws {
        try await Self.withCloudServer(openAI: FakeOpenAIServer.Configuration(apiKey: "gsk-another-key")) { port, _, _, _ in
            let speech =
                AudioFixtures.silence(.milliseconds(400)) + AudioFixtures.tone(frequency: 220, duration: .milliseconds(1200), amplitude: 0.4)
                + AudioFixtures.silence(.milliseconds(800))
            let events = try await RawSocket.converse(port: port) { outbound, received in
                for frame in AudioFixtures.frames(speech) {
                    try await outbound.write(.binary(ByteBuffer(bytes: PCM.littleEndianBytes(frame))))
                }
                let errors = await received.errors(atLeast: 1)
                let error = try #require(errors.first)
                #expect(error.code == .llmFailed)
                #expect(!error.fatal)
                #expect(error.message.hasPrefix("groq: the API key was refused (HTTP 401"))
                #expect(error.message.contains("GROQ_API_KEY"))
                #expect(!error.message.contains(Self.keys["GROQ_API_KEY"]!))
                // The turn still ends, and the session still answers.
                #expect(await received.wait { $0.contains { if case .turnEnd = $0 { true } else { false } } })
                try await outbound.write(.text(#"{"type":"ping","id":"after"}"#))
                #expect(await received.wait { $0.contains(.pong("after")) })
            }
            #expect(events.contains(.pong("after")))
            let health = try await Self.health(port: port)
            #expect(JSONValue.parse(health)?["stages"]?["llm"]?["last_connection_ok"]?.boolValue == false)
        }
    }

    @Test("a refused Deepgram key ends the session with a fatal error naming Deepgram", .timeLimit(.minutes(1)))
    func refusedDeepgramKey() async throws {
        let deepgram = FakeDeepgramServer.Configuration(apiKey: "dg-another-key", utterances: [Self.question])
        try await Self.withCloudServer(deepgram: deepgram) { port, _, _, _ in
            let speech = AudioFixtures.tone(frequency: 220, duration: .milliseconds(1200), amplitude: 0.4)
            let talk = TalkClient(options: .init(url: "ws://127.0.0.1:\(port)/ws", replyTimeout: .seconds(10)), logger: Logger(label: "talk"))
            let failure = await #expect(throws: TalkClient.Failure.self) {
                try await talk.run(speech: PCM.floats(speech), sampleRate: 16000)
            }
            let description = failure?.description ?? ""
            #expect(description.contains("stt_failed"), "\(description)")
            #expect(description.contains("deepgram"), "\(description)")
            #expect(description.contains("401"), "\(description)")
            #expect(!description.contains(Self.keys["DEEPGRAM_API_KEY"]!))
        }
    }

    @Test("a phone call over /twilio reaches Deepgram as μ-law 8 kHz tagged with the stream, and Groq and ElevenLabs answer", .timeLimit(.minutes(2)))
    func phoneCall() async throws {
        try await Self.withCloudServer { port, deepgram, groq, elevenLabs in
            let options = FakeTwilioCall.Options()
            try await FakeTwilioCall.run(port: port, options: options) { call in
                try await call.start()
                call.say(
                    AudioFixtures.silence(.milliseconds(300), sampleRate: 8000)
                        + AudioFixtures.tone(frequency: 220, duration: .milliseconds(1200), amplitude: 0.4, sampleRate: 8000))
                let answered = await call.wait(timeout: .seconds(20)) { $0.echoedMarks.contains("reply-1") }
                #expect(answered)
                #expect(call.snapshot.playedBytes > 8000 / 2, "at least half a second of the reply played")
                #expect(call.snapshot.problems.isEmpty, "\(call.snapshot.problems)")
                try await call.stop()
            }
            let connection = try #require(deepgram.connections.first)
            #expect(connection.queryValue("encoding") == "mulaw")
            #expect(connection.queryValue("sample_rate") == "8000")
            #expect(connection.queryValue("tag") == options.streamSID)
            #expect(groq.requests.first?.json?["messages"]?.arrayValue?.last?["content"]?.stringValue == Self.question)
            #expect(elevenLabs.multiStreamInput.first?.queryValue("output_format") == "pcm_8000")
        }
    }
}
