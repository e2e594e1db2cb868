import AsyncHTTPClient
import NIOCore
public import ParleyCore

/// Streams chat completions from an OpenAI-compatible API: Groq, OpenAI, llama.cpp's server,
/// Ollama, vLLM (docs/providers.md).
///
/// Requests `stream: true` and reads the server-sent events as they arrive, handing each piece of
/// `delta.content` to the caller; reasoning deltas are never passed on. A `data: {"error": …}`
/// event (an error after HTTP 200) and a stream that ends without `[DONE]` are errors.
///
/// Offered tools go out as `tools` with `tool_choice: "auto"`; streamed `delta.tool_calls` are
/// assembled by index and returned when the stream completes, and the arguments never reach the
/// text callback. Groq's `tool_use_failed` is retried once and then answered without tools.
/// With ``toolCallsInText``, calls that a local engine writes as reply text are read from it.
public struct OpenAICompatibleLanguageModel: LanguageModel {
    /// What an assistant message that called tools but said nothing sends as its `content`.
    public enum EmptyToolCallContent: Sendable, Hashable {
        /// `"content": null`, as OpenAI and Groq document it.
        case null
        /// `"content": ""`: llama-cpp-python's server refuses `null` with HTTP 500 (a validation
        /// error), so the local engine needs this.
        case emptyString
    }

    /// The API.
    public var endpoint: OpenAICompatibleEndpoint
    /// The model id.
    public var model: String
    /// Sampling temperature.
    public var temperature: Double?
    /// The longest reply, in tokens.
    public var maxTokens: Int
    /// Extra request fields, such as `reasoning_effort`.
    public var extraFields: [String: JSONValue]
    /// `parallel_tool_calls`, sent with tools; nil leaves the field out (the server's default:
    /// on for OpenAI and Groq, off for llama.cpp).
    public var parallelToolCalls: Bool?
    /// What an assistant message with calls and no text sends as its `content`.
    public var emptyToolCallContent: EmptyToolCallContent
    /// Whether the server may return tool calls as reply text instead of `tool_calls` (our local
    /// engine, llama-cpp-python's server with Qwen 2.5): a reply that opens with `{`, `<` or a
    /// backtick while tools are offered is held back and read for calls (``TextToolCalls``).
    public var toolCallsInText: Bool

    public var name: String { endpoint.name }

    /// Creates a client.
    public init(
        endpoint: OpenAICompatibleEndpoint, model: String, temperature: Double? = 0.7, maxTokens: Int = 200,
        extraFields: [String: JSONValue] = [:], parallelToolCalls: Bool? = nil, emptyToolCallContent: EmptyToolCallContent = .null,
        toolCallsInText: Bool = false
    ) {
        self.endpoint = endpoint
        self.model = model
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.extraFields = extraFields
        self.parallelToolCalls = parallelToolCalls
        self.emptyToolCallContent = emptyToolCallContent
        self.toolCallsInText = toolCallsInText
    }

    /// The JSON request body for `messages`, offering `tools` (`tools`, `tool_choice` and
    /// `parallel_tool_calls` are left out when there are none).
    public func requestBody(_ messages: [ChatMessage], tools: [ToolDefinition] = [], stream: Bool = true) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(model),
            "messages": .array(messages.map(encode)),
            "stream": .bool(stream),
            "max_tokens": .number(Double(maxTokens)),
        ]
        if let temperature { body["temperature"] = .number(temperature) }
        if !tools.isEmpty {
            body["tools"] = .array(
                tools.map { tool in
                    [
                        "type": "function",
                        "function": ["name": .string(tool.name), "description": .string(tool.description), "parameters": tool.parameters],
                    ]
                })
            body["tool_choice"] = "auto"
            if let parallelToolCalls { body["parallel_tool_calls"] = .bool(parallelToolCalls) }
        }
        for (key, value) in extraFields { body[key] = value }
        return .object(body)
    }

    /// Whether `text` is a JSON object or array.
    static func isJSONContainer(_ text: String) -> Bool {
        switch JSONValue.parse(text) {
        case .object?, .array?: true
        default: false
        }
    }

    /// One message as the API takes it: an assistant message's calls as `tool_calls`, a tool
    /// result with its `tool_call_id`.
    func encode(_ message: ChatMessage) -> JSONValue {
        var object: [String: JSONValue] = ["role": .string(message.role.rawValue), "content": .string(message.content)]
        switch message.role {
        case .assistant:
            guard let calls = message.toolCalls, !calls.isEmpty else { break }
            if message.content.isEmpty, emptyToolCallContent == .null { object["content"] = JSONValue.null }
            object["tool_calls"] = .array(
                calls.map { call in
                    ["id": .string(call.id), "type": "function", "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
                })
        case .tool:
            object["tool_call_id"] = .string(message.toolCallID ?? "")
            // The local Qwen model, given a plain-text result, asks for the same call again; given
            // the same text as JSON it answers from it (measured: docs/agents.md).
            if toolCallsInText, !Self.isJSONContainer(message.content) {
                object["content"] = .string(JSONValue.object(["result": .string(message.content)]).serialized)
            }
        case .system, .user:
            break
        }
        return .object(object)
    }
}

extension OpenAICompatibleLanguageModel {
    /// The default Groq model: Groq retired its Llama 3 models on 2026-08-16, and `openai/gpt-oss-20b`
    /// is its fast production model (docs/providers.md).
    public static let defaultGroqModel = "openai/gpt-oss-20b"

    /// smallest.ai's Electron: its chat API's path under `SMALLEST_URL`.
    public static let electronPath = "/waves/v1"
    /// smallest.ai's Electron: the only model id it serves.
    public static let electronModel = "electron"

    /// A client for Groq: reasoning models are asked to think briefly and to keep their reasoning
    /// out of the stream, so the voice answers quickly and never speaks its thoughts.
    public static func groq(endpoint: OpenAICompatibleEndpoint, model: String = defaultGroqModel, maxTokens: Int) -> Self {
        var extra: [String: JSONValue] = [:]
        if model.hasPrefix("openai/gpt-oss") {
            extra = ["reasoning_effort": "low", "include_reasoning": false]
        } else if model.hasPrefix("qwen/qwen3") {
            extra = ["reasoning_effort": "none", "include_reasoning": false]
        }
        return Self(endpoint: endpoint, model: model, maxTokens: maxTokens, extraFields: extra)
    }
}
