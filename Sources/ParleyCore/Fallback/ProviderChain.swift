import Synchronization

/// What a provider chain (`--tts elevenlabs,local`) shares between sessions: the deadline of each
/// attempt, the retries before a provider's first byte, and which providers failed recently, so
/// that later turns go straight to a provider that works.
public final class ProviderChain: Sendable {
    /// The stage: `stt`, `llm` or `tts`.
    public let stage: String
    /// How long a provider may keep the session waiting for its first output, or between outputs,
    /// before it counts as failed (nil: no deadline).
    public let timeout: Duration?
    /// Tries of the same provider after a failure before its first output (a refused connection,
    /// a 5xx, a dropped stream), before the next provider is asked.
    public let retries: Int
    /// How long a provider that failed is tried only after the others.
    public let cooldown: Duration
    /// Fallbacks and failures, for `/health`.
    public let health: FallbackHealth
    private let failedAt: Mutex<[String: ContinuousClock.Instant]>

    /// Creates a chain's shared state.
    public init(stage: String, timeout: Duration?, retries: Int = 1, cooldown: Duration = .seconds(30), health: FallbackHealth = FallbackHealth()) {
        self.stage = stage
        self.timeout = timeout
        self.retries = retries
        self.cooldown = cooldown
        self.health = health
        failedAt = Mutex([:])
    }

    /// The order to try `names` in: those that have not failed within the cooldown first, in
    /// chain order, then the others (still worth a try when nothing else is left).
    func order(_ names: [String]) -> [Int] {
        let now = ContinuousClock.now
        let cooling = failedAt.withLock { failed in
            Set(names.indices.filter { index in failed[names[index]].map { now - $0 < cooldown } ?? false })
        }
        return names.indices.filter { !cooling.contains($0) } + names.indices.filter { cooling.contains($0) }
    }

    /// A provider failed.
    func failed(_ name: String) {
        failedAt.withLock { $0[name] = ContinuousClock.now }
    }

    /// A provider served.
    func served(_ name: String) {
        _ = failedAt.withLock { $0.removeValue(forKey: name) }
    }

    /// Whether `error` is worth another try of the same provider before its first output: it was
    /// not reached, it dropped the stream, or it answered 5xx. Refusals (a bad key, 4xx), protocol
    /// errors and timeouts go to the next provider at once.
    static func isRetryable(_ error: ProviderError) -> Bool {
        switch error.kind {
        case .unreachable, .streamEnded: true
        case .rejected: (error.status ?? 0) >= 500
        default: false
        }
    }

    /// Tries the providers `names` in the chain's order until one serves: `attempt(index, &produced)`
    /// runs provider `index` once, returning when it served and throwing ``ProviderError`` (or
    /// ``DeadlineExpired``) when it failed, with `produced` set once it handed on any `output`.
    /// A provider that failed before producing is retried per ``retries``; every failure is
    /// counted, every switch recorded; with none left, the last failure is thrown.
    func serve(_ names: [String], output: String, attempt: (_ index: Int, _ produced: inout Bool) async throws -> Void) async throws {
        let order = order(names)
        var lastError: ProviderError?
        for (position, index) in order.enumerated() {
            let name = names[index]
            var tries = 0
            while true {
                var produced = false
                let error: ProviderError
                do {
                    try await attempt(index, &produced)
                    served(name)
                    return
                } catch is DeadlineExpired {
                    error = ProviderError(
                        provider: name, kind: .timeout,
                        message: "no \(output) within \(timeout.map { "\($0)" } ?? "its deadline")\(produced ? " mid-reply" : "")")
                } catch let failure as ProviderError {
                    error = failure
                }
                try Task.checkCancellation()
                lastError = error
                ProviderContext.observer?.providerFailed(error, stage: stage)
                tries += 1
                guard !produced, tries <= retries, Self.isRetryable(error) else { break }
            }
            failed(name)
            if position + 1 < order.count, let lastError {
                fellBack(from: name, to: names[order[position + 1]], after: lastError)
            }
        }
        throw lastError ?? ProviderError(provider: names.joined(separator: ","), kind: .engine, message: "no provider in the chain")
    }

    /// Tells the session's observer and `/health` that `stage` moved from one provider to another.
    func fellBack(from: String, to: String, after error: ProviderError) {
        health.record(from: from, to: to, error: error)
        ProviderContext.observer?.providerFellBack(stage: stage, from: from, to: to)
    }
}

/// The latest fallback of a stage, for `/health` (`degraded` while it is recent).
public final class FallbackHealth: Sendable {
    /// What `/health` shows.
    public struct Snapshot: Sendable, Equatable {
        /// The provider that failed and the one that took over.
        public var from: String
        public var to: String
        /// The failure (never containing credentials).
        public var error: String
        /// When it happened.
        public var at: ContinuousClock.Instant
    }

    /// How long after a fallback the stage reports itself degraded.
    public static let degradedFor: Duration = .seconds(60)

    private let latest = Mutex<Snapshot?>(nil)
    private let count = Atomic<Int>(0)

    /// Creates an empty record.
    public init() {}

    func record(from: String, to: String, error: ProviderError) {
        latest.withLock { $0 = Snapshot(from: from, to: to, error: error.description, at: .now) }
        count.add(1, ordering: .relaxed)
    }

    /// The latest fallback, if any.
    public var snapshot: Snapshot? { latest.withLock { $0 } }
    /// Fallbacks so far.
    public var fallbacks: Int { count.load(ordering: .relaxed) }
    /// Whether a fallback happened within ``degradedFor``.
    public var isDegraded: Bool {
        guard let at = snapshot?.at else { return false }
        return ContinuousClock.now - at < Self.degradedFor
    }
}
