import NIOCore
import NIOPosix
import ParleyCore
import ParleyProviders
import ParleyTesting
import Synchronization
import Testing

@testable import ParleyServer

/// ``ConnectionLoop``: a session's tasks run on its connection's event loop, its real-time waits
/// are timed by that loop, and they still end at their limit, when their signal fires, or on
/// cancellation.
@Suite("Sessions on the connection's event loop", .timeLimit(.minutes(1)))
struct ConnectionLoopTests {
    /// Runs `body` with a fresh one-thread event loop, shut down afterwards.
    static func withLoop(_ body: (any EventLoop) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await body(group.next())
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    /// Runs `wait` in a child task, cancels it 30 ms later, and returns how long that took and
    /// whether `wait` threw `CancellationError`.
    static func cancelled(_ wait: @escaping @Sendable () async throws -> Void) async -> (after: Duration, threw: Bool) {
        let start = ContinuousClock.now
        let threw = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await wait()
                    return false
                } catch {
                    return error is CancellationError
                }
            }
            try? await Task.sleep(for: .milliseconds(30))
            group.cancelAll()
            return await group.next() ?? false
        }
        return (ContinuousClock.now - start, threw)
    }

    /// A timer that counts what it schedules, on `loop`.
    final class CountingTimer: RealTimeTimer {
        let loop: any EventLoop
        let count = Mutex(0)

        init(loop: any EventLoop) {
            self.loop = loop
        }

        func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) {
            count.withLock { $0 += 1 }
            let loop = loop
            EventLoopTimer(eventLoop: loop).schedule(after: delay) {
                #expect(loop.inEventLoop)
                fire()
            }
        }
    }

    @Test("a wait lasts its limit, and its timer fires on the loop")
    func timedByTheLoop() async throws {
        try await Self.withLoop { loop in
            let (waited, hadTimer) = try await ConnectionLoop.run(on: loop) { () async throws -> (Duration, Bool) in
                let hadTimer = RealTimeTimers.current is EventLoopTimer
                let start = ContinuousClock.now
                try await CancellationSignal().wait(atMost: .milliseconds(80))
                return (ContinuousClock.now - start, hadTimer)
            }
            #expect(hadTimer)
            #expect(waited >= .milliseconds(80))
            #expect(waited < .seconds(10))

            let timer = CountingTimer(loop: loop)
            try await RealTimeTimers.$current.withValue(timer) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Child tasks inherit the timer.
                    group.addTask { try await CancellationSignal().wait(atMost: .milliseconds(20)) }
                    try await CancellationSignal().wait(atMost: .milliseconds(20))
                    try await group.waitForAll()
                }
            }
            #expect(timer.count.withLock { $0 } == 2)
        }
    }

    @Test("the session's continuous clock sleeps on the loop's timer: to its deadline, or until cancelled")
    func clockSleepsOnTheLoop() async throws {
        try await Self.withLoop { loop in
            let timer = CountingTimer(loop: loop)
            let clock = SessionClock.continuous
            let slept = try await RealTimeTimers.$current.withValue(timer) { () async throws -> Duration in
                let start = ContinuousClock.now
                try await clock.sleep(until: clock.now + .milliseconds(60))
                try await clock.sleep(for: .milliseconds(20))
                return ContinuousClock.now - start
            }
            #expect(timer.count.withLock { $0 } == 2)
            #expect(slept >= .milliseconds(80))
            #expect(slept < .seconds(10))

            let (cancelledAfter, threw) = await RealTimeTimers.$current.withValue(timer) {
                await Self.cancelled { try await clock.sleep(for: .seconds(30)) }
            }
            #expect(timer.count.withLock { $0 } == 3)
            #expect(cancelledAfter < .seconds(10))
            #expect(threw)
        }
    }

    @Test("firing the signal or cancelling the task ends a loop-timed wait at once")
    func firedOrCancelled() async throws {
        try await Self.withLoop { loop in
            let signal = CancellationSignal()
            let fired = try await ConnectionLoop.run(on: loop) { () async throws -> Duration in
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await signal.wait(atMost: .seconds(30)) }
                    try await Task.sleep(for: .milliseconds(30))
                    signal.fire()
                    try await group.waitForAll()
                }
                return ContinuousClock.now - start
            }
            #expect(fired < .seconds(10))

            let (cancelledAfter, threw) = await ConnectionLoop.run(on: loop) {
                await Self.cancelled { try await CancellationSignal().wait(atMost: .seconds(30)) }
            }
            #expect(cancelledAfter < .seconds(10))
            #expect(threw)
        }
    }

    @Test("the body and its child tasks run on the loop, after every suspension, and a provider socket opened there uses it")
    func tasksOnTheLoop() async throws {
        try await Self.withLoop { loop in
            let fake = FakeProviderServer(webSocket: { _ in .accept(headers: []) { _ in try await Task.sleep(for: .seconds(30)) } })
            try await fake.run { port in
                let onLoop = try await ConnectionLoop.run(on: loop) { () async throws -> [Bool] in
                    var seen = [loop.inEventLoop]
                    try await Task.sleep(for: .milliseconds(5))
                    seen.append(loop.inEventLoop)
                    seen += try await withThrowingTaskGroup(of: Bool.self) { group in
                        for _ in 0..<4 {
                            group.addTask {
                                try await Task.sleep(for: .milliseconds(5))
                                await Task.yield()
                                return loop.inEventLoop
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    seen.append(MultiThreadedEventLoopGroup.currentEventLoop === loop)
                    let socketLoop = try await ProviderWebSocket.connect(
                        to: "ws://127.0.0.1:\(port)/", headers: [], maximumMessageSize: 1 << 16, timeout: .seconds(5)
                    ) { connection in connection.eventLoop }
                    seen.append(socketLoop === loop)
                    return seen
                }
                #expect(onLoop == [Bool](repeating: true, count: 8))
            }
        }
    }

    @Test("with no connection loop the body runs on the cooperative pool and dispatch's timers, as before")
    func withoutALoop() async {
        let (hadTimer, onALoop) = await ConnectionLoop.run(on: nil) {
            (RealTimeTimers.current != nil, MultiThreadedEventLoopGroup.currentEventLoop != nil)
        }
        #expect(!hadTimer)
        #expect(!onALoop)
    }

    @Test("a loop that shuts down still wakes its timers' waiters")
    func loopShutsDown() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let woke = Mutex(false)
        EventLoopTimer(eventLoop: loop).schedule(after: .seconds(3600)) { woke.withLock { $0 = true } }
        try await group.shutdownGracefully()
        #expect(woke.withLock { $0 })
    }
}
