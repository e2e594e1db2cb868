/// A session's conversation: the system prompt and its turns, bounded in length.
///
/// Turns are kept by id, so a reply that finishes after the next user turn began (an interrupted
/// reply winding down) still lands in its own place.
public struct Conversation: Sendable, Equatable {
    /// One exchange.
    public struct Turn: Sendable, Equatable {
        /// The turn's id.
        public var id: Int
        /// What the user said.
        public var user: String
        /// What the agent replied, once known.
        public var assistant: String?
        /// Whether the reply was cut short by the user.
        public var interrupted = false
    }

    /// The system prompt sent first on every request.
    public var systemPrompt: String
    /// The most turns kept; older ones are dropped first.
    public let maximumTurns: Int
    /// The turns, oldest first.
    public private(set) var turns: [Turn] = []

    /// Creates an empty conversation.
    public init(systemPrompt: String, maximumTurns: Int = 20) {
        self.systemPrompt = systemPrompt
        self.maximumTurns = max(1, maximumTurns)
    }

    /// Adds a user turn.
    public mutating func addUserTurn(id: Int, text: String) {
        turns.append(Turn(id: id, user: text))
        if turns.count > maximumTurns { turns.removeFirst(turns.count - maximumTurns) }
    }

    /// Records the agent's reply to turn `id` (ignored if the turn was already dropped).
    public mutating func setReply(_ text: String, interrupted: Bool, forTurn id: Int) {
        guard let index = turns.lastIndex(where: { $0.id == id }) else { return }
        turns[index].assistant = text
        turns[index].interrupted = interrupted
    }

    /// The messages to send to the LLM: the system prompt, then each turn.
    public var messages: [ChatMessage] { messages(upTo: .max) }

    /// The messages for replying to turn `id`: the system prompt and the turns up to it.
    public func messages(upTo id: Int) -> [ChatMessage] {
        var messages: [ChatMessage] = []
        messages.reserveCapacity(1 + 2 * turns.count)
        if !systemPrompt.isEmpty { messages.append(.system(systemPrompt)) }
        for turn in turns where turn.id <= id {
            messages.append(.user(turn.user))
            if let reply = turn.assistant, !reply.isEmpty { messages.append(.assistant(reply)) }
        }
        return messages
    }
}

/// A conversation shared by a session's coordinator (which adds user turns) and its reply task
/// (which reads the history when a reply starts and records the reply when it ends), so a reply
/// always sees every earlier reply, even one that was still winding down when the turn began.
public final class ConversationStore: Sendable {
    private let conversation: Mutex<Conversation>

    /// Creates a store.
    public init(_ conversation: Conversation) {
        self.conversation = Mutex(conversation)
    }

    /// Adds a user turn.
    public func addUserTurn(id: Int, text: String) {
        conversation.withLock { $0.addUserTurn(id: id, text: text) }
    }

    /// Records the reply to turn `id`.
    public func setReply(_ text: String, interrupted: Bool, forTurn id: Int) {
        conversation.withLock { $0.setReply(text, interrupted: interrupted, forTurn: id) }
    }

    /// The messages for replying to turn `id`.
    public func messages(upTo id: Int) -> [ChatMessage] {
        conversation.withLock { $0.messages(upTo: id) }
    }
}

import Synchronization
