import DequeModule
import Synchronization

/// A reply's audio between its synthesiser and its ``AudioPacer``, so that the pacer sees all the
/// audio that has come, not only the chunk in hand.
///
/// The synthesiser used to hand each chunk to the pacer and wait while the pacer sent it out in
/// real time. The pacer then held one chunk at a time: with a synthesiser's small chunks (about 30
/// ms each from the fake ElevenLabs) its bursts (``SessionConfiguration/outputBatch``) held one or
/// two frames instead of three, so it woke and wrote a message per 20–40 ms of audio. Now the
/// synthesiser's task pushes chunks here and goes on reading; the pacer's task takes the next
/// chunk, and before each burst everything else that has come (``takeAvailable()``).
///
/// Bounded by duration: a synthesiser more than ``capacity`` of audio ahead of the pacer waits in
/// ``push(_:)`` until the pacer has taken some (so its socket is read no further ahead, as
/// before), rather than dropping audio or failing the reply. One producer and one consumer.
final class ReplyAudioQueue: Sendable {
    private struct State {
        var chunks = Deque<AudioChunk>()
        /// The audio queued, in seconds.
        var queued = 0.0
        var finished = false
        /// The consumer was cancelled: nothing more is taken.
        var closed = false
        /// The producer's task was cancelled while it might wait.
        var producerCancelled = false
        /// The consumer waiting in ``next()``; only set while `chunks` is empty.
        var consumer: UnsafeContinuation<AudioChunk?, Never>?
        /// The producer waiting in ``push(_:)`` for room.
        var producer: UnsafeContinuation<Void, Never>?

        /// Whether a push must wait: `capacity` seconds or more queued, and the queue still open.
        func producerWaits(capacity: Double) -> Bool {
            !closed && !producerCancelled && !chunks.isEmpty && queued >= capacity
        }

        /// The first chunk queued (`.some(nil)`: the end; nil: none yet), with the waiting
        /// producer taken out if there is room for it now.
        mutating func pop(capacity: Double) -> (chunk: AudioChunk??, producer: UnsafeContinuation<Void, Never>?) {
            if closed { return (.some(nil), nil) }
            guard let chunk = chunks.popFirst() else { return (finished ? .some(nil) : nil, nil) }
            queued = chunks.isEmpty ? 0 : queued - Double(chunk.samples.count) / Double(max(1, chunk.sampleRate))
            return (.some(chunk), room(capacity: capacity))
        }

        /// The waiting producer, taken out, if the queue now has room for it.
        mutating func room(capacity: Double) -> UnsafeContinuation<Void, Never>? {
            guard queued < capacity || chunks.isEmpty, let waiting = producer else { return nil }
            producer = nil
            return waiting
        }
    }

    /// How much audio, in seconds, may wait before ``push(_:)`` waits for room.
    private let capacity: Double
    private let state = Mutex(State())

    /// An empty queue holding at most about `capacity` of audio (one chunk more at most).
    init(capacity: Duration) {
        self.capacity = max(0, capacity.seconds)
    }

    /// Queues `chunk` (or hands it to the waiting consumer), then waits while the queue holds
    /// ``capacity`` or more. Throws `CancellationError` if the producer's task is cancelled or
    /// the consumer is gone.
    func push(_ chunk: AudioChunk) async throws {
        let (consumer, closed) = state.withLock { state -> (UnsafeContinuation<AudioChunk?, Never>?, Bool) in
            if state.closed || state.finished { return (nil, true) }
            if let consumer = state.consumer {
                state.consumer = nil
                return (consumer, false)
            }
            state.chunks.append(chunk)
            state.queued += Double(chunk.samples.count) / Double(max(1, chunk.sampleRate))
            return (nil, false)
        }
        if closed { throw CancellationError() }
        if let consumer {
            consumer.resume(returning: chunk)
            return
        }
        while state.withLock({ $0.producerWaits(capacity: capacity) }) {
            await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                    let waits = state.withLock { state -> Bool in
                        guard state.producerWaits(capacity: capacity) else { return false }
                        state.producer = continuation
                        return true
                    }
                    if !waits { continuation.resume() }
                }
            } onCancel: {
                let producer = state.withLock { state -> UnsafeContinuation<Void, Never>? in
                    state.producerCancelled = true
                    defer { state.producer = nil }
                    return state.producer
                }
                producer?.resume()
            }
            try Task.checkCancellation()
        }
        if state.withLock({ $0.closed }) { throw CancellationError() }
        try Task.checkCancellation()
    }

    /// No more chunks come: the consumer takes what is queued, then ``next()`` returns nil.
    func finish() {
        let consumer = state.withLock { state -> UnsafeContinuation<AudioChunk?, Never>? in
            state.finished = true
            defer { state.consumer = nil }
            return state.consumer
        }
        consumer?.resume(returning: nil)
    }

    /// The next chunk, waiting for one; nil once the queue is finished and empty, or when the
    /// calling task is cancelled (which also ends the producer's pushes).
    func next() async -> AudioChunk? {
        if !Task.isCancelled, let ready = take() { return ready }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<AudioChunk?, Never>) in
                let (ready, producer) = state.withLock { state in
                    let (chunk, producer) = state.pop(capacity: capacity)
                    if case .none = chunk {
                        precondition(state.consumer == nil, "a reply audio queue has one consumer")
                        state.consumer = continuation
                    }
                    return (chunk, producer)
                }
                producer?.resume()
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let (consumer, producer) = state.withLock { state in
                state.closed = true
                state.chunks.removeAll()
                state.queued = 0
                defer {
                    state.consumer = nil
                    state.producer = nil
                }
                return (state.consumer, state.producer)
            }
            consumer?.resume(returning: nil)
            producer?.resume()
        }
    }

    /// Every chunk queued now, without waiting (none once the queue is closed).
    func takeAvailable() -> [AudioChunk] {
        let (chunks, producer) = state.withLock { state -> ([AudioChunk], UnsafeContinuation<Void, Never>?) in
            guard !state.closed, !state.chunks.isEmpty else { return ([], nil) }
            let chunks = Array(state.chunks)
            state.chunks.removeAll(keepingCapacity: true)
            state.queued = 0
            return (chunks, state.room(capacity: capacity))
        }
        producer?.resume()
        return chunks
    }

    /// The first chunk queued (`.some(nil)`: the end; nil: none queued now), without waiting.
    private func take() -> AudioChunk?? {
        let (chunk, producer) = state.withLock { $0.pop(capacity: capacity) }
        producer?.resume()
        return chunk
    }
}
