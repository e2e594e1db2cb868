import AsyncHTTPClient
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

@Suite("The local engine's tool calls written as reply text, and the empty-content option")
struct OpenAICompatibleTextToolCallTests {
    typealias T = ToolCalling

    static func local(_ model: inout OpenAICompatibleLanguageModel) {
        model.toolCallsInText = true
        model.emptyToolCallContent = .emptyString
    }

    @Test(
        "each of Qwen's text shapes becomes a call and nothing is spoken",
        arguments: [FakeTextToolCallShape.doubledBraces, .codeFence, .toolCallTag, .toolsTag])
    func shapes(_ shape: FakeTextToolCallShape) async throws {
        let turn = FakeToolTurn(calls: [FakeToolCall(name: "get_weather", arguments: #"{"city": "Tokyo"}"#)])
        try await T.run(T.calling(turn, style: .text(shape)), configure: Self.local) { fake, result in
            let run = try result.get()
            #expect(run.pieces.isEmpty)
            #expect(run.calls.map(\.name) == ["get_weather"])
            #expect(run.calls.first?.arguments == #"{"city":"Tokyo"}"#)
            #expect(run.calls.first?.id.hasPrefix("call_0_") == true)
            #expect(fake.requests.count == 1)
        }
    }

    @Test("two calls in one text reply both come back")
    func twoTextCalls() async throws {
        let turn = FakeToolTurn(calls: [
            FakeToolCall(name: "get_weather", arguments: #"{"city": "Paris"}"#), FakeToolCall(name: "get_time", arguments: "{}"),
        ])
        try await T.run(T.calling(turn, style: .text(.toolCallTag)), configure: Self.local) { _, result in
            let calls = try result.get().calls
            #expect(calls.map(\.name) == ["get_weather", "get_time"])
        }
    }

    @Test("a plain answer streams unchanged, piece by piece")
    func plainAnswer() async throws {
        var configuration = FakeOpenAIServer.Configuration()
        configuration.reply = { _ in "It is sunny in Paris today." }
        try await T.run(configuration, configure: Self.local) { _, result in
            let run = try result.get()
            #expect(run.pieces.joined() == "It is sunny in Paris today.")
            #expect(run.pieces.count > 3)
            #expect(run.calls.isEmpty)
        }
    }

    @Test("junk markup naming no tool is not spoken: asked again with the call's shape spelled out, then without tools")
    func junkRetried() async throws {
        let turn = FakeToolTurn(calls: [FakeToolCall(name: "get_weather")])
        try await T.run(T.calling(turn, style: .text(.emptyToolsTag)), configure: Self.local) { fake, result in
            let run = try result.get()
            #expect(run.pieces.joined() == "It is sunny in Paris.")
            #expect(run.calls.isEmpty)
            #expect(fake.requests.count == 3)
            #expect(!fake.requests[1].tools.isEmpty)
            #expect(fake.requests[1].messages.first?.content.hasSuffix(OpenAICompatibleLanguageModel.callShapeHint) == true)
            #expect(fake.requests[0].messages.first?.content.contains("To call a tool") == false)
            #expect(fake.requests[2].tools.isEmpty)
            #expect(fake.requests[2].messages.first?.content.contains("To call a tool") == false)
        }
    }

    @Test("without the option, text that looks like a call is spoken as it is")
    func optionOff() async throws {
        let turn = FakeToolTurn(calls: [FakeToolCall(name: "get_weather", arguments: #"{"city": "Paris"}"#)])
        try await T.run(T.calling(turn, style: .text(.toolCallTag))) { _, result in
            let run = try result.get()
            #expect(run.calls.isEmpty)
            #expect(run.pieces.joined().hasPrefix("<tool_call>"))
        }
    }

    @Test("an assistant message with calls and no text sends content null, or \"\" for llama-cpp-python")
    func emptyContent() async throws {
        let messages =
            T.question + [
                .assistant("", toolCalls: [ToolCall(id: "call_1", name: "get_time", arguments: "")]), .tool(callID: "call_1", content: "12:00"),
            ]
        for (option, expected): (OpenAICompatibleLanguageModel.EmptyToolCallContent, JSONValue) in [(.null, .null), (.emptyString, "")] {
            try await T.run(FakeOpenAIServer.Configuration(), messages: messages, configure: { $0.emptyToolCallContent = option }) { fake, result in
                _ = try result.get()
                let sent = try #require(fake.requests.first?.json?["messages"]?.arrayValue)
                #expect(sent[2]["content"] == expected)
                #expect(sent[1]["content"] == "Weather in Paris?")
            }
        }
    }

    @Test("the text parser: leading whitespace, several shapes, unknown names ignored, parameters and string arguments")
    func parser() {
        let names: Set<String> = ["get_weather", "get_time"]
        #expect(
            TextToolCalls.calls(in: "  \n{{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}", toolNames: names).map(\.arguments) == [
                #"{"city":"Paris"}"#
            ])
        #expect(TextToolCalls.calls(in: #"{"name": "launch_rockets", "arguments": {}}"#, toolNames: names).isEmpty)
        #expect(TextToolCalls.calls(in: #"{"name": "get_time", "parameters": {}}"#, toolNames: names).map(\.name) == ["get_time"])
        #expect(
            TextToolCalls.calls(in: #"{"name": "get_time", "arguments": "{\"zone\": \"UTC\"}"}"#, toolNames: names).first?.arguments
                == #"{"zone":"UTC"}"#)
        #expect(TextToolCalls.calls(in: #"{"name": "get_time"}"#, toolNames: names).isEmpty)
        #expect(TextToolCalls.calls(in: "<tools></tools>", toolNames: names).isEmpty)
        #expect(
            TextToolCalls.calls(in: #"{"function": {"name": "get_time", "arguments": {"a": "}{"}}}"#, toolNames: names).first?.arguments
                == #"{"a":"}{"}"#)
        #expect(TextToolCalls.calls(in: #"{{"name": "get_time", "arguments": {{"zone": "UTC"}}}}"#, toolNames: names).count == 1)
        #expect(TextToolCalls.calls(in: "{\"name\": \"get_time\", \"arguments\": {", toolNames: names).isEmpty)
        #expect(TextToolCalls.opensMarkup("`") && TextToolCalls.opensMarkup("<") && !TextToolCalls.opensMarkup("I"))
    }

    @Test("with the local engine's option, a plain-text tool result is sent as {\"result\": …}; JSON results as they are")
    func plainResultsWrapped() {
        let local = OpenAICompatibleLanguageModel(
            endpoint: OpenAICompatibleEndpoint(name: "local", baseURL: "http://127.0.0.1:9/v1", httpClient: .shared), model: "m",
            emptyToolCallContent: .emptyString, toolCallsInText: true)
        func sent(_ model: OpenAICompatibleLanguageModel, _ content: String) -> JSONValue? {
            model.requestBody([.tool(callID: "a", content: content)])["messages"]?.arrayValue?.first?["content"]
        }
        #expect(sent(local, "Order 42 shipped.") == #"{"result":"Order 42 shipped."}"#)
        #expect(sent(local, #"{"temp":17}"#) == #"{"temp":17}"#)
        let cloud = OpenAICompatibleLanguageModel(
            endpoint: OpenAICompatibleEndpoint(name: "cloud", baseURL: "http://127.0.0.1:9/v1", httpClient: .shared), model: "m")
        #expect(sent(cloud, "Order 42 shipped.") == "Order 42 shipped.")
    }

    @Test("the session is told a call started as soon as its name is written, once; never for a plain answer")
    func announcesCalls() async throws {
        let turn = FakeToolTurn(calls: [FakeToolCall(name: "get_weather", arguments: #"{"city": "Paris"}"#)])
        for style in [FakeToolCallStyle.fragmented, .groq, .text(.doubledBraces), .text(.codeFence), .text(.toolCallTag)] {
            let local: @Sendable (inout OpenAICompatibleLanguageModel) -> Void = { model in
                if case .text = style { Self.local(&model) }
            }
            try await T.run(T.calling(turn, style: style), configure: local) { _, result in
                let run = try result.get()
                #expect(run.announced == ["get_weather"], "\(style)")
                #expect(run.calls.map(\.name) == ["get_weather"], "\(style)")
            }
        }
        var plain = FakeOpenAIServer.Configuration()
        plain.reply = { _ in "It is sunny." }
        try await T.run(plain, configure: Self.local) { _, result in
            let run = try result.get()
            #expect(run.announced.isEmpty)
        }
    }
}
