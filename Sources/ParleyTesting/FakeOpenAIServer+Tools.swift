import ParleyCore

/// The tool-calling side of a chat request to the fake (docs/providers.md): the offered tools,
/// the messages with their calls and results, and what the model does with them.
struct FakeToolRequest {
    /// The offered tools.
    var tools: [ToolDefinition] = []
    /// The messages, with assistant `tool_calls` and `tool` messages' `tool_call_id`.
    var messages: [ChatMessage] = []
    /// Why the request is refused with 400 `invalid_request_error`, if it is.
    var invalid: String?

    /// Reads `body`: tools that lack `function.name`, a call left unanswered, and a tool message
    /// answering no call are refused, as OpenAI does.
    init(body: JSONValue) {
        for (index, tool) in (body["tools"]?.arrayValue ?? []).enumerated() {
            guard let function = tool["function"], let name = function["name"]?.stringValue, !name.isEmpty else {
                invalid = "tools[\(index)].function.name is required"
                return
            }
            if let type = tool["type"]?.stringValue, type != "function" {
                invalid = "tools[\(index)].type must be 'function'"
                return
            }
            tools.append(
                ToolDefinition(name: name, description: function["description"]?.stringValue ?? "", parameters: function["parameters"] ?? [:]))
        }
        messages = (body["messages"]?.arrayValue ?? []).compactMap(Self.message)
        invalid = invalid ?? Self.unansweredCall(in: messages)
    }

    /// One message; nil when its role is unknown. `content` may be a string, null or text parts.
    static func message(_ json: JSONValue) -> ChatMessage? {
        guard let role = json["role"]?.stringValue.flatMap(ChatMessage.Role.init(rawValue:)) else { return nil }
        let content =
            json["content"]?.stringValue ?? json["content"]?.arrayValue?.compactMap { $0["text"]?.stringValue }.joined() ?? ""
        let calls = json["tool_calls"]?.arrayValue?.map { call in
            ToolCall(
                id: call["id"]?.stringValue ?? "", name: call["function"]?["name"]?.stringValue ?? "",
                arguments: call["function"]?["arguments"]?.stringValue ?? "")
        }
        return ChatMessage(role: role, content: content, toolCalls: calls, toolCallID: json["tool_call_id"]?.stringValue)
    }

    /// What is wrong with the calls and results in `messages`, if anything: each assistant
    /// message's calls must be answered by the `tool` messages that follow it, id for id.
    static func unansweredCall(in messages: [ChatMessage]) -> String? {
        var open: [String]?
        for (index, message) in messages.enumerated() {
            if message.role == .tool {
                guard let id = message.toolCallID, let position = open?.firstIndex(of: id) else {
                    return "messages[\(index)]: messages with role 'tool' must be a response to a preceding message with 'tool_calls'"
                }
                open?.remove(at: position)
                continue
            }
            if let ids = open, !ids.isEmpty {
                return "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. "
                    + "The following tool_call_ids did not have response messages: \(ids.joined(separator: ", "))"
            }
            open = message.role == .assistant ? (message.toolCalls ?? []).map(\.id) : nil
        }
        if let ids = open, !ids.isEmpty {
            return "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. "
                + "The following tool_call_ids did not have response messages: \(ids.joined(separator: ", "))"
        }
        return nil
    }

    /// The calls the model makes, honouring `tool_choice` (`none` never calls, `required` always
    /// does, a named function is the one called) and `parallel_tool_calls: false` (one call).
    func turn(_ configuration: FakeOpenAIServer.Configuration, body: JSONValue) -> FakeToolTurn? {
        guard !tools.isEmpty else { return nil }
        let choice = body["tool_choice"]
        if choice?.stringValue == "none" { return nil }
        var turn = configuration.toolCalls(messages, tools)
        if let forced = choice?["function"]?["name"]?.stringValue {
            var calls = turn?.calls.filter { $0.name == forced } ?? []
            if calls.isEmpty { calls = [FakeToolCall(name: forced)] }
            turn = FakeToolTurn(preamble: turn?.preamble, calls: calls)
        } else if choice?.stringValue == "required", turn?.calls.isEmpty ?? true {
            turn = FakeToolTurn(preamble: turn?.preamble, calls: [FakeToolCall(name: tools[0].name)])
        }
        if body["parallel_tool_calls"]?.boolValue == false, let calls = turn?.calls, calls.count > 1 { turn?.calls = [calls[0]] }
        guard let turn, !turn.calls.isEmpty else { return nil }
        return turn
    }

    /// Groq's refusal of a malformed call.
    static let toolUseFailed: JSONValue = [
        "error": [
            "message": "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.",
            "type": "invalid_request_error", "code": "tool_use_failed",
            "failed_generation": "<function=get_weather{\"city\": \"Paris\"}</function>",
        ]
    ]
}
