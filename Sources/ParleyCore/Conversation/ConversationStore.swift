import Synchronization

/// A conversation shared by a session's coordinator (which adds user turns and hears playback
/// reports), its reply task (which reads the history when a reply starts and records the reply
/// when it ends) and its summariser, so a reply always sees every earlier reply, even one that
/// was still winding down when the turn began.
///
/// An interrupted reply is first stored as far as the server estimates it was heard; the
/// client's `playback.cleared` then corrects it, whichever of the two arrives first.
public final class ConversationStore: Sendable {
    private struct State {
        var conversation: Conversation
        /// Interrupted replies awaiting the client's count of played samples.
        var awaitingReport: [Int: HeardText] = [:]
        /// Played samples the client reported before the reply was stored.
        var reported: [Int: Int] = [:]
    }
    private let state: Mutex<State>
    /// Turns remembered in each table above; only the latest matter.
    static let pendingLimit = 4

    /// Creates a store.
    public init(_ conversation: Conversation) {
        self.state = Mutex(State(conversation: conversation))
    }

    /// The conversation now.
    public var conversation: Conversation { state.withLock { $0.conversation } }

    /// Adds a user turn.
    public func addUserTurn(id: Int, text: String) {
        state.withLock { $0.conversation.addUserTurn(id: id, text: text) }
    }

    /// Records the reply to turn `id`.
    public func setReply(_ text: String, interrupted: Bool, forTurn id: Int) {
        state.withLock { $0.conversation.setReply(text, interrupted: interrupted, forTurn: id) }
    }

    /// Records an interrupted reply as the part of `heard` the listener heard: after the samples
    /// the client reported if it already did, else after `estimatedPlayedSamples`, corrected when
    /// the client's report arrives.
    public func setInterruptedReply(heard: HeardText, estimatedPlayedSamples: Int, forTurn id: Int) {
        state.withLock { state in
            if let played = state.reported.removeValue(forKey: id) {
                state.conversation.setReply(heard.heardText(playedSamples: played), interrupted: true, forTurn: id)
                return
            }
            state.conversation.setReply(heard.heardText(playedSamples: estimatedPlayedSamples), interrupted: true, forTurn: id)
            state.awaitingReport[id] = heard
            Self.bound(&state.awaitingReport)
        }
    }

    /// The client's final count of samples of turn `id` it played (`playback.cleared`).
    public func playbackCleared(turnID id: Int, playedSamples: Int) {
        state.withLock { state in
            if let heard = state.awaitingReport.removeValue(forKey: id) {
                state.conversation.setReply(heard.heardText(playedSamples: playedSamples), interrupted: true, forTurn: id)
            } else {
                state.reported[id] = playedSamples
                Self.bound(&state.reported)
            }
        }
    }

    /// Records a round of tool calls made while replying to turn `id`.
    public func addToolRound(_ calls: [ToolCall], forTurn id: Int) {
        state.withLock { $0.conversation.addToolRound(calls, forTurn: id) }
    }

    /// Records the result of call `callID` made while replying to turn `id`.
    public func setToolResult(_ content: String, callID: String, forTurn id: Int) {
        state.withLock { $0.conversation.setToolResult(content, callID: callID, forTurn: id) }
    }

    /// The messages for replying to turn `id`.
    public func messages(upTo id: Int) -> [ChatMessage] {
        state.withLock { $0.conversation.messages(upTo: id) }
    }

    /// The turns to fold into the summary now, if the history is over budget.
    public func foldJob() -> Conversation.FoldJob? {
        state.withLock { $0.conversation.foldJob() }
    }

    /// Replaces the folded turns by their summary.
    public func applySummary(_ summary: String, for job: Conversation.FoldJob) {
        state.withLock { $0.conversation.applySummary(summary, for: job) }
    }

    private static func bound<Value>(_ table: inout [Int: Value]) {
        while table.count > pendingLimit, let oldest = table.keys.min() { table[oldest] = nil }
    }
}
