import AsyncHTTPClient
import ParleyCore
import ParleyTesting
import Synchronization
import Testing

@testable import ParleyProviders

/// Whether a reply was cancelled, and audio that arrived after it.
final class Flags: Sendable {
    let cancelled = Mutex(false)
    let late = Mutex(0)
}

@Suite("OpenAI-compatible speech client against the fake /audio/speech")
struct OpenAISpeechTextToSpeechTests {
    static let key = "sk-test-speech-key"

    /// Speaks `sentences` through a client for a fake run with `configuration`; returns the chunks.
    static func speak(
        _ sentences: [String], _ configuration: FakeOpenAISpeechServer.Configuration, key: String? = key, voice: String = "alloy",
        check: @Sendable (FakeOpenAISpeechServer.Running, [AudioChunk]) throws -> Void = { _, _ in }
    ) async throws {
        try await FakeOpenAISpeechServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(
                    name: "openai-tts", baseURL: fake.baseURL, apiKey: key, httpClient: client, keyVariable: "OPENAI_API_KEY",
                    maximumRetryDelay: .seconds(1))
                let tts = OpenAISpeechTextToSpeech(endpoint: endpoint, model: "gpt-4o-mini-tts", voice: voice)
                let (text, sink) = AsyncStream.makeStream(of: String.self)
                for sentence in sentences { sink.yield(sentence) }
                sink.finish()
                var chunks: [AudioChunk] = []
                try await tts.synthesize(text, sampleRate: 16000) { chunks.append($0) }
                try check(fake, chunks)
            }
        }
    }

    @Test("one pcm request per sentence with the key, model and voice; audio exact across odd chunks; every character aligned once")
    func requestsAudioAndAlignment() async throws {
        let sentences = ["Hello there.", "The capital of France is Paris."]
        try await Self.speak(sentences, .init(apiKey: Self.key)) { fake, chunks in
            let requests = fake.requests
            try #require(requests.count == 2)
            for (index, request) in requests.enumerated() {
                #expect(request.path == "/v1/audio/speech")
                #expect(request.authorized)
                #expect(request.accept == "application/octet-stream")
                #expect(request.json?["model"] == "gpt-4o-mini-tts")
                #expect(request.json?["voice"] == "alloy")
                #expect(request.json?["response_format"] == "pcm")
                #expect(request.json?["input"]?.stringValue == sentences[index])
                #expect(request.json?["instructions"] == nil)
            }
            #expect(chunks.allSatisfy { $0.sampleRate == 24000 })
            let expected = sentences.enumerated().flatMap { fake.speech(for: $1, request: $0) }
            #expect(chunks.flatMap(\.samples) == expected)
            // Proportional timings: each sentence's characters, in order, each once.
            let aligned = chunks.compactMap(\.alignment).map(\.text).joined()
            #expect(aligned == sentences.map { $0 + " " }.joined())
        }
    }

    @Test("a rate= in the content type wins over 24 kHz; a local server needs no key")
    func contentTypeRate() async throws {
        var configuration = FakeOpenAISpeechServer.Configuration(errorShape: .kokoro)
        configuration.sampleRate = 22050
        configuration.pcmContentType = "audio/pcm;rate=22050"
        configuration.sentenceBursts = true
        try await Self.speak(["One. Two three."], configuration, key: nil) { fake, chunks in
            #expect(fake.requests.first?.authorized == true)
            #expect(!chunks.isEmpty && chunks.allSatisfy { $0.sampleRate == 22050 })
            #expect(chunks.flatMap(\.samples) == fake.speech(for: "One. Two three.", request: 0))
        }
    }

    @Test("a session's voice override is sent instead of the configured voice")
    func voiceOverride() async throws {
        try await ProviderContext.$voice.withValue("nova") {
            try await Self.speak(["Hi there."], .init(apiKey: Self.key)) { fake, _ in
                #expect(fake.requests.first?.json?["voice"] == "nova")
            }
        }
    }

    @Test("a refused key names OPENAI_API_KEY and never the key; a bad voice says why")
    func refusals() async throws {
        let refused = await #expect(throws: ProviderError.self) {
            try await Self.speak(["Hello."], .init(apiKey: Self.key), key: "sk-wrong-key-000")
        }
        #expect(refused?.kind == .rejected && refused?.status == 401)
        #expect(refused?.description.contains("OPENAI_API_KEY") == true)
        #expect(refused?.description.contains("sk-wrong") == false)
        let badVoice = await #expect(throws: ProviderError.self) {
            try await Self.speak(["Hello."], .init(apiKey: Self.key), voice: "robot")
        }
        #expect(badVoice?.status == 400)
        var kokoro = FakeOpenAISpeechServer.Configuration(errorShape: .kokoro)
        kokoro.voices = ["af_heart"]
        let kokoroVoice = await #expect(throws: ProviderError.self) {
            try await Self.speak(["Hello."], kokoro, key: nil, voice: "robot")
        }
        // FastAPI's {"detail": {"message": …}} reaches the error too.
        #expect(kokoroVoice?.description.contains("robot") == true)
    }

    @Test("a 429 with retry-after-ms is retried before any audio; a dropped body is a stream failure")
    func retryAndDrop() async throws {
        var limited = FakeOpenAISpeechServer.Configuration(apiKey: Self.key)
        limited.faults = [.status(429, retryAfterMilliseconds: "50")]
        try await Self.speak(["Hello there."], limited) { fake, chunks in
            #expect(fake.requests.count == 2)
            #expect(chunks.flatMap(\.samples) == fake.speech(for: "Hello there.", request: 1))
        }
        var dropping = FakeOpenAISpeechServer.Configuration(apiKey: Self.key)
        dropping.faults = [.dropAfter(bytes: 3001)]
        let dropped = await #expect(throws: ProviderError.self) {
            try await Self.speak(["Hello there, how are you today?"], dropping)
        }
        #expect(dropped?.kind == .streamEnded)
    }

    @Test("barge-in: cancelling closes the request in flight, the fake sees it abandoned, and no audio follows")
    func cancellation() async throws {
        var slow = FakeOpenAISpeechServer.Configuration(apiKey: Self.key)
        slow.chunkDelay = .milliseconds(20)
        try await FakeOpenAISpeechServer.run(slow) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(name: "openai-tts", baseURL: fake.baseURL, apiKey: Self.key, httpClient: client)
                let tts = OpenAISpeechTextToSpeech(endpoint: endpoint, model: "tts-1", voice: "alloy")
                let (text, sink) = AsyncStream.makeStream(of: String.self)
                sink.yield(String(repeating: "A long sentence that takes a while to say. ", count: 8))
                let flags = Flags()
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try? await tts.synthesize(text, sampleRate: 16000) { _ in
                            if flags.cancelled.withLock({ $0 }) { flags.late.withLock { $0 += 1 } }
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(150))
                    flags.cancelled.withLock { $0 = true }
                    group.cancelAll()
                }
                sink.finish()
                #expect(flags.late.withLock { $0 } == 0)
                let deadline = ContinuousClock.now + .seconds(3)
                while fake.abandonedStreams == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(fake.abandonedStreams == 1)
            }
        }
    }

    @Test("proportional timings: characters follow the audio at the learned pace; the last waits for the end")
    func proportionalAlignment() {
        var pace = ProportionalAlignment.Pace()
        var alignment = ProportionalAlignment("Hello there.", pace: pace)  // 13 characters, estimated 13 / 15 s
        let first = alignment.advance(by: .milliseconds(400))
        #expect(first.text == "Hello ")  // 6 of 13 end by 0.4 s of ~0.87 s
        let second = alignment.advance(by: .seconds(2))  // longer than estimated: all but the last
        #expect(second.text == "there.")
        #expect(second.characters.allSatisfy { $0.start >= .zero && $0.start + $0.duration <= .seconds(2) })
        #expect(alignment.finish().text == " ")
        pace.learn(characters: alignment.count, over: alignment.elapsed)
        #expect(pace.charactersPerSecond < 15)
    }

    @Test("text over 4096 characters goes in pieces cut at spaces")
    func pieces() {
        let long = String(repeating: "word ", count: 1000)
        let pieces = OpenAISpeechTextToSpeech.pieces(of: long)
        #expect(pieces.count == 2)
        #expect(pieces.allSatisfy { $0.count <= OpenAISpeechTextToSpeech.maximumInput })
        #expect(pieces.joined(separator: " ") == long.trimmingWhitespace())
        #expect(OpenAISpeechTextToSpeech.sampleRate(contentType: "audio/pcm; rate=22050") == 22050)
        #expect(OpenAISpeechTextToSpeech.sampleRate(contentType: "audio/pcm") == nil)
    }
}
