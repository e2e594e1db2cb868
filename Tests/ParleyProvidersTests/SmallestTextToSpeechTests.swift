import AsyncHTTPClient
import Foundation
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// `SmallestTextToSpeech` (Lightning) against the fake smallest.ai: the messages, the audio, the
/// terminator, rates, and failures; and the fake's HTTP routes.
@Suite("smallest.ai Lightning client")
struct SmallestTextToSpeechTests {
    typealias Support = ElevenLabsTestSupport
    static let key = "sm_test_secret_0123456789"
    static let reply = ["Paris is the capital of France.", "It is lovely in spring."]

    static func client(
        _ fake: FakeSmallestServer.Running, key: String = key, configure: (inout SmallestTextToSpeech) -> Void = { _ in }
    )
        -> SmallestTextToSpeech
    {
        var client = SmallestTextToSpeech(apiKey: key, baseURL: fake.baseURL, connectTimeout: .seconds(5), responseTimeout: .seconds(5))
        configure(&client)
        return client
    }

    static func speak(_ client: SmallestTextToSpeech, _ sentences: [String] = reply, sampleRate: Int = 16000) async throws -> [AudioChunk] {
        let log = AudioLog()
        try await client.synthesize(Support.sentences(sentences), sampleRate: sampleRate) { log.record($0) }
        return log.chunks
    }

    @Test("a reply of two sentences: exactly the fake's speech at the session's rate; complete ends the call at once")
    func twoSentences() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key)) { fake in
            for rate in [16000, 8000] {
                let start = ContinuousClock.now
                let chunks = try await Self.speak(Self.client(fake), sampleRate: rate)
                #expect(ContinuousClock.now - start < .seconds(2), "complete comes at once, not after Lightning's 4 s default backoff")
                let expected = Self.reply.flatMap {
                    FakeSmallestServer.speech(for: $0, sampleRate: rate, durationPerCharacter: .milliseconds(10))
                }
                #expect(Support.samples(chunks) == expected)
                #expect(chunks.allSatisfy { $0.sampleRate == rate })
            }
            let record = try #require(fake.lightningConnections.first)
            #expect(record.path == "/waves/v1/tts/live" && record.authorized)
            let sent = record.received.compactMap { $0 }
            #expect(sent.map { $0["text"]?.stringValue } == Self.reply + [""])
            #expect(sent.map { $0["continue"]?.boolValue } == [true, true, false])
            #expect(sent.allSatisfy { $0["flush"]?.boolValue == true && $0["voice_id"]?.stringValue == "magnus" })
            #expect(sent.allSatisfy { $0["model"]?.stringValue == "lightning_v3.1" && $0["sample_rate"]?.doubleValue == 16000 })
            #expect(sent.last?["complete_backoff_ms"]?.doubleValue == 0)
            #expect(record.sentKinds.last == "complete")
            #expect(fake.lightningConnections.count == 2, "one socket per reply")
        }
    }

    @Test("a rate Lightning lacks asks for the next one up and says so in the chunks")
    func unsupportedRate() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key)) { fake in
            let chunks = try await Self.speak(Self.client(fake), ["Hello."], sampleRate: 22050)
            #expect(chunks.allSatisfy { $0.sampleRate == 24000 })
            #expect(Support.samples(chunks) == FakeSmallestServer.speech(for: "Hello.", sampleRate: 24000, durationPerCharacter: .milliseconds(10)))
            #expect(SmallestTextToSpeech.outputSampleRate(for: 48000) == 44100)
        }
    }

    @Test("a session's voice override is the voice_id sent")
    func voiceOverride() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key)) { fake in
            _ = try await ProviderContext.$voice.withValue("emily") { try await Self.speak(Self.client(fake), ["Hi."]) }
            #expect(fake.lightningConnections.first?.received.first??["voice_id"]?.stringValue == "emily")
        }
    }

    @Test("a refused key is a ProviderError naming SMALLEST_API_KEY, never the key")
    func refusedKey() async throws {
        try await FakeSmallestServer.run(.init(apiKey: "the-right-key")) { fake in
            let health = ConnectionHealth()
            let error = await Support.providerError { _ = try await Self.speak(Self.client(fake) { $0.health = health }) }
            #expect(error?.status == 401 && error?.kind == .rejected)
            #expect(error?.message.contains("SMALLEST_API_KEY") == true)
            #expect(!"\(String(describing: error))".contains(Self.key))
            #expect(health.snapshot.lastSucceeded == false)
        }
    }

    @Test("errors in both shapes: an unknown voice's message, and an error object mid-stream")
    func errors() async throws {
        var configuration = FakeSmallestServer.Configuration(apiKey: Self.key)
        configuration.faults = [.errorAfterMessages(100, message: "unused"), .errorAfterMessages(1, message: "synthesis backend unavailable")]
        try await FakeSmallestServer.run(configuration) { fake in
            let voice = await Support.providerError { _ = try await Self.speak(Self.client(fake) { $0.voiceID = "nobody" }) }
            #expect(voice?.message.contains("Invalid voice_id: nobody") == true)
            let midStream = await Support.providerError { _ = try await Self.speak(Self.client(fake)) }
            #expect(midStream?.message.contains("(INTERNAL_ERROR): synthesis backend unavailable") == true)
        }
    }

    @Test("a retired route's 410, a drop before complete, a stall, and audio that is not base64 are each a clear error")
    func faults() async throws {
        var configuration = FakeSmallestServer.Configuration(apiKey: Self.key)
        configuration.faults = [
            .rejectHandshake(
                status: 410,
                body: #"{"status":"error","error_code":"MODEL_DEPRECATED","message":"retired","recommended_endpoint":"/waves/v1/tts/live"}"#),
            .dropAfterMessages(1), .stall, .badAudio,
        ]
        try await FakeSmallestServer.run(configuration) { fake in
            let retired = await Support.providerError { _ = try await Self.speak(Self.client(fake)) }
            #expect(retired?.status == 410 && retired?.message.contains("MODEL_DEPRECATED: retired (use /waves/v1/tts/live)") == true)
            let dropped = await Support.providerError { _ = try await Self.speak(Self.client(fake)) }
            #expect(dropped?.kind == .streamEnded)
            let stalled = await Support.providerError { _ = try await Self.speak(Self.client(fake) { $0.responseTimeout = .milliseconds(300) }) }
            #expect(stalled?.kind == .timeout)
            let garbled = await Support.providerError { _ = try await Self.speak(Self.client(fake)) }
            #expect(garbled?.kind == .badResponse && garbled?.message.contains("not base64") == true)
        }
    }

    @Test("cancelling the reply closes the socket at once and delivers no more audio", .timeLimit(.minutes(1)))
    func cancellation() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key)) { fake in
            let log = AudioLog()
            let (text, sink) = AsyncStream.makeStream(of: String.self)
            sink.yield("A first sentence that is long enough to come in several chunks.")
            let client = Self.client(fake)
            let task = Task { try await client.synthesize(text, sampleRate: 16000) { log.record($0) } }
            await log.firstAudio.wait()
            task.cancel()
            let start = ContinuousClock.now
            _ = await task.result
            #expect(ContinuousClock.now - start < .seconds(1))
            #expect(log.deliveredAfterCancellation == 0)
        }
    }

    @Test("the fake's HTTP routes: sync WAV, SSE with its done terminator, and 401")
    func httpRoutes() async throws {
        try await FakeSmallestServer.run(.init(apiKey: Self.key)) { fake in
            let body = #"{"text":"Hi.","voice_id":"magnus","sample_rate":16000}"#
            func post(_ path: String, accept: String? = nil, key: String = Self.key) async throws -> (Int, [UInt8]) {
                var request = HTTPClientRequest(url: fake.baseURL + path)
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(key)")
                if let accept { request.headers.add(name: "Accept", value: accept) }
                request.body = .bytes(Array(body.utf8))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                return (Int(response.status.code), Array(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            let (status, wav) = try await post("/waves/v1/tts", accept: "audio/wav")
            #expect(status == 200)
            let file = try WAVFile(bytes: wav)
            #expect(file.sampleRate == 16000)
            let (sseStatus, sse) = try await post("/waves/v1/tts/live")
            let text = String(decoding: sse, as: UTF8.self)
            #expect(sseStatus == 200 && text.hasPrefix("event: audio\ndata: "))
            #expect(text.hasSuffix(#"data: {"done":true,"status":"200"}"# + "\n\n"))
            #expect(try await post("/waves/v1/tts", key: "wrong").0 == 401)
            #expect(try await post("/waves/v1/lightning-large/get_speech").0 == 410)
        }
    }
}
