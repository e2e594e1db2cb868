import ParleyCore

/// What one server-sent event of an OpenAI-compatible chat-completion stream says
/// (docs/providers.md): a piece of the reply, the end, or an error sent after HTTP 200.
package enum ChatCompletionStreamEvent: Sendable, Equatable {
    /// `data: [DONE]`: the reply is complete.
    case done
    /// A chunk: its `choices[0].delta.content` (nil when it has none: the role-only first chunk,
    /// a reasoning delta, usage, a tool-call delta with `content: null`) and its
    /// `choices[0].delta.tool_calls` items.
    case delta(String?, toolCalls: [ToolCallDelta])
    /// The stream reported an error; the message says what, for the log, and `code` is the error
    /// object's `code` when it has one (Groq's `tool_use_failed`).
    case error(String, code: String?)

    /// The event's data is not JSON.
    package struct Malformed: Error, CustomStringConvertible {
        package var description: String
    }

    /// Decodes one event.
    package init(_ event: ServerSentEvent) throws(Malformed) {
        if event.data.hasPrefix("[DONE]") {
            self = .done
            return
        }
        guard let chunk = JSONValue.parse(event.data) else {
            throw Malformed(description: "event data is not JSON: \(event.data.prefix(80))")
        }
        if let error = chunk["error"] {
            let message = error["message"]?.stringValue ?? error.stringValue ?? "unspecified error"
            self = .error("error in reply stream: \(message)", code: error["code"]?.stringValue)
        } else if event.event == "error" {
            self = .error("error event in reply stream", code: nil)
        } else if let message = chunk["x_groq"]?["error"]?.stringValue {
            self = .error("stream stopped: \(message)", code: nil)
        } else {
            let delta = chunk["choices"]?.arrayValue?.first?["delta"]
            let calls = delta?["tool_calls"]?.arrayValue ?? []
            self = .delta(delta?["content"]?.stringValue, toolCalls: calls.enumerated().map { ToolCallDelta($1, position: $0) })
        }
    }
}

/// One item of a chunk's `delta.tool_calls`: a piece of a streamed tool call.
///
/// Only `index` is always there (docs/providers.md): `id`, `type` and `function.name` come once,
/// on the first piece for that index (the id never, from llama.cpp's legacy shape), and
/// `function.arguments` comes in fragments to be joined.
package struct ToolCallDelta: Sendable, Equatable {
    /// Which call of the turn this piece belongs to.
    package var index: Int
    /// The call's id, on its first piece.
    package var id: String?
    /// The call's tool name, on its first piece.
    package var name: String?
    /// A fragment of the arguments' JSON text.
    package var arguments: String?

    /// Creates a piece.
    package init(index: Int, id: String? = nil, name: String? = nil, arguments: String? = nil) {
        self.index = index
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    /// Decodes an item; one without an `index` counts as the call at its position in the array.
    init(_ item: JSONValue, position: Int) {
        index = item["index"]?.intValue ?? position
        id = item["id"]?.stringValue
        name = item["function"]?["name"]?.stringValue
        arguments = item["function"]?["arguments"]?.stringValue
    }
}
