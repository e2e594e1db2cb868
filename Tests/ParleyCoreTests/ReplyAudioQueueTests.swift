import ParleyTesting
import Synchronization
import Testing

@testable import ParleyCore

/// ``ReplyAudioQueue``: order, everything that has come at once, the bound that makes the
/// synthesiser wait, and cancellation from either side.
@Suite("Reply audio queue", .timeLimit(.minutes(1)))
struct ReplyAudioQueueTests {
    /// `milliseconds` of audio at 1 kHz, every sample `value`.
    static func chunk(_ value: Int16, milliseconds: Int = 50) -> AudioChunk {
        AudioChunk(samples: [Int16](repeating: value, count: milliseconds), sampleRate: 1000)
    }

    @Test("chunks come out in order, the rest at once with takeAvailable, then nil once finished")
    func order() async throws {
        let queue = ReplyAudioQueue(capacity: .seconds(1))
        for value in Int16(1)...4 { try await queue.push(Self.chunk(value)) }
        #expect(await queue.next()?.samples.first == 1)
        #expect(queue.takeAvailable().map { $0.samples.first } == [2, 3, 4])
        #expect(queue.takeAvailable().isEmpty)
        try await queue.push(Self.chunk(5))
        queue.finish()
        #expect(await queue.next()?.samples.first == 5)
        #expect(await queue.next() == nil)
    }

    @Test("a consumer waiting for audio gets the next chunk pushed")
    func waitingConsumer() async throws {
        let queue = ReplyAudioQueue(capacity: .seconds(1))
        async let first = queue.next()
        try await Task.sleep(for: .milliseconds(20))
        try await queue.push(Self.chunk(7))
        #expect(await first?.samples.first == 7)
    }

    @Test("a synthesiser a capacity ahead waits until the pacer takes audio; none is dropped")
    func bounded() async throws {
        let queue = ReplyAudioQueue(capacity: .milliseconds(100))
        let pushed = Mutex(0)
        let producer = Task {
            for value in Int16(1)...6 {
                try await queue.push(Self.chunk(value))
                pushed.withLock { $0 += 1 }
            }
            queue.finish()
        }
        // 100 ms fit: the second push returns only once room is made.
        _ = await poll(timeout: .seconds(5)) { pushed.withLock { $0 } >= 1 }
        try await Task.sleep(for: .milliseconds(50))
        #expect(pushed.withLock { $0 } == 1)
        var values: [Int16] = []
        while let chunk = await queue.next() { values.append(chunk.samples[0]) }
        try await producer.value
        #expect(values == [1, 2, 3, 4, 5, 6])
    }

    @Test("cancelling the pacer ends its wait with nil and stops the synthesiser's pushes")
    func consumerCancelled() async throws {
        let queue = ReplyAudioQueue(capacity: .milliseconds(100))
        try await queue.push(Self.chunk(1))
        let producer = Task { try await queue.push(Self.chunk(2)) }
        let consumer = Task { () -> Int in
            var count = 0
            // Takes the two chunks, then waits for a third that never comes.
            while await queue.next() != nil { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        #expect(await consumer.value == 2)
        try await producer.value
        await #expect(throws: CancellationError.self) { try await queue.push(Self.chunk(3)) }
    }

    @Test("cancelling a synthesiser waiting for room ends its push with CancellationError")
    func producerCancelled() async throws {
        let queue = ReplyAudioQueue(capacity: .milliseconds(100))
        try await queue.push(Self.chunk(1))
        let started = Mutex(false)
        let producer = Task {
            started.withLock { $0 = true }
            try await queue.push(Self.chunk(2))
        }
        _ = await poll(timeout: .seconds(5)) { started.withLock { $0 } }
        try await Task.sleep(for: .milliseconds(30))
        producer.cancel()
        await #expect(throws: CancellationError.self) { try await producer.value }
        // What was queued before stays for the pacer.
        #expect(await queue.next()?.samples.first == 1)
    }
}
