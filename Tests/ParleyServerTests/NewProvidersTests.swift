import ParleyClient
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Testing

/// `parley serve` on Deepgram Flux and smallest.ai, each played by its protocol-faithful fake and
/// reached only through the base-URL and key variables.
@Suite("Flux and smallest.ai end to end on their fakes")
struct NewProvidersTests {
    typealias Cloud = CloudProvidersTests

    @Test("--stt deepgram-flux: the eager end of turn starts the LLM before the turn ends, and the adopted reply is spoken", .timeLimit(.minutes(2)))
    func deepgramFlux() async throws {
        let key = Cloud.keys["DEEPGRAM_API_KEY"]!
        try await FakeDeepgramFluxServer.run(.init(apiKey: key, turns: [Cloud.question])) { flux in
            try await Cloud.withCloudServer(adjust: { options, _ in
                options.speechToText = "deepgram-flux"
                options.environment["DEEPGRAM_URL"] = flux.baseURL
            }) { port, deepgram, groq, _ in
                let result = try await Cloud.talk(port: port)
                #expect(result.session.providers == ["stt": "deepgram-flux", "llm": "groq", "tts": "elevenlabs"])
                let turn = try #require(result.turns.first)
                #expect(turn.transcript == Cloud.question)
                #expect(turn.reply == Cloud.answer)
                // Flux's EagerEndOfTurn asked the LLM; its EndOfTurn (stt_final) came later and adopted it.
                let timeline = turn.serverTimeline
                #expect(try #require(timeline[.llmRequest]) < #require(timeline[.sttFinal]), "\(timeline)")
                #expect(groq.requests.count == 1, "one request, adopted, not repeated")
                #expect(deepgram.connections.isEmpty, "Nova-3's /v1/listen is not used")
                let connection = try #require(flux.connections.first)
                #expect(connection.path == "/v2/listen" && connection.authorized)
                #expect(connection.queryValue("model") == "flux-general-en")
                #expect(connection.queryValue("eager_eot_threshold") == "0.5")
                #expect(connection.queryValue("tag") == result.session.sessionID)
                let events = connection.sent.map(\.event)
                let eager = try #require(events.firstIndex(of: "EagerEndOfTurn"))
                #expect(events[eager...].contains("EndOfTurn"))
                let health = try await Cloud.health(port: port)
                #expect(JSONValue.parse(health)?["stages"]?["stt"]?["provider"]?.stringValue == "deepgram-flux")
                #expect(!health.contains(key))
                #expect(!result.events.map { "\($0)" }.joined().contains(key))
            }
        }
    }

    @Test("--stt deepgram-flux with the eager end off: the LLM starts at the end of turn", .timeLimit(.minutes(2)))
    func deepgramFluxWithoutEager() async throws {
        let key = Cloud.keys["DEEPGRAM_API_KEY"]!
        try await FakeDeepgramFluxServer.run(.init(apiKey: key, turns: [Cloud.question])) { flux in
            try await Cloud.withCloudServer(adjust: { options, _ in
                options.speechToText = "deepgram-flux"
                options.environment["DEEPGRAM_URL"] = flux.baseURL
                options.environment["DEEPGRAM_EAGER_EOT_THRESHOLD"] = "off"
                options.environment["DEEPGRAM_EOT_THRESHOLD"] = "0.8"
            }) { port, _, _, _ in
                let result = try await Cloud.talk(port: port)
                let turn = try #require(result.turns.first)
                #expect(turn.reply == Cloud.answer)
                #expect(try #require(turn.serverTimeline[.llmRequest]) >= #require(turn.serverTimeline[.sttFinal]))
                let connection = try #require(flux.connections.first)
                #expect(connection.queryValue("eager_eot_threshold") == nil)
                #expect(connection.queryValue("eot_threshold") == "0.8")
                #expect(!connection.sent.map(\.event).contains("EagerEndOfTurn"))
            }
        }
    }

    static let smallestKey = "sm-secret-0005"

    /// A fake smallest.ai whose Pulse hears the question and whose Electron answers it.
    static func smallest() -> FakeSmallestServer.Configuration {
        var configuration = FakeSmallestServer.Configuration(apiKey: smallestKey, utterances: [Cloud.question])
        configuration.chat.reply = { _ in Cloud.answer }
        return configuration
    }

    @Test("--stt smallest: Pulse hears the turn and its endpointing ends it; the key is never shown", .timeLimit(.minutes(2)))
    func smallestPulse() async throws {
        try await FakeSmallestServer.run(Self.smallest()) { smallest in
            try await Cloud.withCloudServer(adjust: { options, _ in
                options.speechToText = "smallest"
                options.environment["SMALLEST_URL"] = smallest.baseURL
                options.environment["SMALLEST_API_KEY"] = Self.smallestKey
            }) { port, deepgram, _, _ in
                let result = try await Cloud.talk(port: port)
                #expect(result.session.providers == ["stt": "smallest", "llm": "groq", "tts": "elevenlabs"])
                let turn = try #require(result.turns.first)
                #expect(turn.transcript == Cloud.question)
                #expect(turn.reply == Cloud.answer)
                #expect(deepgram.connections.isEmpty)
                let connection = try #require(smallest.pulseConnections.first)
                #expect(connection.authorized && connection.queryValue("model") == "pulse")
                #expect(connection.queryValue("external_session_id") == result.session.sessionID.filter { $0 != "/" })
                let health = try await Cloud.health(port: port)
                #expect(JSONValue.parse(health)?["stages"]?["stt"]?["provider"]?.stringValue == "smallest")
                #expect(!health.contains(Self.smallestKey))
                #expect(!result.events.map { "\($0)" }.joined().contains(Self.smallestKey))
            }
        }
    }

    @Test("--tts smallest: Lightning speaks the reply, exactly its audio at the session's rate", .timeLimit(.minutes(2)))
    func smallestLightning() async throws {
        try await FakeSmallestServer.run(Self.smallest()) { smallest in
            try await Cloud.withCloudServer(adjust: { options, _ in
                options.textToSpeech = "smallest"
                options.environment["SMALLEST_URL"] = smallest.baseURL
                options.environment["SMALLEST_API_KEY"] = Self.smallestKey
            }) { port, _, _, elevenLabs in
                let result = try await Cloud.talk(port: port)
                #expect(result.session.providers == ["stt": "deepgram", "llm": "groq", "tts": "smallest"])
                let turn = try #require(result.turns.first)
                #expect(turn.reply == Cloud.answer)
                #expect(elevenLabs.streamInput.isEmpty)
                let expected = ["Paris is the capital of France.", "It is lovely in spring."].flatMap {
                    FakeSmallestServer.speech(for: $0, sampleRate: 16000, durationPerCharacter: .milliseconds(10))
                }
                #expect(abs(result.audio.count - expected.count) <= 320 * 2, "got \(result.audio.count) samples, expected about \(expected.count)")
                let connection = try #require(smallest.lightningConnections.first)
                #expect(connection.authorized && connection.sentKinds.last == "complete")
                #expect(connection.received.compactMap { $0?["sample_rate"]?.doubleValue }.allSatisfy { $0 == 16000 })
            }
        }
    }

    @Test("all three stages on smallest.ai at one SMALLEST_URL: Pulse, Electron and Lightning complete a spoken turn", .timeLimit(.minutes(2)))
    func smallestEverything() async throws {
        try await FakeSmallestServer.run(Self.smallest()) { smallest in
            try await Cloud.withCloudServer(adjust: { options, _ in
                options.speechToText = "smallest"
                options.languageModel = "smallest"
                options.textToSpeech = "smallest"
                options.environment["SMALLEST_URL"] = smallest.baseURL
                options.environment["SMALLEST_API_KEY"] = Self.smallestKey
            }) { port, deepgram, groq, elevenLabs in
                let result = try await Cloud.talk(port: port)
                #expect(result.session.providers == ["stt": "smallest", "llm": "smallest", "tts": "smallest"])
                let turn = try #require(result.turns.first)
                #expect(turn.transcript == Cloud.question)
                #expect(turn.reply == Cloud.answer)
                let expected = ["Paris is the capital of France.", "It is lovely in spring."].reduce(0) {
                    $0 + FakeSmallestServer.speech(for: $1, sampleRate: 16000, durationPerCharacter: .milliseconds(10)).count
                }
                #expect(abs(result.audio.count - expected) <= 320 * 2, "Lightning's audio reached the caller: \(result.audio.count) of \(expected)")
                #expect(smallest.chat.requests.first?.path == "/waves/v1/chat/completions")
                #expect(deepgram.connections.isEmpty && groq.requests.isEmpty && elevenLabs.streamInput.isEmpty)
            }
        }
    }
}
