import AsyncHTTPClient
import ParleyCore
import ParleyProviders
import ParleyTesting
import Synchronization

/// What one `complete` call with tools produced: the text pieces spoken and the calls returned.
struct ToolRun: Sendable {
    var pieces: [String]
    var calls: [ToolCall]
    /// The tools the client announced as started (`ProviderContext.toolCallStarted`), in order.
    var announced: [String] = []
}

/// Helpers for the tool-calling tests against the fake OpenAI-compatible server.
enum ToolCalling {
    static let weather = ToolDefinition(
        name: "get_weather", description: "Current weather for a city",
        parameters: ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]])
    static let clock = ToolDefinition(name: "get_time", description: "The time now")
    static let question: [ChatMessage] = [.system("Be brief."), .user("Weather in Paris?")]

    /// Runs one `complete` through a client for a fake with `configuration`.
    static func run(
        _ configuration: FakeOpenAIServer.Configuration, messages: [ChatMessage] = question, tools: [ToolDefinition] = [weather, clock],
        configure: @Sendable (inout OpenAICompatibleLanguageModel) -> Void = { _ in },
        check: @Sendable (FakeOpenAIServer.Running, Result<ToolRun, any Error>) throws -> Void
    ) async throws {
        try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(
                    name: "groq", baseURL: fake.groqBaseURL, apiKey: "gsk_tool_test_key", httpClient: client, maximumRetryDelay: .seconds(1))
                var model = OpenAICompatibleLanguageModel(endpoint: endpoint, model: "m", temperature: 0, maxTokens: 400)
                configure(&model)
                let pieces = Mutex<[String]>([])
                let announced = Mutex<[String]>([])
                let result: Result<ToolRun, any Error>
                do {
                    let calls = try await ProviderContext.$toolCallStarted.withValue(
                        ToolCallAnnouncer { name in announced.withLock { $0.append(name) } }
                    ) {
                        try await model.complete(messages, tools: tools) { piece in pieces.withLock { $0.append(piece) } }
                    }
                    result = .success(ToolRun(pieces: pieces.withLock { $0 }, calls: calls, announced: announced.withLock { $0 }))
                } catch {
                    result = .failure(error)
                }
                try check(fake, result)
            }
        }
    }

    /// A configuration whose model makes `turn` whenever tools are offered.
    static func calling(_ turn: FakeToolTurn, style: FakeToolCallStyle = .fragmented) -> FakeOpenAIServer.Configuration {
        var configuration = FakeOpenAIServer.Configuration()
        configuration.toolCalls = { _, _ in turn }
        configuration.toolCallStyle = style
        configuration.reply = { _ in "It is sunny in Paris." }
        return configuration
    }

    static func providerError<T>(_ result: Result<T, any Error>) -> ProviderError? {
        guard case .failure(let error) = result else { return nil }
        return error as? ProviderError
    }
}
