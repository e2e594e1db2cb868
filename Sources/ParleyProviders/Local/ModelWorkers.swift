import Dispatch
import Synchronization

/// A few threads of their own for model runs that take tens of milliseconds of CPU (smart-turn),
/// so a run does not hold one of Swift concurrency's cooperative threads, which every session's
/// 20 ms audio frames share, and a bound on the runs waiting, so a burst of them is refused
/// rather than queued behind seconds of work.
///
/// Each worker is a serial dispatch queue; a run goes to the one with the fewest runs, and is
/// refused (``Busy``) when that one already has ``maximumQueued``. Swift concurrency has no
/// executor with a width limit to hand such work to, which is why this is written here.
public final class ModelWorkers: Sendable {
    /// Refused: every worker had ``maximumQueued`` runs waiting or under way.
    public struct Busy: Error, CustomStringConvertible {
        public var description: String { "every model worker is busy" }
    }

    private let queues: [DispatchQueue]
    private let load: Mutex<[Int]>
    /// The most runs one worker holds, the one under way included.
    public let maximumQueued: Int

    /// `workers` threads (at least one), each holding up to `maximumQueued` runs.
    public init(workers: Int, maximumQueued: Int = 2, label: String) {
        let count = max(1, workers)
        queues = (0..<count).map { DispatchQueue(label: "\(label).\($0)", qos: .userInitiated) }
        load = Mutex([Int](repeating: 0, count: count))
        self.maximumQueued = max(1, maximumQueued)
    }

    /// Runs `work` on a worker and returns its result. Cancellation before the run starts skips
    /// it (throwing `CancellationError`); a run under way finishes first.
    public func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        let limit = maximumQueued
        let chosen = load.withLock { load -> Int? in
            guard let index = load.indices.min(by: { load[$0] < load[$1] }), load[index] < limit else { return nil }
            load[index] += 1
            return index
        }
        guard let index = chosen else { throw Busy() }
        let cancelled = Flag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                queues[index].async {
                    defer { self.load.withLock { $0[index] -= 1 } }
                    if cancelled.isSet {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume(with: Result { try work() })
                    }
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }

    /// Set once, read from another thread.
    private final class Flag: Sendable {
        private let value = Atomic(false)
        var isSet: Bool { value.load(ordering: .acquiring) }
        func set() { value.store(true, ordering: .releasing) }
    }
}
