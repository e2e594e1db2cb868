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
}
