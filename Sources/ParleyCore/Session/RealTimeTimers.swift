/// Sets one-shot timers in real time (the continuous clock).
public protocol RealTimeTimer: Sendable {
    /// Calls `fire` once, `delay` from now (at once if the timer can no longer keep time).
    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void)
}

/// The timer that real-time waits (``CancellationSignal/wait(atMost:)``) in the current task tree
/// use; none means a dispatch timer. The server gives each session its connection's event loop, so
/// that a pacer's 17 sleeps a second wake the thread that writes its socket rather than dispatch's
/// timer thread and then another one.
public enum RealTimeTimers {
    /// This task tree's timer, if any.
    @TaskLocal public static var current: (any RealTimeTimer)?
}
