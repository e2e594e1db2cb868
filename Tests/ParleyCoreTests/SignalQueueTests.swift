import Testing

@testable import ParleyCore

@Suite("The session's signal queue")
struct SignalQueueTests {
    @Test("elements come out in order; a full queue drops the offer and keeps what it holds")
    func orderAndCapacity() async {
        let queue = SignalQueue<Int>(capacity: 3)
        #expect((1...3).map { queue.offer($0) } == [.enqueued, .enqueued, .enqueued])
        #expect(queue.offer(4) == .dropped)
        #expect(await queue.next() == 1)
        #expect(queue.offer(5) == .enqueued)
        #expect(await queue.next() == 2)
        #expect(await queue.next() == 3)
        #expect(await queue.next() == 5)
    }

    @Test("offerOrFinish: a full queue finishes and says it overflowed; what it held is still read")
    func overflow() async {
        let queue = SignalQueue<Int>(capacity: 2)
        #expect(queue.offerOrFinish(1) == .enqueued && queue.offerOrFinish(2) == .enqueued)
        #expect(!queue.overflowed)
        #expect(queue.offerOrFinish(3) == .dropped)
        #expect(queue.overflowed)
        #expect(queue.offerOrFinish(4) == .terminated)
        #expect(await queue.next() == 1)
        #expect(await queue.next() == 2)
        #expect(await queue.next() == nil)
    }

    @Test("finish: what is buffered is still read, then nil; later offers are terminated")
    func finish() async {
        let queue = SignalQueue<Int>(capacity: 4)
        queue.offer(1)
        queue.offer(2)
        queue.finish()
        #expect(queue.offer(3) == .terminated)
        #expect(await queue.next() == 1)
        #expect(await queue.next() == 2)
        #expect(await queue.next() == nil)
        #expect(await queue.next() == nil)
    }

    @Test("a waiting consumer gets the next offer, or nil when the queue finishes")
    func waiting() async {
        let queue = SignalQueue<Int>(capacity: 1)
        async let first = queue.next()
        // The offer lands whether or not the consumer waits yet: a capacity of one is enough.
        #expect(queue.offer(7) == .enqueued)
        #expect(await first == 7)
        async let second = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.finish()
        #expect(await second == nil)
    }

    @Test("cancelling the consumer ends its wait (or its next call) with nil, drops what is buffered and terminates later offers")
    func cancellation() async {
        let queue = SignalQueue<Int>(capacity: 4)
        let waiter = Task { await queue.next() }
        try? await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        #expect(await waiter.value == nil)
        #expect(queue.offer(1) == .terminated)

        let buffered = SignalQueue<Int>(capacity: 4)
        buffered.offer(1)
        // A task already cancelled gets nil without taking what is buffered, as from a stream.
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await buffered.next()
        }
        #expect(await cancelled.value == nil)
        #expect(buffered.offer(2) == .terminated)
    }

    @Test("four producers racing one consumer: every element once, each producer's in order")
    func concurrent() async {
        let perProducer = 5000
        let queue = SignalQueue<Int>(capacity: 64)
        let received = await withTaskGroup(of: [Int].self) { group in
            for producer in 0..<4 {
                group.addTask {
                    for index in 0..<perProducer {
                        // A full queue is retried after a yield: this test wants every element.
                        while queue.offer(producer * perProducer + index) == .dropped { await Task.yield() }
                    }
                    return []
                }
            }
            group.addTask {
                var received: [Int] = []
                while received.count < 4 * perProducer, let element = await queue.next() { received.append(element) }
                return received
            }
            var all: [Int] = []
            for await part in group { all += part }
            return all
        }
        #expect(received.count == 4 * perProducer)
        #expect(Set(received).count == 4 * perProducer)
        for producer in 0..<4 {
            let mine = received.filter { $0 / perProducer == producer }
            #expect(mine == mine.sorted())
        }
    }
}
