/// One message of a chat conversation.
public struct ChatMessage: Sendable, Equatable, Codable {
    /// Who wrote a message.
    public enum Role: String, Sendable, Codable {
        case system, user, assistant
    }

    /// Who wrote it.
    public var role: Role
    /// What it says.
    public var content: String

    /// Creates a message.
    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }

    /// A system message.
    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: .system, content: content) }
    /// A user message.
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: .user, content: content) }
    /// An assistant message.
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: .assistant, content: content) }
}

/// Streams a chat model's reply.
///
/// `complete` runs in the caller's task and calls `onText` from that task with each piece of
/// reply text as it arrives (never reasoning text). It returns when the reply is complete and
/// throws ``ProviderError`` on failure. Cancelling the task must close the underlying stream.
public protocol LanguageModel: Sendable {
    /// A short name for logs and `/health`, such as `local-llama`.
    var name: String { get }

    /// Streams the reply to `messages`.
    func complete(_ messages: [ChatMessage], onText: (String) async throws -> Void) async throws
}
