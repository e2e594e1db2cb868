import AsyncHTTPClient
import NIOCore
public import ParleyCore

/// Streams chat completions from an OpenAI-compatible API: Groq, OpenAI, llama.cpp's server,
/// Ollama, vLLM (docs/providers.md).
///
/// Requests `stream: true` and reads the server-sent events as they arrive, handing each piece of
/// `delta.content` to the caller; reasoning deltas are never passed on. A `data: {"error": …}`
/// event (an error after HTTP 200) and a stream that ends without `[DONE]` are errors.
public struct OpenAICompatibleLanguageModel: LanguageModel {
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

    public var name: String { endpoint.name }

    /// Creates a client.
    public init(
        endpoint: OpenAICompatibleEndpoint, model: String, temperature: Double? = 0.7, maxTokens: Int = 200,
        extraFields: [String: JSONValue] = [:]
    ) {
        self.endpoint = endpoint
        self.model = model
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.extraFields = extraFields
    }

    /// The JSON request body for `messages`.
    public func requestBody(_ messages: [ChatMessage], stream: Bool = true) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(model),
            "messages": .array(messages.map { ["role": .string($0.role.rawValue), "content": .string($0.content)] }),
            "stream": .bool(stream),
            "max_tokens": .number(Double(maxTokens)),
        ]
        if let temperature { body["temperature"] = .number(temperature) }
        for (key, value) in extraFields { body[key] = value }
        return .object(body)
    }

    public func complete(_ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void) async throws
        -> [ToolCall]
    {
        let request = endpoint.request(
            path: "/chat/completions", contentType: "application/json",
            body: Array(requestBody(messages).serialized.utf8))
        let response = try await endpoint.execute(request)
        var parser = ServerSentEventParser()
        var finished = false
        do {
            reading: for try await buffer in response.body {
                for event in try parser.push(buffer.readableBytesView) {
                    if try await handle(event, onText: onText) {
                        finished = true
                        break reading
                    }
                }
            }
            if !finished, let event = parser.finish() {
                finished = try await handle(event, onText: onText)
            }
        } catch let error as ConsumerError {
            // The caller's own error (the reply is long enough, the turn is over): not the provider's.
            throw error.underlying
        } catch is ServerSentEventParser.LineTooLong {
            throw ProviderError(provider: name, kind: .badResponse, message: "event stream line or event over 1 MiB")
        } catch let error as ProviderError {
            throw error
        } catch {
            throw endpoint.mapStreamError(error)
        }
        guard finished else {
            throw ProviderError(provider: name, kind: .streamEnded, message: "the reply stream ended before [DONE]")
        }
        return []
    }

    /// Handles one event; returns true at `[DONE]`.
    private func handle(_ event: ServerSentEvent, onText: (String) async throws -> Void) async throws -> Bool {
        let decoded: ChatCompletionStreamEvent
        do {
            decoded = try ChatCompletionStreamEvent(event)
        } catch {
            throw ProviderError(provider: name, kind: .badResponse, message: error.description)
        }
        switch decoded {
        case .done:
            return true
        case .error(let message):
            throw ProviderError(provider: name, kind: .rejected, message: message)
        case .delta(let text?) where !text.isEmpty:
            do {
                try await onText(text)
            } catch {
                throw ConsumerError(underlying: error)
            }
            return false
        case .delta:
            return false
        }
    }
}

extension OpenAICompatibleLanguageModel {
    /// The default Groq model: Groq retired its Llama 3 models on 2026-08-16, and `openai/gpt-oss-20b`
    /// is its fast production model (docs/providers.md).
    public static let defaultGroqModel = "openai/gpt-oss-20b"

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

/// An error thrown by the caller's text callback, carried past the stream's error mapping.
private struct ConsumerError: Error {
    let underlying: any Error
}
