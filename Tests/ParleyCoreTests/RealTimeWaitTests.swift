import ParleyCore
import Testing

/// ``CancellationSignal/wait(atMost:)`` and the playback gate's sleep on the continuous clock,
/// which use a dispatch timer instead of a sleeping child task. Real time, so the bounds are
/// generous: a wait that should end early must end long before its timeout.
@Suite("Waiting on a signal with a real-time limit", .timeLimit(.minutes(1)))
struct RealTimeWaitTests {
    static func elapsed(_ body: () async throws -> Void) async rethrows -> Duration {
        let start = ContinuousClock.now
        try await body()
        return ContinuousClock.now - start
    }

    @Test("with nothing fired, the wait lasts its limit")
    func timesOut() async throws {
        let signal = CancellationSignal()
        let waited = try await Self.elapsed { try await signal.wait(atMost: .milliseconds(120)) }
        #expect(waited >= .milliseconds(120))
        #expect(waited < .seconds(10))
        #expect(!signal.isFired)
    }

    @Test("firing ends the wait at once; a fired signal does not wait at all")
    func fired() async throws {
        let signal = CancellationSignal()
        let waited = try await Self.elapsed {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await signal.wait(atMost: .seconds(30)) }
                try await Task.sleep(for: .milliseconds(30))
                signal.fire()
                try await group.waitForAll()
            }
        }
        #expect(waited < .seconds(10))
        let again = try await Self.elapsed { try await signal.wait(atMost: .seconds(30)) }
        #expect(again < .seconds(10))
    }

    @Test("cancelling the waiting task ends the wait with CancellationError")
    func cancelled() async throws {
        let signal = CancellationSignal()
        let waiter = Task { try await signal.wait(atMost: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(30))
        let waited = await Self.elapsed {
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
        }
        #expect(waited < .seconds(10))
        // A task cancelled before it waits throws at once too.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await signal.wait(atMost: .seconds(30))
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        // The signal still works for others.
        signal.fire()
        try await signal.wait(atMost: .seconds(30))
    }

    @Test("the gate's sleep on the continuous clock ends at its deadline, or at once when the gate pauses")
    func gateSleep() async throws {
        let clock = SessionClock.continuous
        let gate = PlaybackGate(clock: clock)
        let slept = try await Self.elapsed { try await gate.sleep(until: clock.now + .milliseconds(100), clock: clock) }
        #expect(slept >= .milliseconds(100))
        let interrupted = try await Self.elapsed {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await gate.sleep(until: clock.now + .seconds(30), clock: clock) }
                try await Task.sleep(for: .milliseconds(30))
                gate.pause()
                try await group.waitForAll()
            }
        }
        #expect(interrupted < .seconds(10))
        // Paused: no sleep at all.
        let paused = try await Self.elapsed { try await gate.sleep(until: clock.now + .seconds(30), clock: clock) }
        #expect(paused < .seconds(10))
    }
}
