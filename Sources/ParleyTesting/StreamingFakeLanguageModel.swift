public import ParleyCore
import Synchronization

/// An LLM that streams a fixed reply word by word with a delay between words, and records when
/// each completion started, finished or was cancelled.
public struct StreamingFakeLanguageModel: LanguageModel {
    /// What happened to one request.
    public struct Call: Sendable {
        /// The messages received.
        public var messages: [ChatMessage]
        /// When the request arrived.
        public var started: SessionClock.Instant
        /// When the last word was delivered, if it was.
        public var finished: SessionClock.Instant?
        /// Whether the stream was cancelled before the end.
        public var cancelled = false
    }

    /// The reply, streamed as words (each with its trailing space).
    public let reply: String
    /// Delay before the first word.
    public let firstTokenDelay: Duration
    /// Delay between words.
    public let tokenDelay: Duration
    /// The clock the delays are waited on and calls are timed by.
    public let clock: SessionClock
    private let log = Log()

    public var name: String { "fake-llm" }

    /// Creates a model.
    public init(
        reply: String, firstTokenDelay: Duration = .milliseconds(20), tokenDelay: Duration = .milliseconds(20),
        clock: SessionClock = .continuous
    ) {
        self.clock = clock
        self.reply = reply
        self.firstTokenDelay = firstTokenDelay
        self.tokenDelay = tokenDelay
    }

    /// Every request so far.
    public var calls: [Call] { log.calls.withLock { $0 } }

    public func complete(
        _ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void
    ) async throws
        -> [ToolCall]
    {
        let index = log.calls.withLock { calls in
            calls.append(Call(messages: messages, started: clock.now))
            return calls.count - 1
        }
        do {
            try await clock.sleep(for: firstTokenDelay)
            var words = reply.split(separator: " ", omittingEmptySubsequences: false).map { String($0) + " " }
            if let last = words.popLast() { words.append(String(last.dropLast())) }
            for (position, word) in words.enumerated() {
                if position > 0 { try await clock.sleep(for: tokenDelay) }
                try await onText(word)
            }
            log.calls.withLock { $0[index].finished = clock.now }
            return []
        } catch {
            log.calls.withLock { $0[index].cancelled = true }
            throw error
        }
    }

    final class Log: Sendable {
        let calls = Mutex<[Call]>([])
    }
}
