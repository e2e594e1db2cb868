import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

@Suite("OpenAI-compatible tool calling: faults and tool_choice in the fake")
struct OpenAICompatibleToolCallFaultTests {
    typealias T = ToolCalling
    static let call = FakeToolTurn(calls: [FakeToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)])

    @Test("Groq's tool_use_failed is retried once with the same request")
    func toolUseFailedRetried() async throws {
        var configuration = T.calling(Self.call, style: .groq)
        configuration.faults = [.toolUseFailed]
        try await T.run(configuration) { fake, result in
            let run = try result.get()
            #expect(run.calls.map(\.name) == ["get_weather"])
            #expect(fake.requests.count == 2)
            #expect(fake.requests.map(\.json) == [fake.requests[0].json, fake.requests[0].json])
        }
    }

    @Test("tool_use_failed twice (as HTTP 400 or as an error event) is answered without tools")
    func toolUseFailedAnsweredWithoutTools() async throws {
        for faults: [FakeOpenAIServer.Fault] in [[.toolUseFailed, .toolUseFailed], [.toolUseFailedEvent, .toolUseFailed]] {
            var configuration = T.calling(Self.call, style: .groq)
            configuration.faults = faults
            try await T.run(configuration) { fake, result in
                let run = try result.get()
                #expect(run.calls.isEmpty)
                #expect(run.pieces.joined() == "It is sunny in Paris.")
                #expect(fake.requests.count == 3)
                #expect(fake.requests[1].tools.count == 2)
                #expect(fake.requests[2].tools.isEmpty)
                #expect(fake.requests[2].json?["tool_choice"] == nil)
            }
        }
    }

    @Test("tool_use_failed with no tools offered is an error, not retried")
    func toolUseFailedWithoutTools() async throws {
        var configuration = FakeOpenAIServer.Configuration()
        configuration.faults = [.toolUseFailed]
        try await T.run(configuration, tools: []) { fake, result in
            let error = try #require(T.providerError(result))
            #expect(error.status == 400)
            #expect(error.message.contains("Failed to call a function"))
            #expect(!error.message.contains("gsk_"))
            #expect(fake.requests.count == 1)
        }
    }

    @Test("a stream cut after the call pieces, before finish_reason and [DONE], is streamEnded")
    func cutBeforeDone() async throws {
        var configuration = T.calling(Self.call)
        configuration.faults = [.cutBeforeFinish]
        try await T.run(configuration) { _, result in
            #expect(T.providerError(result)?.kind == .streamEnded)
        }
    }

    @Test("invalid JSON arguments and an unknown function are returned as the model wrote them")
    func badCallsReturned() async throws {
        var configuration = T.calling(Self.call)
        configuration.faults = [.invalidToolArguments, .unknownTool]
        try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(name: "llm", baseURL: fake.baseURL, httpClient: client)
                let model = OpenAICompatibleLanguageModel(endpoint: endpoint, model: "m")
                let invalid = try await model.complete(T.question, tools: [T.weather]) { _ in }
                #expect(invalid.first?.name == "get_weather")
                #expect(invalid.first?.parsedArguments == nil)
                let unknown = try await model.complete(T.question, tools: [T.weather]) { _ in }
                #expect(unknown.first?.name == "unknown_tool")
            }
        }
    }

    @Test("tool_choice none never calls, required always calls, a named function is the one called")
    func toolChoice() async throws {
        try await T.run(T.calling(Self.call), configure: { $0.extraFields = ["tool_choice": "none"] }) { _, result in
            let calls = try result.get().calls
            #expect(calls.isEmpty)
        }
        try await T.run(FakeOpenAIServer.Configuration(), configure: { $0.extraFields = ["tool_choice": "required"] }) { _, result in
            let calls = try result.get().calls
            #expect(calls.map(\.name) == ["get_weather"])
        }
        let named: JSONValue = ["type": "function", "function": ["name": "get_time"]]
        try await T.run(T.calling(Self.call), configure: { $0.extraFields = ["tool_choice": named] }) { _, result in
            let calls = try result.get().calls
            #expect(calls.map(\.name) == ["get_time"])
        }
    }

    @Test("parallel_tool_calls false leaves one call")
    func parallelOff() async throws {
        let two = FakeToolTurn(calls: [FakeToolCall(name: "get_weather"), FakeToolCall(name: "get_time")])
        try await T.run(T.calling(two), configure: { $0.parallelToolCalls = false }) { _, result in
            let calls = try result.get().calls
            #expect(calls.map(\.name) == ["get_weather"])
        }
    }
}
