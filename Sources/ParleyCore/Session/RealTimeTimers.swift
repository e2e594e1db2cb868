import Dispatch

/// Sets one-shot timers in real time (the continuous clock).
public protocol RealTimeTimer: Sendable {
    /// Calls `fire` once, `delay` from now (at once if the timer can no longer keep time).
    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void)
}

/// The timer that real-time waits (``CancellationSignal/wait(atMost:)``) in the current task tree
/// use: ``current``, else ``DispatchTimer``. The server gives each session its connection's event
/// loop, so that a pacer's 17 sleeps a second wake the thread that writes its socket rather than
/// dispatch's timer thread and then another one.
public enum RealTimeTimers {
    /// This task tree's timer, if any.
    @TaskLocal public static var current: (any RealTimeTimer)?
}

/// Timers on dispatch's global queue: the default where no ``RealTimeTimers/current`` is set.
public struct DispatchTimer: RealTimeTimer {
    /// Creates the timer.
    public init() {}

    public func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) {
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(delay.clampedNanoseconds)), execute: fire)
    }
}

extension Duration {
    /// The duration in whole nanoseconds, negative ones as zero and the longest as `Int64.max`.
    public var clampedNanoseconds: Int64 {
        let (seconds, attoseconds) = max(.zero, self).components
        return seconds >= Int64.max / 1_000_000_000 ? Int64.max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
