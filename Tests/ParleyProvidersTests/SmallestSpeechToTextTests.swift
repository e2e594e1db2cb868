import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// `SmallestSpeechToText` (Pulse) against the fake smallest.ai: the query, transcripts, `finalize`,
/// `close_stream`, telephony audio, and failures.
@Suite("smallest.ai Pulse client")
struct SmallestSpeechToTextTests {
    typealias Support = DeepgramTestSupport
    static let key = "sm_test_secret_0123456789"

    static func client(
        _ fake: FakeSmallestServer.Running, key: String = key, health: ConnectionHealth = ConnectionHealth(),
        configure: (inout SmallestSpeechToText) -> Void = { _ in }
    ) -> SmallestSpeechToText {
        var client = SmallestSpeechToText(apiKey: key, baseURL: fake.baseURL, connectTimeout: .seconds(5), closeTimeout: .seconds(3), health: health)
        configure(&client)
        return client
    }

    @Test("connects to /waves/v1/stt/live with Bearer auth and the query a voice agent needs")
    func handshake() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key)) { fake in
            let health = ConnectionHealth()
            let outcome = await ProviderContext.$sessionID.withValue("session/42") {
                await Support.transcribe(Self.client(fake, health: health)) { _ in }
            }
            #expect(outcome.error == nil)
            let record = try #require(fake.pulseConnections.first)
            #expect(record.path == "/waves/v1/stt/live" && record.authorized)
            let expected = [
                ("model", "pulse"), ("language", "en"), ("encoding", "linear16"), ("sample_rate", "16000"), ("endpointing", "true"),
                ("eou_timeout_ms", "800"), ("finalize_on_words", "false"), ("vad_events", "true"), ("external_session_id", "session42"),
            ]
            #expect(record.query.map(\.0) == expected.map(\.0))
            #expect(record.query.map(\.1) == expected.map(\.1))
            #expect(record.controlTypes == ["close_stream"])
            #expect(health.snapshot.lastSucceeded == true)
        }
    }

    @Test("speech start, growing partials, and the final that Pulse's endpointing sends ends the turn")
    func endpointed() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key, utterances: ["What is the weather like?"])) { fake in
            let outcome = await Support.transcribe(Self.client(fake)) { input in
                try await Support.yield(Support.frames(Support.speech(.milliseconds(1000)) + Support.silence(.milliseconds(700))), to: input)
            }
            #expect(outcome.error == nil)
            #expect(outcome.events.first == .speechStarted)
            #expect(Support.partials(outcome.events) == ["What", "What is", "What is the", "What is the weather like?"])
            #expect(Support.finals(outcome.events) == [.final("What is the weather like?", endsTurn: true)])
            #expect(fake.pulseConnections.first?.controlTypes == ["close_stream"], "no finalize: Pulse ended the turn first")
        }
    }

    @Test("Parley's end of speech before Pulse's endpointing sends finalize once, and its final ends the turn")
    func finalizeFirst() async throws {
        var configuration = FakeSmallestServer.Configuration(apiKey: Self.key, utterances: ["Stop right there."])
        configuration.endpointingSilence = .seconds(5)
        try await FakeSmallestServer.run(configuration) { fake in
            let outcome = await Support.transcribe(Self.client(fake)) { input in
                input.yield(.speechStarted)
                try await Support.yield(Support.frames(Support.speech(.milliseconds(800)) + Support.silence(.milliseconds(300))), to: input)
                input.yield(.speechEnded)
                input.yield(.speechEnded)
                #expect(await fake.waitUntil { $0.pulseConnections.first?.sent.contains { $0.contains("from_finalize") } == true })
            }
            #expect(outcome.error == nil)
            let record = try #require(fake.pulseConnections.first)
            #expect(record.controlTypes == ["finalize", "close_stream"], "one finalize per turn")
            #expect(Support.finals(outcome.events) == [.final("Stop right there.", endsTurn: true)])
            #expect(record.sent.contains { $0.contains(#""from_finalize":true"#) })
        }
    }

    @Test("the end of input sends close_stream; the last words come with is_last; a silent turn's finalize is no speech")
    func closeStream() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key, utterances: ["Goodbye now."])) { fake in
            let outcome = await Support.transcribe(Self.client(fake)) { input in
                try await Support.yield(Support.frames(Support.speech(.milliseconds(600))), to: input)
            }
            #expect(outcome.error == nil)
            #expect(Support.finals(outcome.events) == [.final("Goodbye now.", endsTurn: true)])
            #expect(fake.pulseConnections.first?.sent.last?.contains(#""is_last":true"#) == true)
        }
    }

    @Test("phone calls: μ-law at 8 kHz")
    func mulaw() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key, utterances: ["Hi."])) { fake in
            let client = Self.client(fake) {
                $0.encoding = .mulaw
                $0.sampleRate = 8000
            }
            let audio = Support.speech(.milliseconds(600), sampleRate: 8000) + Support.silence(.milliseconds(700), sampleRate: 8000)
            let outcome = await Support.transcribe(client) { input in try await Support.yield(Support.frames(audio, sampleRate: 8000), to: input) }
            #expect(outcome.error == nil)
            let record = try #require(fake.pulseConnections.first)
            #expect(record.queryValue("encoding") == "mulaw" && record.queryValue("sample_rate") == "8000")
            #expect(record.audioBytes == audio.count)
            #expect(Support.finals(outcome.events) == [.final("Hi.", endsTurn: true)])
        }
    }

    @Test("a refused key is a ProviderError naming SMALLEST_API_KEY and HTTP 401, never the key")
    func refusedKey() async throws {
        try await FakeSmallestServer.run(.init(apiKey: "the-right-key")) { fake in
            let health = ConnectionHealth()
            let outcome = await Support.transcribe(Self.client(fake, health: health)) { _ in }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.provider == "smallest" && error.kind == .rejected && error.status == 401)
            #expect(error.message.contains("SMALLEST_API_KEY"))
            #expect(!"\(error)".contains(Self.key))
            #expect(health.snapshot.lastSucceeded == false)
        }
    }

    @Test("a language Pulse needs is refused with HTTP 400 and smallest.ai's reason")
    func badParameters() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key)) { fake in
            let outcome = await Support.transcribe(Self.client(fake) { $0.language = "" }) { _ in }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.status == 400)
            #expect(error.message.contains("rejected the connection parameters") && error.message.contains("language is required"))
        }
    }

    @Test("an error message and the close after it end recognition with the message, the key redacted even from logs; 1008 names the session limit")
    func serverErrors() async throws {
        var configuration = FakeSmallestServer.Configuration(apiKey: Self.key, utterances: ["One two three."])
        configuration.faults = [.errorAfterMessages(2, message: "inference backend unavailable for key \(Self.key)"), .concurrencyClose]
        try await FakeSmallestServer.run(configuration) { fake in
            let speech = Support.frames(Support.speech(.milliseconds(1000)) + Support.silence(.milliseconds(700)))
            let store = Support.CapturingLogHandler.Store()
            let first = await Support.transcribe(Self.client(fake) { $0.logger = Support.capturingLogger(store) }) { input in
                try await Support.yield(speech, to: input)
                try await Task.sleep(for: .seconds(1))
            }
            let error = try #require(first.error as? ProviderError)
            #expect(error.kind == .streamEnded && error.message.contains("inference backend unavailable for key [redacted]"))
            #expect(store.entries.contains { $0.text.contains("inference backend unavailable") })
            #expect(!store.entries.contains { $0.text.contains(Self.key) })
            let second = await Support.transcribe(Self.client(fake)) { _ in try await Task.sleep(for: .seconds(1)) }
            let limit = try #require(second.error as? ProviderError)
            #expect(limit.message.contains("1008") && limit.message.contains("too many open sessions"))
        }
    }

    @Test("cancelling the task closes the stream at once")
    func cancellation() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key)) { fake in
            let client = Self.client(fake)
            let task = Task { await Support.transcribe(client) { _ in try await Task.sleep(for: .seconds(30)) } }
            #expect(await fake.waitUntil { $0.pulseConnections.count == 1 })
            let start = ContinuousClock.now
            task.cancel()
            _ = await task.value
            #expect(ContinuousClock.now - start < .seconds(2))
        }
    }
}
