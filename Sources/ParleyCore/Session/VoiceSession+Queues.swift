import Logging

extension VoiceSession {
    /// Queues `item` on one of the session's bounded streams, for a consumer that must not miss
    /// it (a reply's end, the end of input, a transcript, speech start or end).
    ///
    /// A full queue means the session fell hopelessly behind; going on without the item would
    /// leave the coordinator waiting for something that never comes, so the drop is logged and
    /// ends the session with a fatal `input_overflow` the client sees. A finished stream (its
    /// consumer already ended) takes nothing and is not an error.
    static func enqueue<Element: Sendable>(
        _ item: sending Element, on sink: AsyncStream<Element>.Continuation, _ what: @autoclosure () -> String, logger: Logger
    ) throws {
        guard case .dropped = sink.yield(item) else { return }
        throw overflow(what(), logger: logger)
    }

    /// Queues `signal` for the coordinator; as ``enqueue(_:on:_:logger:)`` for a stream.
    static func enqueue(
        _ signal: sending Signal, on queue: SignalQueue<Signal>, _ what: @autoclosure () -> String, logger: Logger
    ) throws {
        guard case .dropped = queue.offer(signal) else { return }
        throw overflow(what(), logger: logger)
    }

    /// Logs that `what` was dropped from a full queue, and the error that ends the session.
    private static func overflow(_ what: String, logger: Logger) -> SessionError {
        logger.error("session queue full: \(what) was dropped; closing")
        return SessionError(.inputOverflow, "The session fell behind: its queue was full when \(what) arrived; closing.", fatal: true)
    }
}
