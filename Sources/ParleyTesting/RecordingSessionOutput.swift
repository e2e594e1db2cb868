public import ParleyCore
import Synchronization

/// A session output that records every event with the instant it was sent.
public final class RecordingSessionOutput: SessionOutput {
    private let log = Mutex<[(event: SessionEvent, at: SessionClock.Instant)]>([])
    private let waiters = Mutex<[(predicate: @Sendable ([SessionEvent]) -> Bool, signal: CancellationSignal)]>([])

    /// The clock events are timed by: give the session's, so instants compare with its own.
    public let clock: SessionClock

    /// Creates an empty recording that times events by `clock`.
    public init(clock: SessionClock = .continuous) {
        self.clock = clock
    }

    public func send(_ event: SessionEvent) async throws {
        let events = log.withLock { log in
            log.append((event, clock.now))
            return log.map(\.event)
        }
        let ready = waiters.withLock { waiters in
            let ready = waiters.filter { $0.predicate(events) }.map(\.signal)
            waiters.removeAll { $0.predicate(events) }
            return ready
        }
        for signal in ready { signal.fire() }
    }

    /// Every event, in order.
    public var events: [SessionEvent] { log.withLock { $0.map(\.event) } }

    /// Every event with the instant it was sent.
    public var timedEvents: [(event: SessionEvent, at: SessionClock.Instant)] { log.withLock { $0 } }

    /// The events without audio frames.
    public var controlEvents: [SessionEvent] {
        events.filter {
            if case .agentAudio = $0 { return false }
            return true
        }
    }

    /// Waits until `predicate` holds for the events so far (or `timeout` passes); returns whether it held.
    @discardableResult
    public func wait(
        timeout: Duration = .seconds(10), until predicate: @escaping @Sendable ([SessionEvent]) -> Bool
    ) async -> Bool {
        let signal = CancellationSignal()
        waiters.withLock { $0.append((predicate, signal)) }
        if predicate(events) { signal.fire() }
        let fired =
            (try? await withThrowingTaskGroup(of: Bool.self) { group in
                defer { group.cancelAll() }
                group.addTask {
                    await signal.wait()
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return false
                }
                return try await group.next() ?? false
            }) ?? false
        return fired || predicate(events)
    }
}
