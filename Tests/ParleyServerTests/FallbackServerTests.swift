import AsyncHTTPClient
import Logging
import NIOCore
import ParleyClient
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Testing

/// `parley serve` with provider chains, the failing provider played by its fake acting out a fault.
@Suite("Provider faults without dead air: fallback chains and the apology, through parley serve")
struct FallbackServerTests {
    typealias Cloud = CloudProvidersTests

    static func metrics(port: Int) async throws -> String {
        let response = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(port)/metrics").get()
        return String(buffer: response.body ?? ByteBuffer())
    }

    static func talk(port: Int, turns: Int) async throws -> TalkClient.Result {
        let speech = AudioFixtures.tone(frequency: 220, duration: .milliseconds(1200), amplitude: 0.4)
        let talk = TalkClient(
            options: .init(url: "ws://127.0.0.1:\(port)/ws", turns: turns, replyTimeout: .seconds(20)), logger: Logger(label: "talk"))
        return try await talk.run(speech: PCM.floats(speech), sampleRate: 16000)
    }

    @Test("a dead ElevenLabs with --tts elevenlabs,espeak: every turn is answered with audio; /health says degraded", .timeLimit(.minutes(2)))
    func deadTextToSpeech() async throws {
        var elevenLabs = FakeElevenLabsServer.Configuration(apiKey: Cloud.keys["ELEVENLABS_API_KEY"]!)
        elevenLabs.fault = .reject(status: 503, body: #"{"detail":{"status":"service_unavailable","message":"Down."}}"#)
        var deepgram = FakeDeepgramServer.Configuration(apiKey: Cloud.keys["DEEPGRAM_API_KEY"]!, utterances: [Cloud.question])
        deepgram.repeatsUtterances = true
        try await Cloud.withCloudServer(deepgram: deepgram, elevenLabs: elevenLabs, tts: "elevenlabs,espeak") { port, _, _, _ in
            let result = try await Self.talk(port: port, turns: 2)
            #expect(result.session.providers["tts"] == "elevenlabs,espeak-ng")
            #expect(result.turns.count == 2)
            for turn in result.turns {
                #expect(turn.reply == Cloud.answer)
                #expect(turn.audioSamples > 16000, "turn \(turn.turnID) has \(turn.audioSamples) samples")
            }
            #expect(!result.events.contains { if case .error = $0 { return true } else { return false } })
            let health = try #require(JSONValue.parse(try await Cloud.health(port: port)))
            #expect(health["stages"]?["tts"]?["degraded"] == true)
            #expect(health["stages"]?["tts"]?["last_fallback"]?["to"] == "espeak-ng")
            let metrics = try await Self.metrics(port: port)
            #expect(metrics.contains(#"parley_provider_fallbacks_total{stage="tts",from="elevenlabs",to="espeak-ng"} 1"#))
        }
    }

    @Test("ElevenLabs dropping the connection mid-reply: the local voice speaks the rest", .timeLimit(.minutes(2)))
    func textToSpeechDroppedMidReply() async throws {
        var elevenLabs = FakeElevenLabsServer.Configuration(apiKey: Cloud.keys["ELEVENLABS_API_KEY"]!)
        elevenLabs.fault = .dropAfterFirstAudio
        try await Cloud.withCloudServer(elevenLabs: elevenLabs, tts: "elevenlabs,espeak") { port, _, _, _ in
            let result = try await Self.talk(port: port, turns: 1)
            let turn = try #require(result.turns.first)
            #expect(turn.reply == Cloud.answer)
            #expect(turn.audioSamples > 16000)
            #expect(!result.events.contains { if case .error = $0 { return true } else { return false } })
        }
    }

    @Test("a dead ElevenLabs and no fallback: the agent apologises in the local voice and the call goes on", .timeLimit(.minutes(2)))
    func apology() async throws {
        var elevenLabs = FakeElevenLabsServer.Configuration(apiKey: Cloud.keys["ELEVENLABS_API_KEY"]!)
        elevenLabs.fault = .reject(status: 500, body: #"{"detail":{"status":"internal_error","message":"Boom."}}"#)
        var deepgram = FakeDeepgramServer.Configuration(apiKey: Cloud.keys["DEEPGRAM_API_KEY"]!, utterances: [Cloud.question])
        deepgram.repeatsUtterances = true
        try await Cloud.withCloudServer(deepgram: deepgram, elevenLabs: elevenLabs, tts: "elevenlabs") { port, _, _, _ in
            // `parley talk` stops at an error event; a raw socket hears the whole turn.
            let speech = AudioFixtures.tone(frequency: 220, duration: .milliseconds(1200), amplitude: 0.4)
            let events = try await RawSocket.converse(port: port) { outbound, received in
                let microphone = RealTimeMicrophone(outbound: outbound)
                for turn in 1...2 {
                    try await microphone.say(speech)
                    _ = try await microphone.silence(upTo: .seconds(15), in: received) { events in
                        events.contains { if case .turnEnd(let summary) = $0 { summary.turnID == turn } else { false } }
                    }
                }
            }
            let summaries = events.compactMap { event -> TurnSummary? in
                if case .turnEnd(let summary) = event { return summary }
                return nil
            }
            #expect(summaries.count == 2)
            for summary in summaries {
                #expect(summary.text.hasSuffix(SessionConfiguration().apology))
                let audio = events.compactMap { event -> Int? in
                    if case .agentAudioEnd(summary.turnID, let samples) = event { return samples }
                    return nil
                }.first
                #expect((audio ?? 0) > 8000, "turn \(summary.turnID): \(audio ?? 0) samples")
            }
            let errors = events.compactMap { event -> SessionError? in
                if case .error(let error) = event { return error }
                return nil
            }
            #expect(errors.count == 2 && errors.allSatisfy { $0.code == .ttsFailed && !$0.fatal })
            #expect(try await Self.metrics(port: port).contains(#"parley_apologies_total{stage="tts"} 2"#))
        }
    }

    @Test("--llm groq,local: Groq dropping the stream mid-reply, the next model finishes the answer", .timeLimit(.minutes(2)))
    func languageModelDropped() async throws {
        var groq = FakeOpenAIServer.Configuration(apiKey: Cloud.keys["GROQ_API_KEY"]!)
        groq.models = ["openai/gpt-oss-20b"]
        groq.reply = { _ in Cloud.answer }
        groq.faults = Array(repeating: .dropAfter(tokens: 2), count: 20)
        // The second model (`local` at --llm-url), which sends no key and may get a warm-up request.
        var second = FakeOpenAIServer.Configuration(apiKey: nil)
        second.reply = { messages in messages.last?.content.hasPrefix("(Your answer") == true ? "the rest." : "Unexpected." }
        let failingGroq = groq
        try await FakeOpenAIServer.run(second) { local in
            try await Cloud.withCloudServer(
                openAI: failingGroq,
                adjust: { options, _ in
                    options.languageModel = "groq,local"
                    options.languageModelURL = local.baseURL
                }
            ) { port, _, _, _ in
                let result = try await Self.talk(port: port, turns: 1)
                let turn = try #require(result.turns.first)
                #expect(turn.reply.hasSuffix("the rest."))
                #expect(turn.reply.count > "the rest.".count)
                // The fake ElevenLabs speaks 10 ms a character: audio for the whole reply reached the client.
                #expect(turn.audioSamples >= turn.reply.count * 150)
                #expect(try await Self.metrics(port: port).contains(#"parley_provider_fallbacks_total{stage="llm",from="groq",to="openai-llm"} 1"#))
            }
        }
    }

    @Test("--stt deepgram,local: Deepgram refusing the key, the OpenAI-compatible recogniser hears the turn", .timeLimit(.minutes(2)))
    func speechToTextRefused() async throws {
        let deepgram = FakeDeepgramServer.Configuration(apiKey: "a-key-parley-does-not-have", utterances: [Cloud.question])
        var openAI = FakeOpenAIServer.Configuration(apiKey: nil)
        openAI.models = ["openai/gpt-oss-20b", "whisper-tiny.en"]
        openAI.reply = { _ in Cloud.answer }
        openAI.transcripts = [Cloud.question]
        try await Cloud.withCloudServer(
            deepgram: deepgram, openAI: openAI,
            adjust: { options, groq in
                options.speechToText = "deepgram,local"
                options.speechToTextURL = groq.baseURL
            }
        ) { port, _, _, _ in
            let result = try await Self.talk(port: port, turns: 1)
            let turn = try #require(result.turns.first)
            #expect(turn.transcript == Cloud.question)
            #expect(turn.reply == Cloud.answer)
            #expect(try await Self.metrics(port: port).contains(#"parley_provider_fallbacks_total{stage="stt",from="deepgram",to="openai-stt"} 1"#))
        }
    }
}
