import ParleyCore
import ParleyTesting
import Synchronization

/// An LLM that answers replies with "Noted." and summary requests with `summary` after
/// `summaryDelay` (or fails them when `summary` is nil).
final class SummarisingFakeLanguageModel: LanguageModel {
    let replies = StreamingFakeLanguageModel(reply: "Noted.")
    let summary: String?
    let summaryDelay: Duration
    /// Fired when a summary has been delivered.
    let summaryReturned = CancellationSignal()
    private let log = Mutex<[SessionClock.Instant]>([])

    init(summary: String?, summaryDelay: Duration) {
        self.summary = summary
        self.summaryDelay = summaryDelay
    }

    var name: String { "summarising-fake" }

    /// When each summary request arrived.
    var summaryCalls: [SessionClock.Instant] { log.withLock { $0 } }

    func complete(_ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void) async throws -> [ToolCall] {
        guard messages.first == .system(Conversation.summaryInstruction) else {
            try await replies.complete(messages, onText: onText)
            return []
        }
        log.withLock { $0.append(SessionClock.continuous.now) }
        try await Task.sleep(for: summaryDelay)
        guard let summary else { throw ProviderError(provider: name, kind: .rejected, message: "HTTP 500", status: 500) }
        try await onText(summary)
        summaryReturned.fire()
        return []
    }
}
