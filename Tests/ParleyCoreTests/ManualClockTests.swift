import ParleyCore
import ParleyTesting
import Synchronization
import Testing

@Suite("Manual clock")
struct ManualClockTests {
    final class Woken: Sendable {
        let list = Mutex<[Int]>([])
    }

    @Test("a sleeper wakes only when time is advanced to its deadline, earliest first")
    func wakesInOrder() async throws {
        let clock = ManualClock()
        let woken = Woken()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, delay) in [300, 100, 200].enumerated() {
                group.addTask {
                    try await clock.sleep(for: .milliseconds(delay))
                    woken.list.withLock { $0.append(index) }
                }
            }
            #expect(await clock.waitForSleepers(3))
            #expect(clock.nextDeadline == ManualClock.Instant(offset: .milliseconds(100)))
            clock.advance(by: .milliseconds(99))
            #expect(clock.sleeperCount == 3)
            clock.advance(by: .milliseconds(1))
            #expect(clock.sleeperCount == 2)
            clock.advance(by: .milliseconds(200))
            try await group.waitForAll()
        }
        #expect(woken.list.withLock { Set($0) } == [0, 1, 2])
        #expect(clock.now == ManualClock.Instant(offset: .milliseconds(300)))
    }

    @Test("a deadline already passed returns at once; cancelling a sleeper wakes it with CancellationError")
    func pastAndCancelled() async throws {
        let clock = ManualClock()
        clock.advance(by: .seconds(1))
        try await clock.sleep(until: ManualClock.Instant(offset: .milliseconds(500)))
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        #expect(await clock.waitForSleepers(1))
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test("a session clock over the manual clock keeps its time")
    func erased() async throws {
        let manual = ManualClock()
        let clock = SessionClock(manual)
        let start = clock.now
        manual.advance(by: .milliseconds(250))
        #expect(clock.now - start == .milliseconds(250))
        async let slept: Void = clock.sleep(for: .milliseconds(100))
        #expect(await manual.waitForSleepers(1))
        manual.advance(by: .milliseconds(100))
        try await slept
    }
}
