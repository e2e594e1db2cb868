import MCP
import ParleyCore

/// One tool of an MCP server, as an agent sees it. A call goes to the server's current
/// connection; when the server is down the call returns an error result.
struct MCPTool: AgentTool {
    let definition: ToolDefinition
    let interruptible: Bool
    let timeout: Duration
    let server: MCPToolServer

    func call(_ invocation: ToolInvocation) async throws -> ToolResult {
        try await server.call(tool: definition.name, arguments: invocation.arguments, timeout: timeout)
    }

    /// The tool `tool` of `server`, with its schema converted to Parley's JSON.
    init(_ tool: Tool, server: MCPToolServer) {
        var schema = MCPValues.json(tool.inputSchema)
        if case .object(var members) = schema, members["type"] == nil {
            members["type"] = .string("object")
            schema = .object(members)
        } else if case .null = schema {
            schema = .object(["type": "object", "properties": .object([:])])
        }
        self.definition = ToolDefinition(
            name: tool.name, description: tool.description ?? tool.title ?? "", parameters: schema)
        self.interruptible = server.configuration.interruptible
        self.timeout = server.configuration.timeout
        self.server = server
    }
}

/// A `tools/call` the caller gave up on (a barge-in or a timeout): its `notifications/cancelled`
/// is sent by ``MCPToolServer/run(logger:)``'s own task, because the caller's task is cancelled and
/// the HTTP transport would not send anything from it.
struct AbandonedCall: Sendable {
    let client: Client
    let requestID: ID
    let reason: String
    /// Fired once the call's pending request has ended.
    let ended: CancellationSignal
}

extension MCPToolServer {
    /// How a call ended.
    private enum Outcome: Sendable {
        case answered(Result<CallTool.Result, any Error>)
        case timedOut
        case cancelled
    }

    /// Sends `tools/call` for `name` and waits for the answer, at most `timeout`. On timeout the
    /// request is cancelled and an error result returned; when the task is cancelled the request
    /// is cancelled too and `CancellationError` thrown.
    func call(tool name: String, arguments: [String: JSONValue], timeout: Duration) async throws -> ToolResult {
        guard let client = currentClient else {
            return .error("the MCP server \(configuration.name) is not available now")
        }
        try Task.checkCancellation()
        let request = CallTool.request(.init(name: name, arguments: arguments.mapValues(MCPValues.value)))
        let context: RequestContext<CallTool.Result>
        do {
            context = try await client.send(request)
        } catch {
            return .error("the MCP server \(configuration.name) could not be reached: \(MCPValues.describe(error))")
        }
        let ended = CancellationSignal()
        let outcome = await withTaskGroup(of: Outcome.self) { group -> Outcome in
            group.addTask {
                // Awaiting the SDK's request task does not cancel it; it ends with the answer, or
                // when `cancelRequest` or a disconnect fails the pending request.
                let result: Result<CallTool.Result, any Error>
                do { result = .success(try await context.value) } catch { result = .failure(error) }
                ended.fire()
                return .answered(result)
            }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                } catch {
                    return .cancelled
                }
            }
            guard let first = await group.next() else { return .cancelled }
            if case .answered = first {
                group.cancelAll()
                return first
            }
            let reason = if case .timedOut = first { "timed out" } else { "cancelled by the caller" }
            abandon(AbandonedCall(client: client, requestID: context.requestID, reason: reason, ended: ended))
            _ = await group.next()
            return first
        }
        switch outcome {
        case .cancelled:
            throw CancellationError()
        case .timedOut:
            let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
            return .error("the tool \(name) timed out after \(milliseconds) ms")
        case .answered(.success(let result)):
            let text = MCPValues.text(of: result.content, structured: result.structuredContent)
            return ToolResult(content: text, isError: result.isError ?? false)
        case .answered(.failure(let error)):
            if error is CancellationError { return .error("the MCP server \(configuration.name) cancelled the call") }
            return .error(MCPValues.describe(error))
        }
    }

    /// Sends `notifications/cancelled` for each abandoned call until the task is cancelled. The
    /// SDK registers a request a moment after `send` returns, so a cancel that came too early
    /// is sent again (at most 10 times, 50 ms apart) until the pending request has ended.
    func forwardCancellations(_ calls: AsyncStream<AbandonedCall>) async {
        for await call in calls {
            for _ in 0..<10 {
                try? await call.client.cancelRequest(call.requestID, reason: call.reason)
                try? await Task.sleep(for: .milliseconds(50))
                if call.ended.isFired || Task.isCancelled { break }
            }
        }
    }
}
