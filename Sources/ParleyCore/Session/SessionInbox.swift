import Synchronization

/// Where a transport puts the client's messages: straight onto the session's own bounded queue
/// (``VoiceSession/signalCapacity``), which the session's transcripts and reply ends share.
///
/// A socket reader that sends here hands each 20 ms frame to the session's coordinator directly,
/// with no task in between (one hand-off a frame fewer than a stream of messages would need).
/// A full queue means the session fell hopelessly behind: ``send(_:)`` refuses the message, the
/// queue ends, and the session ends with a fatal `input_overflow` once it has read what was queued.
public final class SessionInbox: Sendable {
    let signals = SignalQueue<VoiceSession.Signal>(capacity: VoiceSession.signalCapacity)
    private let ended = Atomic<Bool>(false)

    /// An empty inbox, for one session.
    public init() {}

    /// Queues a client message; false when the queue was full (the session then ends, and its
    /// error says why) or the session is over.
    @discardableResult
    public func send(_ message: ClientMessage) -> Bool {
        deliver(.input(message))
    }

    /// The client left: the session ends after the messages already queued (and a reply in flight).
    public func finish() {
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        _ = deliver(.inputEnded)
    }

    /// Whether a message found the queue full.
    public var overflowed: Bool { signals.overflowed }

    private func deliver(_ signal: sending VoiceSession.Signal) -> Bool {
        signals.offerOrFinish(signal) == .enqueued
    }
}
