public import ParleyCore
import Synchronization

/// A clock that moves only when a test advances it: sessions, pacers and deadlines given this
/// clock never wait on wall time, so what a test asserts about timing holds on a loaded machine.
///
/// Written here rather than taken from pointfreeco/swift-clocks: its `TestClock` yields a fixed
/// number of times after advancing and cannot say who is waiting, which is not enough for tasks on
/// other threads of a busy 2-core machine. This clock counts its sleepers, so a test can wait
/// until the code under test is really waiting on time (``waitForSleepers(_:timeout:)``) before
/// it moves time on.
public final class ManualClock: Clock, Sendable {
    /// A point on the manual timeline: the offset from the clock's start (the same offset
    /// instant a ``SessionClock`` has).
    public typealias Instant = SessionClock.Instant

    private struct Sleeper {
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [UInt64: Sleeper] = [:]
        /// Sleeps cancelled before they were registered.
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates a clock at offset zero.
    public init() {}

    /// The current instant.
    public var now: Instant { state.withLock { $0.now } }

    /// Time moves only by ``advance(by:)``, in any step.
    public var minimumResolution: Duration { .zero }

    /// Tasks now waiting on the clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline a task waits for; nil when none waits.
    public var nextDeadline: Instant? { state.withLock { $0.sleepers.values.map(\.deadline).min() } }

    /// Suspends until the clock has been advanced to `deadline`; throws `CancellationError` if the
    /// task is cancelled first.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case wait, due, cancelled }
                let outcome = state.withLock { state -> Outcome in
                    if state.cancelled.remove(id) != nil { return .cancelled }
                    if deadline <= state.now { return .due }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return .wait
                }
                switch outcome {
                case .wait: break
                case .due: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let sleeper = state.sleepers.removeValue(forKey: id) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return sleeper
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        // A cancellation that raced the registration and lost leaves its mark behind.
        _ = state.withLock { $0.cancelled.remove(id) }
    }

    /// Moves time on by `duration` at once and wakes every sleeper whose deadline has come, the
    /// earliest first. A sleeper that goes back to sleep is woken by a later advance: to step
    /// through a span as real time would, advance in small steps (``advance(by:step:)``).
    public func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { state.sleepers[id] = nil }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Advances `duration` in steps of `step`, waiting after each until `sleepers` tasks wait on
    /// the clock again (or `settle` of wall time passed), so code that sleeps in a loop — a pacer
    /// sending a frame every 20 ms — sees every step.
    public func advance(by duration: Duration, step: Duration, sleepers: Int = 1, settle: Duration = .seconds(2)) async {
        var left = duration
        while left > .zero {
            let move = min(step, left)
            advance(by: move)
            left -= move
            _ = await waitForSleepers(sleepers, timeout: settle)
        }
    }

    /// Waits (polling every millisecond of wall time) until at least `count` tasks wait on the
    /// clock; false if `timeout` of wall time passes first.
    @discardableResult
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(10)) async -> Bool {
        await poll(timeout: timeout) { sleeperCount >= count }
    }
}
