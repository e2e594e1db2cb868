import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

@Suite("OpenAI-compatible tool calling against the fake server")
struct OpenAICompatibleToolCallingTests {
    typealias T = ToolCalling

    @Test("offered tools go out as tools with tool_choice auto; parallel_tool_calls only when set")
    func requestCarriesTools() async throws {
        try await T.run(FakeOpenAIServer.Configuration()) { fake, result in
            let run = try result.get()
            #expect(run.calls.isEmpty)
            #expect(!run.pieces.isEmpty)
            let request = try #require(fake.requests.first)
            #expect(request.tools == [T.weather, T.clock])
            let json = try #require(request.json)
            #expect(json["tool_choice"] == "auto")
            #expect(json["parallel_tool_calls"] == nil)
            let first = try #require(json["tools"]?.arrayValue?.first)
            #expect(first["type"] == "function")
            #expect(first["function"]?["name"] == "get_weather")
            #expect(first["function"]?["parameters"] == T.weather.parameters)
        }
        try await T.run(FakeOpenAIServer.Configuration(), configure: { $0.parallelToolCalls = true }) { fake, result in
            _ = try result.get()
            #expect(fake.requests.first?.json?["parallel_tool_calls"] == true)
        }
    }

    @Test("without tools the request has no tools, tool_choice or parallel_tool_calls")
    func noTools() async throws {
        try await T.run(FakeOpenAIServer.Configuration(), tools: [], configure: { $0.parallelToolCalls = false }) { fake, result in
            _ = try result.get()
            let json = try #require(fake.requests.first?.json)
            #expect(json["tools"] == nil)
            #expect(json["tool_choice"] == nil)
            #expect(json["parallel_tool_calls"] == nil)
            #expect(json["messages"]?.arrayValue?.count == 2)
        }
    }

    @Test("argument fragments are joined, even cut inside an escape, a \\u escape or a character, with writes cut mid-UTF-8")
    func fragmentsAssembled() async throws {
        // A \u escape and \" escapes of the JSON text, a decomposed é (two scalars, one character)
        // and CJK characters (three UTF-8 bytes each).
        let arguments = #"{"city":"Zu\u0308rich","note":"say \"hi\" — 東京","accent":""# + "e\u{301}" + #""}"#
        let scalars = Array(arguments.unicodeScalars)
        let afterBackslashes = scalars.indices.filter { scalars[$0] == "\\" }.map { $0 + 1 }
        let insideCharacter = try #require(scalars.firstIndex(of: "\u{301}"))
        let cjk = try #require(scalars.firstIndex(of: "東"))
        var configuration = T.calling(
            FakeToolTurn(calls: [
                FakeToolCall(name: "get_weather", arguments: arguments, splits: afterBackslashes + [insideCharacter, cjk, cjk + 1, 1, 2, 13])
            ]))
        configuration.splitWrites = 7
        try await T.run(configuration) { _, result in
            let run = try result.get()
            #expect(run.pieces.isEmpty)
            #expect(run.calls.count == 1)
            #expect(run.calls.first?.name == "get_weather")
            #expect(run.calls.first?.arguments == arguments)
            #expect(run.calls.first?.parsedArguments?["accent"] == .string("e\u{301}"))
        }
    }

    @Test("two parallel calls with interleaved fragments come back by index")
    func parallelCalls() async throws {
        let turn = FakeToolTurn(calls: [
            FakeToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#, id: "call_a1", splits: [3, 9]),
            FakeToolCall(name: "get_weather", arguments: #"{"city":"Rome"}"#, id: "call_b2", splits: [2, 5, 11]),
        ])
        try await T.run(T.calling(turn)) { _, result in
            let calls = try result.get().calls
            #expect(
                calls == [
                    ToolCall(id: "call_a1", name: "get_weather", arguments: #"{"city":"Paris"}"#),
                    ToolCall(id: "call_b2", name: "get_weather", arguments: #"{"city":"Rome"}"#),
                ])
        }
    }

    @Test("a spoken preamble (and text between the calls' pieces) reaches onText; the arguments never do")
    func preamble() async throws {
        let turn = FakeToolTurn(
            preamble: "Let me check.", calls: [FakeToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)], interjection: " One moment.")
        try await T.run(T.calling(turn)) { _, result in
            let run = try result.get()
            #expect(run.pieces.joined() == "Let me check. One moment.")
            #expect(run.calls.map(\.name) == ["get_weather"])
            #expect(run.calls.first?.arguments == #"{"city":"Paris"}"#)
        }
    }

    @Test("Groq's whole calls in one delta, with Groq's own ids")
    func groqOneDelta() async throws {
        let turn = FakeToolTurn(calls: [
            FakeToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#), FakeToolCall(name: "get_time", arguments: "{}"),
        ])
        try await T.run(T.calling(turn, style: .groq)) { _, result in
            let calls = try result.get().calls
            #expect(calls.map(\.name) == ["get_weather", "get_time"])
            #expect(calls.map(\.arguments) == [#"{"city":"Paris"}"#, "{}"])
            #expect(calls.allSatisfy { $0.id.count == 9 && !$0.id.hasPrefix("call_") })
        }
    }

    @Test("llama.cpp's legacy calls without ids get distinct synthesised ones")
    func legacyMissingID() async throws {
        let turn = FakeToolTurn(calls: [FakeToolCall(name: "get_weather", arguments: #"{"city":"Oslo"}"#), FakeToolCall(name: "get_time")])
        try await T.run(T.calling(turn, style: .legacyNoID)) { _, result in
            let calls = try result.get().calls
            #expect(calls.count == 2)
            #expect(calls[0].id.hasPrefix("call_0_"))
            #expect(calls[1].id.hasPrefix("call_1_"))
            #expect(calls[0].arguments == #"{"city":"Oslo"}"#)
        }
    }

    @Test("a zero-argument call's empty arguments stay empty and parse as {}")
    func zeroArguments() async throws {
        try await T.run(T.calling(FakeToolTurn(calls: [FakeToolCall(name: "get_time", arguments: "")]))) { _, result in
            let call = try #require(try result.get().calls.first)
            #expect(call.arguments == "")
            #expect(call.parsedArguments == [:])
        }
    }

    @Test("a follow-up with the assistant's calls and the tool results is accepted and read by the fake")
    func followUp() async throws {
        let calls = [
            ToolCall(id: "call_a1", name: "get_weather", arguments: #"{"city":"Paris"}"#),
            ToolCall(id: "call_b2", name: "get_weather", arguments: #"{"city":"Rome"}"#),
        ]
        let messages =
            T.question + [
                .assistant("", toolCalls: calls), .tool(callID: "call_a1", content: #"{"temp_c":21}"#),
                .tool(callID: "call_b2", content: #"{"temp_c":25}"#),
            ]
        try await T.run(FakeOpenAIServer.Configuration(), messages: messages) { fake, result in
            let run = try result.get()
            #expect(run.calls.isEmpty)
            #expect(!run.pieces.isEmpty)
            let request = try #require(fake.requests.first)
            #expect(request.messages == messages)
            let sent = try #require(request.json?["messages"]?.arrayValue)
            #expect(sent[2]["content"] == JSONValue.null)
            #expect(sent[2]["tool_calls"]?.arrayValue?.first?["type"] == "function")
            #expect(sent[3] == ["role": "tool", "tool_call_id": "call_a1", "content": #"{"temp_c":21}"#])
        }
    }

    @Test("a call left unanswered makes the fake refuse with 400, surfaced as a ProviderError")
    func unansweredCall() async throws {
        let messages =
            T.question + [
                .assistant("Let me check.", toolCalls: [ToolCall(id: "call_a1", name: "get_weather", arguments: "{}")]), .user("Hello?"),
            ]
        try await T.run(FakeOpenAIServer.Configuration(), messages: messages) { fake, result in
            let error = try #require(T.providerError(result))
            #expect(error.status == 400)
            #expect(error.kind == .rejected)
            #expect(error.message.contains("call_a1"))
            #expect(fake.requests.count == 1)
        }
    }

    @Test("a tool without a name is refused with 400")
    func malformedTools() async throws {
        try await T.run(FakeOpenAIServer.Configuration(), tools: [ToolDefinition(name: "", description: "nameless")]) { _, result in
            let error = try #require(T.providerError(result))
            #expect(error.status == 400)
            #expect(error.message.contains("function.name"))
        }
    }
}
