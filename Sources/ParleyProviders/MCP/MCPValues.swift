import Foundation
import MCP
import ParleyCore

/// Conversions between the MCP SDK's `Value` and Parley's `JSONValue`, and the rendering of a
/// `tools/call` result as the text the model reads.
enum MCPValues {
    /// The most UTF-8 bytes of one result handed to the model.
    static let maximumResultBytes = 8 * 1024

    /// `value` as Parley's JSON (binary data as its `data:` URL text).
    static func json(_ value: Value) -> JSONValue {
        switch value {
        case .null: .null
        case .bool(let bool): .bool(bool)
        case .int(let int): .number(Double(int))
        case .double(let double): .number(double)
        case .string(let string): .string(string)
        case .data(let mimeType, let data):
            .string("data:\(mimeType ?? "application/octet-stream");base64,\(data.base64EncodedString())")
        case .array(let values): .array(values.map(json))
        case .object(let members): .object(members.mapValues(json))
        }
    }

    /// `value` as the SDK's JSON; whole numbers that fit become integers.
    static func value(_ json: JSONValue) -> Value {
        switch json {
        case .null: .null
        case .bool(let bool): .bool(bool)
        case .number(let number):
            if let int = json.intValue { .int(int) } else { .double(number) }
        case .string(let string): .string(string)
        case .array(let values): .array(values.map(value))
        case .object(let members): .object(members.mapValues(value))
        }
    }

    /// The text of a result: the `text` items joined by newlines, other items described in a few
    /// words (never their base64), `structuredContent` serialised when no item is text; cut to
    /// ``maximumResultBytes``.
    static func text(of content: [Tool.Content], structured: Value?) -> String {
        var texts: [String] = []
        var others: [String] = []
        for item in content {
            switch item {
            case .text(let text, _, _): texts.append(text)
            case .image(_, let mimeType, _, _): others.append("[an image (\(mimeType)) was returned]")
            case .audio(_, let mimeType, _, _): others.append("[an audio clip (\(mimeType)) was returned]")
            case .resource(let resource, _, _):
                if let text = resource.text {
                    texts.append(text)
                } else {
                    others.append("[a resource was returned: \(resource.uri)]")
                }
            case .resourceLink(let uri, let name, _, _, _, _): others.append("[a link was returned: \(name) <\(uri)>]")
            }
        }
        var parts = texts
        if texts.isEmpty, let structured { parts.append(json(structured).serialized) }
        parts += others
        return truncated(parts.joined(separator: "\n"))
    }

    /// `text` cut to ``maximumResultBytes`` at a character boundary, saying so.
    static func truncated(_ text: String, limit: Int = maximumResultBytes) -> String {
        guard text.utf8.count > limit else { return text }
        let marker = " … [truncated]"
        var cut = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size > limit - marker.utf8.count { break }
            cut.append(character)
            used += size
        }
        return cut + marker
    }

    /// A thrown error as a sentence: the JSON-RPC message for a protocol error.
    static func describe(_ error: any Error) -> String {
        if let error = error as? MCPError {
            switch error {
            case .serverError(_, let message): return message
            case .methodNotFound(let detail), .invalidParams(let detail), .invalidRequest(let detail),
                .internalError(let detail), .parseError(let detail):
                return detail ?? error.localizedDescription
            case .connectionClosed: return "the connection to the server closed"
            case .transportError(let underlying): return "transport error: \(underlying)"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }
}
