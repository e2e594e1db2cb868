import AsyncHTTPClient
import Foundation
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

@Suite("ElevenLabs HTTP streaming client")
struct ElevenLabsHTTPTextToSpeechTests {
    typealias Support = ElevenLabsTestSupport

    /// Runs `body` with a fake and an HTTP client, shutting the client down afterwards.
    static func withFake(
        _ configuration: FakeElevenLabsServer.Configuration = .init(),
        _ body: @Sendable (FakeElevenLabsServer, HTTPClient) async throws -> Void
    ) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await FakeElevenLabsServer.run(configuration) { fake in try await body(fake, client) }
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test("one POST per sentence as it arrives, with the key header, JSON body and PCM format; audio exact across odd chunks")
    func requestsAndAudio() async throws {
        try await Self.withFake(.init(audioChunkBytes: 777)) { fake, client in
            let tts = ElevenLabsHTTPTextToSpeech(configuration: Support.configuration(fake), httpClient: client)
            let (sentences, sink) = AsyncStream.makeStream(of: String.self)
            var chunks: [AudioChunk] = []
            var requestsAtFirstAudio: Int?
            sink.yield("Hello there.  ")
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                try await tts.synthesize(sentences, sampleRate: 16000) { chunk in
                    chunks.append(chunk)
                    if requestsAtFirstAudio == nil {
                        requestsAtFirstAudio = fake.httpRequests.count
                        // The second sentence only exists after the first one's audio has begun.
                        sink.yield("How are you?")
                        sink.yield("\n")
                        sink.finish()
                    }
                }
            }
            #expect(requestsAtFirstAudio == 1)
            let requests = fake.httpRequests
            try #require(requests.count == 2)
            for request in requests {
                #expect(request.method == "POST")
                #expect(request.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream")
                #expect(request.queryValue("output_format") == "pcm_16000")
                #expect(request.keyAccepted)
                #expect(request.contentType == "application/json")
                #expect(request.body?["model_id"] == "eleven_flash_v2_5")
                #expect(request.body?["voice_settings"]?["similarity_boost"] == 0.75)
                #expect(request.status == 200)
            }
            #expect(requests[0].body?["text"] == "Hello there.")
            #expect(requests[0].body?["previous_text"] == .null)
            #expect(requests[1].body?["text"] == "How are you?")
            #expect(requests[1].body?["previous_text"] == "Hello there.")
            let expected = fake.speech(for: "Hello there.", sampleRate: 16000) + fake.speech(for: "How are you?", sampleRate: 16000)
            #expect(Support.samples(chunks) == expected)
            #expect(chunks.count > 4)
            #expect(chunks.allSatisfy { $0.sampleRate == 16000 && $0.alignment == nil })
        }
    }

    @Test("a rate ElevenLabs does not offer is raised to the next one and reported in the chunks")
    func sampleRate() async throws {
        try await Self.withFake { fake, client in
            let tts = ElevenLabsHTTPTextToSpeech(configuration: Support.configuration(fake), httpClient: client)
            var chunks: [AudioChunk] = []
            try await tts.synthesize(Support.sentences(["Hi."]), sampleRate: 48000) { chunks.append($0) }
            #expect(fake.httpRequests.first?.queryValue("output_format") == "pcm_44100")
            #expect(chunks.allSatisfy { $0.sampleRate == 44100 })
            #expect(Support.samples(chunks) == fake.speech(for: "Hi.", sampleRate: 44100))
        }
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var fault: FakeElevenLabsServer.Fault?
        var apiKey: String?
        var voiceID: String?
        var status: Int
        var message: String
        var testDescription: String { "HTTP \(status)" + (fault.map { " \($0)" } ?? "") }
    }

    @Test(
        "error statuses become ProviderErrors with the status, ElevenLabs' code and message, and health marked failed",
        arguments: [
            ErrorCase(
                apiKey: "sk_wrong_secret_0123456789", status: 401,
                message: "ElevenLabs refused the API key (HTTP 401) — check ELEVENLABS_API_KEY (invalid_api_key: Invalid API key.)"),
            ErrorCase(
                fault: .quotaExceeded, status: 401,
                message: "HTTP 401: quota_exceeded: This request exceeds your quota of 10000. You have 3 credits remaining."),
            ErrorCase(
                fault: .tooManyConcurrentRequests, status: 429,
                message: "HTTP 429: too_many_concurrent_requests: Too many concurrent requests. Your plan allows 2 at a time."),
            ErrorCase(
                voiceID: "NoSuchVoice", status: 404,
                message: "HTTP 404: voice_not_found: A voice with voice_id NoSuchVoice was not found."),
            ErrorCase(
                fault: .reject(status: 422, body: #"{"detail":[{"loc":["body","model_id"],"msg":"unknown model","type":"value_error"}]}"#),
                status: 422, message: "HTTP 422: value_error: body.model_id: unknown model"),
        ])
    func errors(_ errorCase: ErrorCase) async throws {
        try await Self.withFake(.init(fault: errorCase.fault)) { fake, client in
            let health = ConnectionHealth()
            let configuration = Support.configuration(fake, apiKey: errorCase.apiKey) { configuration in
                configuration.health = health
                if let voiceID = errorCase.voiceID { configuration.voiceID = voiceID }
            }
            let tts = ElevenLabsHTTPTextToSpeech(configuration: configuration, httpClient: client)
            var chunks = 0
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in chunks += 1 }
            }
            #expect(error?.provider == "elevenlabs-http")
            #expect(error?.kind == .rejected)
            #expect(error?.status == errorCase.status)
            #expect(error?.message == errorCase.message)
            if let key = errorCase.apiKey { #expect(error?.description.contains(key) == false) }
            #expect(chunks == 0)
            #expect(health.snapshot.lastSucceeded == false)
            #expect(health.snapshot.failures == 1)
        }
    }

    @Test("a body that breaks off is streamEnded, after the audio that did arrive")
    func droppedBody() async throws {
        try await Self.withFake(.init(audioChunkBytes: 1001, fault: .dropAfterFirstAudio)) { fake, client in
            let tts = ElevenLabsHTTPTextToSpeech(configuration: Support.configuration(fake), httpClient: client)
            var chunks: [AudioChunk] = []
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["A sentence long enough for several chunks."]), sampleRate: 16000) {
                    chunks.append($0)
                }
            }
            #expect(error?.kind == .streamEnded)
            #expect(error?.message.contains("ElevenLabs") == true)
            let spoken = fake.speech(for: "A sentence long enough for several chunks.", sampleRate: 16000)
            #expect(Support.samples(chunks) == Array(spoken.prefix(500)))
        }
    }

    @Test("no response head within the connect timeout is a timeout; no server is unreachable")
    func connectFailures() async throws {
        try await Self.withFake(.init(fault: .stallFirstByte)) { fake, client in
            let tts = ElevenLabsHTTPTextToSpeech(
                configuration: Support.configuration(fake) { $0.connectTimeout = .milliseconds(300) }, httpClient: client)
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in }
            }
            #expect(error?.kind == .timeout)
        }
        let port = try await FakeProviderServer().run { $0 }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let tts = ElevenLabsHTTPTextToSpeech(
            configuration: .init(apiKey: "k", baseURL: "http://127.0.0.1:\(port)", connectTimeout: .milliseconds(500)), httpClient: client)
        let error = await Support.providerError {
            try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in }
        }
        try await client.shutdown()
        #expect(error?.kind == .unreachable)
        #expect(error?.message.contains("ElevenLabs") == true)
    }

    @Test("cancelling mid-sentence cancels the request at once and no audio is delivered after")
    func cancellation() async throws {
        try await Self.withFake(.init(audioChunkBytes: 1001, chunkPacing: .milliseconds(20))) { fake, client in
            let tts = ElevenLabsHTTPTextToSpeech(configuration: Support.configuration(fake), httpClient: client)
            let log = AudioLog()
            let text = String(repeating: "A long sentence. ", count: 8)
            let cancelledAt = try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask { try await tts.synthesize(Support.sentences([text]), sampleRate: 16000) { log.record($0) } }
                await log.firstAudio.wait()
                let cancelledAt = ContinuousClock.now
                group.cancelAll()
                await #expect(throws: CancellationError.self) { try await group.next() }
                #expect(ContinuousClock.now - cancelledAt < .seconds(2))
                return cancelledAt
            }
            let noticed = await fake.waitUntil { $0.httpRequests.first?.clientWentAway == true }
            #expect(noticed, "the fake never saw the client go away")
            let record = try #require(fake.httpRequests.first)
            #expect(try #require(record.finishedAt) - cancelledAt < .seconds(2))
            // 135 characters of 10 ms at 16 kHz are 43 200 bytes: 44 chunks had the request run on.
            #expect(record.audio.count < 22 * 1001)
            #expect(log.deliveredAfterCancellation == 0)
            let delivered = log.chunks.count
            try await Task.sleep(for: .milliseconds(100))
            #expect(log.chunks.count == delivered)
        }
    }
}
