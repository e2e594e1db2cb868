public import DequeModule
public import Synchronization

/// A bounded queue with one consumer: what an `AsyncStream` with `.bufferingOldest(capacity)`
/// does for the session's signals, at less cost per element.
///
/// Why not `AsyncStream`: its storage lives in the standard library, unspecialised, so every
/// `yield` and `next` looks up generic metadata at run time. At 50 frames a second per session
/// that was about 9 % of an idle server's CPU (perf, 100 sessions, BENCHMARKS.md 2026-12-05).
/// This queue is specialised where it is used, in any module (its members are inlinable): a
/// lock, a `Deque`, and one continuation. The session's inbox and the streaming recognisers'
/// queue (``RecognitionQueue`` in ParleyProviders) use it.
///
/// The semantics are the stream's:
/// - ``offer(_:)`` hands the element to a waiting consumer or buffers it. It reports `.dropped`
///   when `capacity` elements wait, and `.terminated` once the queue is finished or its consumer
///   was cancelled.
/// - ``finish()`` lets the consumer read what is buffered, then ``next()`` returns nil.
/// - Cancelling the consumer's task makes its ``next()`` return nil at once (waiting or not)
///   and drops what is buffered; later offers are `.terminated`.
public final class SignalQueue<Element: Sendable>: Sendable {
    /// What became of an offered element.
    public enum Offer: Equatable, Sendable {
        case enqueued
        case dropped
        case terminated
    }

    @usableFromInline
    struct State: Sendable {
        @usableFromInline var buffer = Deque<Element>()
        /// The consumer waiting in ``next()``; only ever set while `buffer` is empty.
        @usableFromInline var waiter: UnsafeContinuation<Element?, Never>?
        @usableFromInline var finished = false
        @usableFromInline var cancelled = false
        @usableFromInline var overflowed = false

        @inlinable init() {}

        @usableFromInline
        enum Take {
            case element(Element)
            case end
            case empty
        }

        @inlinable
        mutating func take() -> Take {
            if cancelled { return .end }
            if let first = buffer.popFirst() { return .element(first) }
            return finished ? .end : .empty
        }
    }

    /// The most elements that wait at once.
    public let capacity: Int
    @usableFromInline let state = Mutex(State())

    /// An empty queue that holds at most `capacity` elements.
    public init(capacity: Int) {
        precondition(capacity > 0, "a signal queue needs room for an element")
        self.capacity = capacity
    }

    /// Gives `element` to the consumer, now or when it next asks.
    @inlinable @discardableResult
    public func offer(_ element: sending Element) -> Offer {
        let (outcome, waiter) = state.withLock { state -> (Offer, UnsafeContinuation<Element?, Never>?) in
            if state.finished || state.cancelled { return (.terminated, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (.enqueued, waiter)
            }
            guard state.buffer.count < capacity else { return (.dropped, nil) }
            state.buffer.append(element)
            return (.enqueued, nil)
        }
        waiter?.resume(returning: element)
        return outcome
    }

    /// As ``offer(_:)``, but an element that finds the queue full also finishes it, and
    /// ``overflowed`` says so: for a producer whose consumer fell hopelessly behind and must end
    /// with a visible error once it has read what was queued.
    @inlinable @discardableResult
    public func offerOrFinish(_ element: sending Element) -> Offer {
        let outcome = offer(element)
        if outcome == .dropped {
            state.withLock { $0.overflowed = true }
            finish()
        }
        return outcome
    }

    /// Whether ``offerOrFinish(_:)`` found the queue full (and finished it).
    @inlinable
    public var overflowed: Bool { state.withLock { $0.overflowed } }

    /// Takes no more elements; the consumer reads those buffered, then gets nil.
    @inlinable
    public func finish() {
        let waiter = state.withLock { state -> UnsafeContinuation<Element?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next element, waiting for one; nil once the queue is finished and empty, or when the
    /// calling task is cancelled. One task at a time may call it.
    @inlinable
    public func next() async -> Element? {
        // A task already cancelled goes the long way: the handler runs first and ends the queue.
        if !Task.isCancelled {
            switch state.withLock({ $0.take() }) {
            case .element(let element): return element
            case .end: return nil
            case .empty: break
            }
        }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Element?, Never>) in
                let ready = state.withLock { state -> Element?? in
                    switch state.take() {
                    case .element(let element): return .some(element)
                    case .end: return .some(nil)
                    case .empty:
                        precondition(state.waiter == nil, "a signal queue has one consumer")
                        state.waiter = continuation
                        return nil
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> UnsafeContinuation<Element?, Never>? in
                state.cancelled = true
                state.buffer.removeAll()
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
