/// Checks `condition` every `interval` of wall time until it holds; false if it still does not
/// once `timeout` has passed (or the task is cancelled). Every test helper that waits on state it
/// cannot be told about polls through this one loop. On a fake's event loop (a ``FakeTwilioCall``'s
/// body) the interval is that loop's timer (``FakeClock``).
public func poll(timeout: Duration, every interval: Duration = .milliseconds(1), until condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline, (try? await FakeClock.sleep(for: interval)) != nil else { return condition() }
    }
    return true
}
