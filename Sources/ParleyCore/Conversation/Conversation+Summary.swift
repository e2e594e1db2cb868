extension Conversation {
    /// Oldest turns to fold into the summary, and the request that summarises them.
    public struct FoldJob: Sendable, Equatable {
        /// The id of the newest turn folded; every turn up to it is replaced by the summary.
        public var throughTurn: Int
        /// The request for the LLM: the instruction, then the old summary and the turns.
        public var messages: [ChatMessage]
    }

    /// The instruction of every summary request (a fake LLM can tell such requests by it).
    public static let summaryInstruction = """
        You keep the memory of a spoken conversation between a user and a voice assistant. Summarise the \
        conversation so far in a few sentences of plain text. Keep every name, number, preference and fact \
        the user gave, and anything the assistant promised.
        """

    /// The longest summary kept, in estimated tokens: half the budget, the other half being for
    /// the turns since.
    public var summaryTokenLimit: Int { max(1, historyTokenBudget / 2) }

    /// The turns to fold now, or nil while the history is within budget.
    ///
    /// Only completed turns are folded, the newest turn never; the oldest go first until the
    /// turns left fit in the half of the budget not reserved for the summary.
    public func foldJob() -> FoldJob? {
        guard estimatedTokens > historyTokenBudget || turns.count > maximumTurns * 3 / 4 else { return nil }
        let target = historyTokenBudget - summaryTokenLimit
        var remaining = turns.reduce(0) { $0 + Self.tokens(of: $1) }
        var folded: [Turn] = []
        for turn in turns.dropLast() {
            guard turn.assistant != nil else { break }
            guard remaining > target || turns.count - folded.count > maximumTurns / 2 else { break }
            folded.append(turn)
            remaining -= Self.tokens(of: turn)
        }
        guard let last = folded.last else { return nil }
        var transcript = summary.map { "Summary so far: \($0)\n\n" } ?? ""
        for turn in folded {
            if !turn.user.isEmpty { transcript += "User: \(turn.user)\n" }
            for round in turn.toolRounds {
                for call in round.calls {
                    transcript += "Tool \(call.name)(\(call.arguments)) returned: \(round.results[call.id] ?? "nothing (cancelled)")\n"
                }
            }
            if let reply = turn.assistant, !reply.isEmpty {
                transcript += "Assistant: \(reply)\(turn.interrupted ? " (interrupted here)" : "")\n"
            }
        }
        return FoldJob(throughTurn: last.id, messages: [.system(Self.summaryInstruction), .user(transcript)])
    }

    /// Replaces the turns up to `job.throughTurn` by `summary`, cut to ``summaryTokenLimit``.
    public mutating func applySummary(_ summary: String, for job: FoldJob) {
        var text = summary.trimmingWhitespace()
        let limit = summaryTokenLimit * 4
        if text.count > limit {
            // A wordy model: keep whole words within the limit.
            text = HeardText.cut(Array(text.prefix(limit + 1)), heard: limit)
        }
        self.summary = text
        turns.removeAll { $0.id <= job.throughTurn }
    }
}
