public import NIOCore
public import ParleyCore

/// A task executor that runs each job on one event loop, in the order enqueued.
///
/// NIO's event loops are serial executors (for actors) but not task executors, so this is
/// written here; it is NIO's own `enqueue` (`EventLoop+SerialExecutor.swift`) with the job run
/// on a task executor. `withTaskExecutorPreference` holds the executor for as long as any task
/// that prefers it can run: the tasks of its body and their structured children. The server runs
/// each session on its connection's loop with it (`ConnectionLoop`), the test fakes each connection
/// on theirs (`FakeProviderServer`).
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop that runs every job.
    public let eventLoop: any EventLoop

    /// An executor for `eventLoop`.
    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}

/// One-shot timers on an event loop (its timerfd), in place of dispatch's timer thread.
public struct EventLoopTimer: RealTimeTimer {
    /// The loop whose timer fires.
    public let eventLoop: any EventLoop

    /// A timer on `eventLoop`.
    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    private struct Callback: NIOScheduledCallbackHandler, Sendable {
        let fire: @Sendable () -> Void

        func handleScheduledCallback(eventLoop: some EventLoop) { fire() }
        // A loop that shuts down cancels its callbacks: the waiter must still wake.
        func didCancelScheduledCallback(eventLoop: some EventLoop) { fire() }
    }

    public func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) {
        do {
            _ = try eventLoop.scheduleCallback(in: .nanoseconds(delay.clampedNanoseconds), handler: Callback(fire: fire))
        } catch {
            // NIO's loops do not throw here (one that has shut down logs and drops the work; the
            // server's never shut down); a loop that did could keep no time, so wake the waiter now.
            fire()
        }
    }
}
