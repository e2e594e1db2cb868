import ParleyCore

/// The fakes' real-time sleeps: on their connection's event loop timer when the fake serves a
/// connection of ``FakeProviderServer`` (which sets ``RealTimeTimers/current``), else the
/// continuous clock's.
///
/// `Task.sleep` is dispatch's timer: its thread wakes, then a dispatch worker to resume the
/// sleeper, which hands it back to the connection's loop, three threads per wake-up. The fakes
/// sleep before every streamed LLM token and every paced audio chunk, so in `parley-bench
/// capacity` dispatch's threads were a sixth of the load generator's CPU (BENCHMARKS.md,
/// 2026-12-07).
enum FakeClock {
    /// Suspends for `duration`; throws `CancellationError` if the task is cancelled first.
    static func sleep(for duration: Duration) async throws {
        try await SessionClock.continuous.sleep(for: duration)
    }

    /// Suspends until `deadline` on the continuous clock; throws `CancellationError` if the task
    /// is cancelled first.
    static func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await sleep(for: deadline - .now)
    }
}
