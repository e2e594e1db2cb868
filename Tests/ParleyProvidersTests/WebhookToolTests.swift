import AsyncHTTPClient
import ParleyCore
import ParleyProviders
import ParleyTesting
import Synchronization
import Testing

@Suite("Webhook tools")
struct WebhookToolTests {
    /// The requests a webhook endpoint received, and when a stalled one was given up by the client.
    final class Endpoint: Sendable {
        let requests = Mutex<[FakeRequest]>([])
        let abandonedAfter = Mutex<Duration?>(nil)
    }

    static let weather = ToolDefinition(
        name: "get_weather", description: "Weather now.", parameters: ["type": "object", "properties": ["city": ["type": "string"]]])

    /// Runs `body` with a tool whose endpoint answers with `respond`.
    static func withTool(
        timeout: Duration = .seconds(3), headers: [String: String] = ["Authorization": "Bearer k-1"],
        respond: @escaping @Sendable (FakeRequest, FakeResponseWriter, Endpoint) async throws -> Void,
        _ body: @Sendable (WebhookTool, Endpoint) async throws -> Void
    ) async throws {
        let endpoint = Endpoint()
        let server = FakeProviderServer(http: { request, response in
            endpoint.requests.withLock { $0.append(request) }
            try await respond(request, response, endpoint)
        })
        try await server.run { port in
            let tool = WebhookTool(
                definition: weather, url: "http://127.0.0.1:\(port)/tools/weather", headers: headers, timeout: timeout,
                httpClient: .shared)
            try await body(tool, endpoint)
        }
    }

    static let invocation = ToolInvocation(callID: "call_7", sessionID: "session-1", arguments: ["city": "Paris"])

    @Test("a call POSTs name, arguments, call_id and session_id as JSON with the headers; the body is the result")
    func call() async throws {
        try await Self.withTool(respond: { _, response, _ in
            try await response.send(status: 200, headers: [("Content-Type", "application/json")], body: #"{"temperature_c":17}"#)
        }) { tool, endpoint in
            let result = try await tool.call(Self.invocation)
            #expect(result == ToolResult(content: #"{"temperature_c":17}"#))
            let request = try #require(endpoint.requests.withLock { $0.first })
            #expect(request.method == "POST" && request.path == "/tools/weather")
            #expect(request.header("Authorization") == "Bearer k-1")
            #expect(request.header("Content-Type") == "application/json")
            let body = try #require(JSONValue.parse(String(decoding: request.body, as: UTF8.self)))
            #expect(body == ["name": "get_weather", "arguments": ["city": "Paris"], "call_id": "call_7", "session_id": "session-1"])
        }
    }

    @Test("plain text answers are results too; an empty 204 is {\"ok\":true}")
    func textAndEmpty() async throws {
        try await Self.withTool(respond: { request, response, endpoint in
            let first = endpoint.requests.withLock { $0.count } == 1
            if first {
                try await response.send(status: 200, headers: [("Content-Type", "text/plain")], body: "Foggy, 17 degrees.")
            } else {
                try await response.send(status: 204, body: "")
            }
        }) { tool, _ in
            let text = try await tool.call(Self.invocation)
            let empty = try await tool.call(Self.invocation)
            #expect(text == ToolResult(content: "Foggy, 17 degrees."))
            #expect(empty == ToolResult(content: #"{"ok":true}"#))
        }
    }

    @Test("a non-2xx answer becomes an error result naming the status and what the endpoint said")
    func errorStatus() async throws {
        try await Self.withTool(respond: { _, response, _ in
            try await response.send(status: 503, body: "weather service down")
        }) { tool, _ in
            let result = try await tool.call(Self.invocation)
            #expect(result.isError)
            #expect(result.content == #"{"error":"get_weather answered HTTP 503: weather service down"}"#)
        }
    }

    @Test("an endpoint that does not answer in time is an error result, and its request is dropped")
    func timeout() async throws {
        try await Self.withTool(
            timeout: .milliseconds(200),
            respond: { _, response, endpoint in
                let started = ContinuousClock.now
                await response.stall(upTo: .seconds(10))
                endpoint.abandonedAfter.withLock { $0 = started.duration(to: .now) }
            }
        ) { tool, endpoint in
            let started = ContinuousClock.now
            let result = try await tool.call(Self.invocation)
            #expect(started.duration(to: .now) < .seconds(3))
            #expect(result.isError && result.content.contains("did not answer within 200 ms"))
            try await Task.sleep(for: .milliseconds(300))
            #expect(endpoint.abandonedAfter.withLock { $0 }.map { $0 < .seconds(5) } == true)
        }
    }

    @Test("cancelling the call (a barge-in) closes its request and throws CancellationError")
    func cancellation() async throws {
        try await Self.withTool(
            timeout: .seconds(20),
            respond: { _, response, endpoint in
                let started = ContinuousClock.now
                await response.stall(upTo: .seconds(15))
                endpoint.abandonedAfter.withLock { $0 = started.duration(to: .now) }
            }
        ) { tool, endpoint in
            let call = Task { try await tool.call(Self.invocation) }
            while endpoint.requests.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
            call.cancel()
            await #expect(throws: CancellationError.self) { try await call.value }
            try await Task.sleep(for: .milliseconds(300))
            #expect(endpoint.abandonedAfter.withLock { $0 }.map { $0 < .seconds(5) } == true)
        }
    }

    @Test("an unreachable endpoint is an error result")
    func unreachable() async throws {
        let port = try LocalEngine.freePort()
        let tool = WebhookTool(definition: Self.weather, url: "http://127.0.0.1:\(port)/", httpClient: .shared)
        let result = try await tool.call(Self.invocation)
        #expect(result.isError && result.content.contains("could not be reached"))
    }

    @Test("a body over 256 KiB is an error result")
    func oversized() async throws {
        try await Self.withTool(respond: { _, response, _ in
            try await response.send(status: 200, body: String(repeating: "x", count: 300 * 1024))
        }) { tool, _ in
            let result = try await tool.call(Self.invocation)
            #expect(result.isError && result.content.contains("more than 256 KiB"))
        }
    }
}
