import Synchronization

/// An LLM request started on a stable final transcript before the user's turn is committed
/// (`--early-llm`), so the reply's first token may already be there when the turn ends.
///
/// Nothing of it is spoken or sent early: its text is buffered until the turn commits with the
/// same words, when the reply replays the buffer and goes on reading the live stream. If the user
/// goes on talking first, it is discarded — the request is cancelled and its text dropped.
final class EarlyReply: Sendable {
    /// The user's text it answers.
    let userText: String
    /// The messages sent.
    let messages: [ChatMessage]
    /// When it was asked for.
    let created: SessionClock.Instant
    /// What the model produced, in order.
    enum Piece: Sendable {
        /// Reply text.
        case text(String)
        /// The model started calling the tool named (``ProviderContext/toolCallStarted``).
        case toolCallStarted(String)
    }

    /// The reply as it arrives; ends with the LLM's error or, when discarded, a cancellation.
    let deltas: AsyncThrowingStream<Piece, any Error>
    private let sink: AsyncThrowingStream<Piece, any Error>.Continuation
    private let discarded = CancellationSignal()
    private let made = Mutex<(tools: ToolSet?, calls: [ToolCall])>((nil, []))

    /// The tools offered and the calls the model made, read once ``deltas`` has ended.
    var toolCalls: (tools: ToolSet?, calls: [ToolCall]) { made.withLock { $0 } }

    /// Replies are bounded by the LLM's token limit; this bounds a misbehaving one.
    static let capacity = 8192

    init(userText: String, messages: [ChatMessage], created: SessionClock.Instant) {
        self.userText = userText
        self.created = created
        self.messages = messages
        (deltas, sink) = AsyncThrowingStream.makeStream(of: Piece.self, bufferingPolicy: .bufferingOldest(Self.capacity))
    }

    /// Runs the request until it completes or is discarded; called by the session's speculator.
    /// The tools are offered as the reply would offer them, but any calls the model makes are only
    /// kept (``toolCalls``): they run once the turn is committed, if it is.
    func produce(with model: any LanguageModel, tools: ToolSet? = nil) async {
        do {
            let completed = try await discarded.run { [sink, messages, self] in
                self.made.withLock { $0.tools = tools }
                let announce = ToolCallAnnouncer { name in Self.buffer(.toolCallStarted(name), in: sink) }
                let calls = try await ProviderContext.$toolCallStarted.withValue(announce) {
                    try await model.complete(messages, tools: tools?.definitions ?? []) { delta in
                        guard Self.buffer(.text(delta), in: sink) else { throw Self.overflow }
                    }
                }
                self.made.withLock { $0.calls = calls }
            }
            sink.finish(throwing: completed ? nil : CancellationError())
        } catch {
            sink.finish(throwing: error)
        }
    }

    /// The error that ends a reply that outgrew the buffer: its text is not spoken cut short.
    static let overflow = ProviderError(
        provider: "parley", kind: .rejected, message: "the early reply outgrew its buffer of \(capacity) pieces before the turn ended")

    /// Buffers `piece`; false when the buffer is full (the reply cannot be replayed whole).
    @discardableResult
    private static func buffer(_ piece: Piece, in sink: AsyncThrowingStream<Piece, any Error>.Continuation) -> Bool {
        if case .dropped = sink.yield(piece) { return false }
        return true
    }

    /// Cancels the request: the user went on talking, or said something else.
    func discard() {
        discarded.fire()
    }

    /// Whether it was discarded.
    var isDiscarded: Bool { discarded.isFired }
}
