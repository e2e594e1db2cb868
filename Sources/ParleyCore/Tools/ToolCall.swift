/// A tool as the LLM sees it: `tools[].function` of an OpenAI-compatible chat request.
public struct ToolDefinition: Sendable, Hashable {
    /// The name the model calls it by (`[A-Za-z0-9_-]`, at most 64 characters).
    public var name: String
    /// What it does, for the model.
    public var description: String
    /// The JSON Schema of its arguments (an object schema).
    public var parameters: JSONValue

    /// Creates a definition; `parameters` defaults to an object schema with no properties.
    public init(name: String, description: String, parameters: JSONValue = .object(["type": "object", "properties": .object([:])])) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// A call the model made: `tool_calls[]` of an assistant message.
public struct ToolCall: Sendable, Hashable, Codable {
    /// The call's id, echoed by the `tool` message that answers it.
    public var id: String
    /// The tool's name.
    public var name: String
    /// The arguments as the model wrote them: JSON text, possibly invalid, `""` for none.
    public var arguments: String

    /// Creates a call.
    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    /// The arguments parsed: `{}` for an empty string, nil when they are not a JSON object.
    public var parsedArguments: [String: JSONValue]? {
        let text = arguments.trimmingWhitespace()
        if text.isEmpty { return [:] }
        guard case .object(let members) = JSONValue.parse(text) else { return nil }
        return members
    }
}

/// What a tool call returned, as the model will read it.
public struct ToolResult: Sendable, Hashable {
    /// The result text (JSON or plain text) sent back as the `tool` message's content.
    public var content: String
    /// Whether the call failed (timed out, refused, the tool reported an error). The model is told
    /// so in `content` and may apologise or try again.
    public var isError: Bool
    /// Whether the session ends once this reply has been spoken (the built-in `end_call`).
    public var endsCall: Bool

    /// Creates a result.
    public init(content: String, isError: Bool = false, endsCall: Bool = false) {
        self.content = content
        self.isError = isError
        self.endsCall = endsCall
    }

    /// A failed call, described for the model as `{"error": message}`.
    public static func error(_ message: String) -> ToolResult {
        ToolResult(content: JSONValue.object(["error": .string(message)]).serialized, isError: true)
    }
}

/// One call handed to a tool.
public struct ToolInvocation: Sendable {
    /// The model's call id.
    public var callID: String
    /// The session the call belongs to.
    public var sessionID: String
    /// The arguments, parsed (`{}` when the model wrote none).
    public var arguments: [String: JSONValue]

    /// Creates an invocation.
    public init(callID: String, sessionID: String, arguments: [String: JSONValue]) {
        self.callID = callID
        self.sessionID = sessionID
        self.arguments = arguments
    }
}

/// Something an agent can do: a webhook, an MCP server's tool, a built-in.
///
/// ``call(_:)`` runs in the reply's task: a barge-in cancels that task, and the tool must then stop
/// what it was doing (close its HTTP request, send MCP's `notifications/cancelled`) and throw. A
/// tool that is not ``interruptible`` is run by the session outside the reply, so it finishes and
/// its result is remembered even when the caller talks over it. A thrown error becomes an error
/// result; the session also bounds each call by ``timeout``.
public protocol AgentTool: Sendable {
    /// What the model sees.
    var definition: ToolDefinition { get }
    /// Whether a barge-in cancels a call in flight.
    var interruptible: Bool { get }
    /// The longest a call may take before it counts as failed.
    var timeout: Duration { get }
    /// Runs one call.
    func call(_ invocation: ToolInvocation) async throws -> ToolResult
}

extension AgentTool {
    public var interruptible: Bool { true }
    public var timeout: Duration { .seconds(10) }
}
