import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Synchronization
import Testing

/// A webhook tool called end to end through the server: the real OpenAI-compatible client against
/// the fake Groq, which calls `get_weather`; a real ``WebhookTool`` posting to a loopback endpoint;
/// the events over a real WebSocket.
@Suite("Agent webhook tools through the server")
struct AgentToolsServerTests {
    static let weather = ToolDefinition(
        name: "get_weather", description: "Current weather for a city",
        parameters: ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]])
    static let forecast = #"{"temperature_c":17,"conditions":"foggy"}"#
    static let token = "Bearer hook-secret-0042"

    /// The fake Groq: calls `get_weather` for Paris when the last message is the user's question,
    /// and answers a tool message with its content.
    static func groq() -> FakeOpenAIServer.Configuration {
        var configuration = FakeOpenAIServer.Configuration()
        configuration.toolCallStyle = .groq
        configuration.toolCalls = { messages, _ in
            guard let last = messages.last, last.role == .user, last.content.contains("weather") else { return nil }
            return FakeToolTurn(calls: [FakeToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)])
        }
        configuration.reply = { messages in
            guard let last = messages.last, last.role == .tool else { return "Alright, ask me anything." }
            return "The weather service says \(last.content)."
        }
        return configuration
    }

    /// The webhook for `port`, with an `Authorization` header and `timeout`.
    static func webhook(port: Int, timeout: Duration = .seconds(3)) -> WebhookTool {
        WebhookTool(
            definition: weather, url: "http://127.0.0.1:\(port)/hooks/weather", headers: ["Authorization": token],
            timeout: timeout, httpClient: .shared)
    }

    /// Runs the fake Groq, a webhook endpoint answering with `respond`, and the server with the
    /// webhook as its tool; `body` gets the server's port.
    static func withToolServer(
        webhookTimeout: Duration = .seconds(3), transcripts: [String] = ["What's the weather in Paris?"],
        session: SessionConfiguration = SessionConfiguration(),
        respond: @escaping @Sendable (FakeRequest, FakeResponseWriter, WebhookLog) async throws -> Void,
        _ body: @escaping @Sendable (Int, FakeOpenAIServer.Running, WebhookLog) async throws -> Void
    ) async throws {
        let log = WebhookLog()
        let endpoint = FakeProviderServer(http: { request, response in
            log.record(request)
            try await respond(request, response, log)
        })
        try await endpoint.run { hookPort in
            try await FakeOpenAIServer.run(groq()) { fake in
                let app = makeToolApplication(
                    languageModel: groqModel(fake), tools: [webhook(port: hookPort, timeout: webhookTimeout)], transcripts: transcripts,
                    session: session)
                try await app.test(.live) { client in
                    try await body(try #require(client.port), fake, log)
                }
            }
        }
    }

    /// Asks the question and waits for turn 1 to end.
    static func askQuestion(port: Int) async throws -> WireConversation {
        try await WireConversation.run(port: port) { outbound, conversation in
            let microphone = RealTimeMicrophone(outbound: outbound)
            try await microphone.say(spokenQuestion)
            let ended = try await microphone.silence(upTo: .seconds(15), in: conversation.received, until: Events.turnEnd(1))
            try #require(ended, "turn 1 never ended: \(conversation.received.controlEvents)")
        }.conversation
    }

    @Test("the model's call reaches the webhook; its answer reaches the model and the reply", .timeLimit(.minutes(1)))
    func webhookEndToEnd() async throws {
        try await Self.withToolServer(respond: { _, response, _ in
            try await response.send(status: 200, headers: [("Content-Type", "application/json")], body: Self.forecast)
        }) { port, groq, log in
            let conversation = try await Self.askQuestion(port: port)
            let events = conversation.received.events

            // The webhook got the call, as documented.
            let request = try #require(log.requests.first)
            #expect(log.requests.count == 1)
            #expect(request.method == "POST")
            #expect(request.path == "/hooks/weather")
            #expect(request.header("Authorization") == Self.token)
            #expect(request.header("Content-Type") == "application/json")
            let posted = try #require(JSONValue.parse(request.text))
            #expect(posted["name"] == "get_weather")
            #expect(posted["arguments"]?["city"] == "Paris")
            let callID = try #require(posted["call_id"]?.stringValue)
            #expect(!callID.isEmpty)
            let sessionID = try #require(posted["session_id"]?.stringValue)
            #expect(!sessionID.isEmpty)
            if case .ready(let description) = events.first { #expect(description.sessionID == sessionID) }

            // tool.call, then tool.result, before the turn's end; no payloads without --log-tool-payloads.
            let calls = Events.toolCalls(events)
            let results = Events.toolResults(events)
            #expect(calls.map(\.name) == ["get_weather"])
            #expect(calls.first?.callID == callID)
            #expect(calls.first?.turnID == 1)
            #expect(results.map(\.ok) == [true])
            #expect(results.first?.callID == callID)
            let callIndex = try #require(Events.index(of: events) { if case .toolCall = $0 { true } else { false } })
            let resultIndex = try #require(Events.index(of: events) { if case .toolResult = $0 { true } else { false } })
            let endIndex = try #require(Events.index(of: events) { if case .turnEnd = $0 { true } else { false } })
            #expect(callIndex < resultIndex && resultIndex < endIndex)
            let callFrame = try #require(conversation.frames(ofType: "tool.call").first)
            #expect(callFrame["arguments"] == nil)
            let resultFrame = try #require(conversation.frames(ofType: "tool.result").first)
            #expect(resultFrame["ok"] == true)
            #expect(resultFrame["duration_ms"]?.doubleValue != nil)
            #expect(resultFrame["result"] == nil)

            // The reply carries the webhook's answer.
            let summary = try #require(Events.summary(1, in: events))
            #expect(!summary.interrupted)
            #expect(summary.text.contains("17") && summary.text.contains("foggy"), "\(summary.text)")
            #expect(Events.agentText(1, in: events).contains("foggy"))

            // The follow-up request carried the assistant's call and the tool message with the body.
            let chats = groq.requests.filter { $0.path.hasSuffix("/chat/completions") }
            #expect(chats.count == 2)
            let followUp = try #require(chats.last)
            let assistant = try #require(followUp.messages.last(where: { $0.role == .assistant }))
            #expect(assistant.toolCalls == [ToolCall(id: callID, name: "get_weather", arguments: #"{"city":"Paris"}"#)])
            let tool = try #require(followUp.messages.last)
            #expect(tool.role == .tool)
            #expect(tool.toolCallID == callID)
            #expect(tool.content == Self.forecast)
        }
    }

    @Test("a webhook answering HTTP 500 is a failed tool.result; the model reads the error and the turn ends", .timeLimit(.minutes(1)))
    func webhookFailure() async throws {
        try await Self.withToolServer(respond: { _, response, _ in
            try await response.send(status: 500, body: "database on fire")
        }) { port, groq, log in
            let conversation = try await Self.askQuestion(port: port)
            let events = conversation.received.events
            #expect(log.requests.count == 1)
            #expect(Events.toolResults(events).map(\.ok) == [false])
            #expect(conversation.frames(ofType: "tool.result").first?["ok"] == false)
            let summary = try #require(Events.summary(1, in: events))
            #expect(!summary.interrupted)
            let tool = try #require(groq.requests.last?.messages.last)
            #expect(tool.role == .tool)
            let error = try #require(JSONValue.parse(tool.content)?["error"]?.stringValue, "not an error result: \(tool.content)")
            #expect(error.contains("HTTP 500"))
            #expect(error.contains("database on fire"))
            #expect(summary.text.contains("HTTP 500"), "\(summary.text)")
        }
    }

    @Test("with payload logging on, tool.call carries the arguments and tool.result the result", .timeLimit(.minutes(1)))
    func payloadsLogged() async throws {
        var session = SessionConfiguration()
        session.logToolPayloads = true
        try await Self.withToolServer(
            session: session,
            respond: { _, response, _ in
                try await response.send(status: 200, headers: [("Content-Type", "application/json")], body: Self.forecast)
            }
        ) { port, _, _ in
            let conversation = try await Self.askQuestion(port: port)
            #expect(conversation.frames(ofType: "tool.call").first?["arguments"] == .string(#"{"city":"Paris"}"#))
            #expect(conversation.frames(ofType: "tool.result").first?["result"] == .string(Self.forecast))
        }
    }
}
