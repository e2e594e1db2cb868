public import NIOCore

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
