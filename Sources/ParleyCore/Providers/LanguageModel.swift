/// One message of a chat conversation.
public struct ChatMessage: Sendable, Equatable, Codable {
    /// Who wrote a message.
    public enum Role: String, Sendable, Codable {
        case system, user, assistant, tool
    }

    /// Who wrote it.
    public var role: Role
    /// What it says (for an assistant message that only calls tools, empty).
    public var content: String
    /// The tools an assistant message called, in the model's order.
    public var toolCalls: [ToolCall]?
    /// The call a `tool` message answers.
    public var toolCallID: String?

    /// Creates a message.
    public init(role: Role, content: String, toolCalls: [ToolCall]? = nil, toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    /// A system message.
    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: .system, content: content) }
    /// A user message.
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: .user, content: content) }
    /// An assistant message.
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: .assistant, content: content) }
    /// An assistant message that called tools, with any text the model said before the calls.
    public static func assistant(_ content: String, toolCalls: [ToolCall]) -> ChatMessage {
        ChatMessage(role: .assistant, content: content, toolCalls: toolCalls)
    }
    /// The result of call `id`.
    public static func tool(callID id: String, content: String) -> ChatMessage {
        ChatMessage(role: .tool, content: content, toolCallID: id)
    }
}

/// Streams a chat model's reply.
///
/// `complete` runs in the caller's task and calls `onText` from that task with each piece of
/// reply text as it arrives (never reasoning text, never a tool call's arguments). It returns when
/// the reply is complete, with the tool calls the model made (none when it answered in text), and
/// throws ``ProviderError`` on failure. Cancelling the task must close the underlying stream.
public protocol LanguageModel: Sendable {
    /// A short name for logs and `/health`, such as `local-llama`.
    var name: String { get }

    /// Streams the reply to `messages`, offering `tools` (a model without tool support ignores
    /// them and returns no calls).
    func complete(
        _ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void
    ) async throws
        -> [ToolCall]
}

extension LanguageModel {
    /// Streams the reply to `messages` with no tools offered.
    public func complete(_ messages: [ChatMessage], onText: (String) async throws -> Void) async throws {
        _ = try await complete(messages, tools: [], onText: onText)
    }
}
