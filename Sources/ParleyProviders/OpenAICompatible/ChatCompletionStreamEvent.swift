import ParleyCore

/// What one server-sent event of an OpenAI-compatible chat-completion stream says
/// (docs/providers.md): a piece of the reply, the end, or an error sent after HTTP 200.
package enum ChatCompletionStreamEvent: Sendable, Equatable {
    /// `data: [DONE]`: the reply is complete.
    case done
    /// A chunk; its `choices[0].delta.content`, nil when it has none (the role-only first chunk,
    /// a reasoning delta, usage).
    case delta(String?)
    /// The stream reported an error; the message says what, for the log.
    case error(String)

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
            self = .error("error in reply stream: \(message)")
        } else if event.event == "error" {
            self = .error("error event in reply stream")
        } else if let message = chunk["x_groq"]?["error"]?.stringValue {
            self = .error("stream stopped: \(message)")
        } else {
            self = .delta(chunk["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue)
        }
    }
}
