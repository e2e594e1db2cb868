/// A session's conversation: the system prompt, a rolling summary of older turns and the turns
/// since, within a token budget.
///
/// Turns are kept by id, so a reply that finishes after the next user turn began (an interrupted
/// reply winding down) still lands in its own place. When the turns grow past
/// ``historyTokenBudget`` (or three quarters of ``maximumTurns``), ``foldJob()`` names the oldest
/// ones to summarise; they stay until ``applySummary(_:for:)`` replaces them, so nothing is lost
/// while the summary is being written.
public struct Conversation: Sendable, Equatable {
    /// One exchange; the greeting is a turn without user text.
    public struct Turn: Sendable, Equatable {
        /// The turn's id.
        public var id: Int
        /// What the user said (empty for the greeting).
        public var user: String
        /// What the agent replied, once known; for an interrupted reply, what the listener heard.
        public var assistant: String?
        /// Whether the reply was cut short by the user.
        public var interrupted = false
        /// The tools the reply called, round by round, with their results.
        public var toolRounds: [ToolRound] = []
    }

    /// One round of tool calls in a reply, remembered for later turns.
    public struct ToolRound: Sendable, Equatable {
        /// The calls, in the model's order.
        public var calls: [ToolCall]
        /// Each call's result by call id; a call without one (cancelled, still running) is shown
        /// to the model as ``unansweredToolResult``.
        public var results: [String: String] = [:]
    }

    /// The result remembered for a call that never returned one: the model must see an answer to
    /// every call (OpenAI-compatible APIs refuse a history without), and should know why.
    public static let unansweredToolResult = #"{"error":"cancelled: the caller interrupted before the tool answered"}"#

    /// The most characters of one tool result kept in memory.
    public static let toolResultMemoryLimit = 2000

    /// Appended to an interrupted reply in the messages sent to the LLM, so the model knows the
    /// listener stopped it there (an ellipsis is how transcripts mark speech trailing off).
    public static let interruptionMarker = "…"

    /// The system prompt sent first on every request.
    public var systemPrompt: String
    /// The most turns kept; older ones are dropped first (a backstop for a failing summariser).
    public let maximumTurns: Int
    /// The most estimated tokens (``estimatedTokens(_:)``) of summary and turns to keep.
    public let historyTokenBudget: Int
    /// A summary of the turns folded away, written by the LLM.
    public internal(set) var summary: String?
    /// The turns, oldest first.
    public internal(set) var turns: [Turn] = []

    /// Creates an empty conversation.
    public init(systemPrompt: String, maximumTurns: Int = 20, historyTokenBudget: Int = 1500) {
        self.systemPrompt = systemPrompt
        self.maximumTurns = max(2, maximumTurns)
        self.historyTokenBudget = max(1, historyTokenBudget)
    }

    /// A rough token count for `text`: one token per four characters, rounded up (about right for
    /// English with GPT-style tokenisers; no tokeniser is needed to stay within a budget).
    public static func estimatedTokens(_ text: String) -> Int {
        (text.count + 3) / 4
    }

    /// Estimated tokens of the summary and every turn.
    public var estimatedTokens: Int {
        Self.estimatedTokens(summary ?? "") + turns.reduce(0) { $0 + Self.tokens(of: $1) }
    }

    static func tokens(of turn: Turn) -> Int {
        var tokens = Self.estimatedTokens(turn.user) + Self.estimatedTokens(turn.assistant ?? "")
        for round in turn.toolRounds {
            for call in round.calls {
                tokens += Self.estimatedTokens(call.name + call.arguments) + Self.estimatedTokens(round.results[call.id] ?? "") + 8
            }
        }
        return tokens
    }

    /// Records a round of tool calls made while replying to turn `id`.
    public mutating func addToolRound(_ calls: [ToolCall], forTurn id: Int) {
        guard !calls.isEmpty, let index = turns.lastIndex(where: { $0.id == id }) else { return }
        turns[index].toolRounds.append(ToolRound(calls: calls))
    }

    /// Records the result of call `callID` made while replying to turn `id` (kept up to
    /// ``toolResultMemoryLimit`` characters).
    public mutating func setToolResult(_ content: String, callID: String, forTurn id: Int) {
        guard let index = turns.lastIndex(where: { $0.id == id }),
            let round = turns[index].toolRounds.lastIndex(where: { $0.calls.contains { $0.id == callID } })
        else { return }
        turns[index].toolRounds[round].results[callID] = String(content.prefix(Self.toolResultMemoryLimit))
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

    /// The messages for replying to turn `id`: the system prompt, the summary and the turns up
    /// to it; an interrupted reply ends in ``interruptionMarker``.
    public func messages(upTo id: Int) -> [ChatMessage] {
        var messages: [ChatMessage] = []
        messages.reserveCapacity(2 + 2 * turns.count)
        if !systemPrompt.isEmpty { messages.append(.system(systemPrompt)) }
        if let summary, !summary.isEmpty { messages.append(.system(Self.summaryPrefix + summary)) }
        for turn in turns where turn.id <= id {
            if !turn.user.isEmpty { messages.append(.user(turn.user)) }
            for round in turn.toolRounds {
                messages.append(.assistant("", toolCalls: round.calls))
                for call in round.calls {
                    messages.append(.tool(callID: call.id, content: round.results[call.id] ?? Self.unansweredToolResult))
                }
            }
            guard let reply = turn.assistant, !reply.isEmpty else { continue }
            messages.append(.assistant(turn.interrupted ? reply + Self.interruptionMarker : reply))
        }
        return messages
    }

    /// How the summary is introduced to the LLM.
    public static let summaryPrefix = "Summary of the conversation so far: "
}
