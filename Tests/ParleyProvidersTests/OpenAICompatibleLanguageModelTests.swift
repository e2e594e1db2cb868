import AsyncHTTPClient
import ParleyCore
import ParleyProviders
import ParleyTesting
import Synchronization
import Testing

/// Runs `body` with an HTTP client that is shut down afterwards.
func withHTTPClient<Result: Sendable>(_ body: (HTTPClient) async throws -> Result) async throws -> Result {
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(5), read: .seconds(30))))
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

@Suite("OpenAI-compatible chat client against the fake Groq/OpenAI server")
struct OpenAICompatibleLanguageModelTests {
    static let key = "gsk_test_secret_key_123"
    static let question: [ChatMessage] = [.system("Be brief."), .user("Hello?")]

    /// Streams one reply through a client for `fake`, returning the text pieces received.
    static func complete(
        _ configuration: FakeOpenAIServer.Configuration, key: String? = key, model: String = "openai/gpt-oss-20b",
        maxTokens: Int = 400, health: ConnectionHealth = ConnectionHealth(),
        check: @Sendable (FakeOpenAIServer.Running, Result<[String], any Error>) throws -> Void
    ) async throws {
        try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(
                    name: "groq", baseURL: fake.groqBaseURL, apiKey: key, httpClient: client, keyVariable: "GROQ_API_KEY",
                    maximumRetryDelay: .seconds(1), health: health)
                let model = OpenAICompatibleLanguageModel.groq(endpoint: endpoint, model: model, maxTokens: maxTokens)
                let pieces = Mutex<[String]>([])
                let result: Result<[String], any Error>
                do {
                    try await model.complete(question) { piece in pieces.withLock { $0.append(piece) } }
                    result = .success(pieces.withLock { $0 })
                } catch {
                    result = .failure(error)
                }
                try check(fake, result)
            }
        }
    }

    static func providerError(_ result: Result<[String], any Error>) -> ProviderError? {
        guard case .failure(let error) = result else { return nil }
        return error as? ProviderError
    }

    @Test("an error thrown by the caller's text callback comes back as itself, not as a provider failure")
    func callerStops() async throws {
        struct Enough: Error {}
        try await FakeOpenAIServer.run(FakeOpenAIServer.Configuration(apiKey: Self.key)) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(name: "groq", baseURL: fake.groqBaseURL, apiKey: Self.key, httpClient: client)
                let model = OpenAICompatibleLanguageModel(endpoint: endpoint, model: "m", maxTokens: 100)
                await #expect(throws: Enough.self) {
                    try await model.complete(Self.question) { _ in throw Enough() }
                }
            }
        }
    }

    @Test("a Groq stream arrives piece by piece; reasoning is requested hidden and never spoken")
    func groqStream() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.models = ["openai/gpt-oss-20b"]
        configuration.reasoning = "The user greets me. I should greet back."
        configuration.reply = { _ in "Hi there! Nice to meet you." }
        try await Self.complete(configuration) { fake, result in
            let pieces = try result.get()
            #expect(pieces.joined() == "Hi there! Nice to meet you.")
            #expect(pieces.count > 3)
            let request = try #require(fake.requests.first?.json)
            #expect(request["stream"]?.boolValue == true)
            #expect(request["reasoning_effort"]?.stringValue == "low")
            #expect(request["include_reasoning"]?.boolValue == false)
            #expect(request["messages"]?.arrayValue?.count == 2)
            #expect(fake.requests.first?.authorized == true)
        }
    }

    @Test("reasoning deltas that arrive anyway are not passed on")
    func reasoningIgnored() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.reasoning = "Secret thoughts."
        configuration.reply = { _ in "Spoken words." }
        try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(name: "openai", baseURL: fake.baseURL, apiKey: Self.key, httpClient: client)
                let model = OpenAICompatibleLanguageModel(endpoint: endpoint, model: "any")
                let text = Mutex("")
                try await model.complete(Self.question) { piece in text.withLock { $0 += piece } }
                #expect(text.withLock { $0 } == "Spoken words.")
            }
        }
    }

    @Test("events split at every few bytes, CRLF line ends and ping comments give the same text")
    func chaoticFraming() async throws {
        for seed: UInt64 in [1, 2, 3] {
            var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
            configuration.reply = { _ in "Größe — naïve café, ok? 日本語 too." }
            configuration.splitWrites = seed
            configuration.crlf = seed == 2
            configuration.pings = seed != 1
            try await Self.complete(configuration) { _, result in
                let text = try result.get().joined()
                #expect(text == "Größe — naïve café, ok? 日本語 too.")
            }
        }
    }

    @Test("OpenAI-style streams with a separate usage chunk complete")
    func openAIUsageChunk() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.flavor = .openAI
        try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(name: "openai", baseURL: fake.baseURL, apiKey: Self.key, httpClient: client)
                let model = OpenAICompatibleLanguageModel(
                    endpoint: endpoint, model: "gpt-4o-mini", extraFields: ["stream_options": ["include_usage": true]])
                let text = Mutex("")
                try await model.complete(Self.question) { piece in text.withLock { $0 += piece } }
                #expect(text.withLock { $0 } == "Hello from the fake model. How can I help?")
            }
        }
    }

    @Test("a refused key is an error naming the provider and the variable, never the key")
    func badKey() async throws {
        let health = ConnectionHealth()
        try await Self.complete(FakeOpenAIServer.Configuration(apiKey: "gsk_other"), health: health) { _, result in
            let error = try #require(Self.providerError(result))
            #expect(error.status == 401)
            #expect(error.description.hasPrefix("groq: "))
            #expect(error.description.contains("Invalid API Key"))
            #expect(error.description.contains("GROQ_API_KEY"))
            #expect(!error.description.contains(Self.key))
        }
        #expect(health.snapshot.lastSucceeded == false)
    }

    @Test("an unknown model is a 404 error with the server's message")
    func unknownModel() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.models = ["openai/gpt-oss-20b"]
        try await Self.complete(configuration, model: "llama-3.1-8b-instant") { _, result in
            let error = try #require(Self.providerError(result))
            #expect(error.status == 404)
            #expect(error.description.contains("does not exist"))
        }
    }

    @Test("a 413 is not retried")
    func tooLarge() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.faults = [.status(413)]
        try await Self.complete(configuration) { fake, result in
            #expect(Self.providerError(result)?.status == 413)
            #expect(fake.requests.count == 1)
        }
    }

    @Test("429 and 503 are retried after retry-after / retry-after-ms, then the reply streams")
    func retries() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.faults = [.status(429, retryAfter: "0.2"), .status(503, retryAfterMilliseconds: "50")]
        let health = ConnectionHealth()
        try await Self.complete(configuration, health: health) { fake, result in
            let text = try result.get().joined()
            #expect(text == "Hello from the fake model. How can I help?")
            let times = fake.requests.map(\.at)
            #expect(times.count == 3)
            #expect(times[1] - times[0] >= .milliseconds(190))
            #expect(times[2] - times[1] >= .milliseconds(45))
        }
        #expect(health.snapshot.lastSucceeded == true)
    }

    @Test("retries are bounded, and a retry-after longer than a listener can wait (or absurd) is not waited for")
    func retryLimits() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.faults = [
            .status(500, retryAfterMilliseconds: "10"), .status(500, retryAfterMilliseconds: "10"), .status(500, retryAfterMilliseconds: "10"),
        ]
        try await Self.complete(configuration) { fake, result in
            #expect(Self.providerError(result)?.status == 500)
            #expect(Self.providerError(result)?.description.contains("after 2 retries") == true)
            #expect(fake.requests.count == 3)
        }
        // 1e300 ms and infinite seconds trapped converting to Duration before they were capped.
        for fault in [
            FakeOpenAIServer.Fault.status(429, retryAfter: "30"), .status(429, retryAfterMilliseconds: "1e300"), .status(429, retryAfter: "inf"),
        ] {
            var patient = FakeOpenAIServer.Configuration(apiKey: Self.key)
            patient.faults = [fault]
            try await Self.complete(patient) { fake, result in
                let error = try #require(Self.providerError(result))
                #expect(error.status == 429)
                #expect(error.description.contains("rate limited"))
                #expect(fake.requests.count == 1)
            }
        }
    }

    @Test("an error object after HTTP 200 ends the reply with that error")
    func midStreamError() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.faults = [.errorAfter(tokens: 2), .groqErrorAfter(tokens: 1)]
        try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(name: "groq", baseURL: fake.groqBaseURL, apiKey: Self.key, httpClient: client)
                let model = OpenAICompatibleLanguageModel(endpoint: endpoint, model: "m")
                for expected in ["The server had an error", "service_unavailable"] {
                    let text = Mutex("")
                    let error = await #expect(throws: ProviderError.self) {
                        try await model.complete(Self.question) { piece in text.withLock { $0 += piece } }
                    }
                    #expect(error?.description.contains(expected) == true)
                    #expect(!text.withLock { $0 }.isEmpty)
                }
            }
        }
    }

    @Test("a stream that ends or drops before [DONE] is an error, as is a chunk that is not JSON")
    func truncated() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.faults = [.endAfter(tokens: 3), .dropAfter(tokens: 2), .malformedChunk]
        try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(name: "groq", baseURL: fake.groqBaseURL, apiKey: Self.key, httpClient: client)
                let model = OpenAICompatibleLanguageModel(endpoint: endpoint, model: "m")
                for expected: ProviderError.Kind in [.streamEnded, .streamEnded, .badResponse] {
                    let error = await #expect(throws: ProviderError.self) {
                        try await model.complete(Self.question) { _ in }
                    }
                    #expect(error?.kind == expected)
                }
            }
        }
    }

    @Test("the token limit is sent and a cut reply still completes")
    func tokenLimit() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.reply = { _ in "one two three four five six seven eight" }
        try await Self.complete(configuration, maxTokens: 3) { fake, result in
            let text = try result.get().joined()
            #expect(text == "one two three")
            #expect(fake.requests.first?.json?["max_tokens"]?.intValue == 3)
        }
    }

    @Test("cancelling the caller closes the HTTP stream")
    func cancellation() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: Self.key)
        configuration.reply = { _ in String(repeating: "word ", count: 200) }
        configuration.tokenDelay = .milliseconds(20)
        try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(name: "groq", baseURL: fake.groqBaseURL, apiKey: Self.key, httpClient: client)
                let model = OpenAICompatibleLanguageModel(endpoint: endpoint, model: "m")
                let received = Counter()
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try? await model.complete(Self.question) { _ in received.add() }
                    }
                    while received.value < 3 { try? await Task.sleep(for: .milliseconds(5)) }
                    group.cancelAll()
                }
                let countAtCancel = received.value
                // The fake notices the closed connection on its next write.
                let deadline = ContinuousClock.now + .seconds(5)
                while fake.abandonedStreams == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                #expect(fake.abandonedStreams == 1)
                #expect(received.value == countAtCancel)
            }
        }
    }
}

/// A counter shared between tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
