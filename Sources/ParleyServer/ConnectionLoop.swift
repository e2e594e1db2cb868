import NIOCore
import ParleyCore

/// Times a session's real-time waits on its connection's event loop.
///
/// A reply's pacer sleeps between bursts about 17 times a second
/// (``CancellationSignal/wait(atMost:)``). On a dispatch timer each sleep woke dispatch's timer
/// thread, which woke a dispatch worker to resume the pacer, which put it on Swift's cooperative
/// pool: three threads per wake-up. On the event loop that already reads and writes the session's
/// socket, the loop's timerfd wakes it and it resumes the pacer: about 4 % less server CPU in a
/// conversation (BENCHMARKS.md, 2026-12-06).
///
/// Only the timers move: the session's tasks stay on the cooperative pool, so that a session's
/// Swift code never holds up the sockets of the other sessions on its loop. (Running them on the
/// loop too saved another 8 %, but in debug test runs it delayed other tests' fake servers past
/// their timeouts; BENCHMARKS.md.)
enum ConnectionLoop {
    /// Runs `body` with the real-time waits in its task tree timed by `eventLoop` (as before,
    /// by dispatch, without one).
    static func run<Result>(on eventLoop: (any EventLoop)?, _ body: () async throws -> Result) async rethrows -> Result {
        guard let eventLoop else { return try await body() }
        return try await RealTimeTimers.$current.withValue(EventLoopTimer(eventLoop: eventLoop)) {
            try await body()
        }
    }
}

/// One-shot timers on an event loop (its timerfd), in place of dispatch's timer thread.
struct EventLoopTimer: RealTimeTimer {
    let eventLoop: any EventLoop

    private struct Callback: NIOScheduledCallbackHandler, Sendable {
        let fire: @Sendable () -> Void

        func handleScheduledCallback(eventLoop: some EventLoop) { fire() }
        // A loop that shuts down cancels its callbacks: the waiter must still wake.
        func didCancelScheduledCallback(eventLoop: some EventLoop) { fire() }
    }

    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) {
        do {
            _ = try eventLoop.scheduleCallback(in: .nanoseconds(delay.clampedNanoseconds), handler: Callback(fire: fire))
        } catch {
            // NIO's loops do not throw here (one that has shut down logs and drops the work; the
            // server's never shut down); a loop that did could keep no time, so wake the waiter now.
            fire()
        }
    }
}
