import Synchronization

/// Random faults for a fake provider ("chaos"): for each request or connection a seeded draw decides
/// whether it misbehaves and how, so a soak run can be repeated with the same faults (`--seed`).
///
/// Draws are taken in the order requests or connections arrive; with concurrent clients that
/// order depends on scheduling, so a run is reproducible in its fault mix and sequence, not in
/// which session gets which fault. The scripted faults of each fake (`faults`, `fault`) take
/// precedence: a request or connection with a scripted fault draws nothing.
public struct FakeRandomFaults: Sendable {
    /// What a fake can do wrong.
    public enum Kind: String, Sendable, CaseIterable, Comparable {
        /// Refuse: HTTP 5xx, or a WebSocket upgrade answered with one.
        case refuse
        /// Drop the TCP connection mid-stream, with no close frame and no end of the body.
        case drop
        /// Never send the first byte (the upgrade's answer, the response head, the first audio)
        /// until the client gives up or ``FakeRandomFaults/stallLimit`` passes: the client's
        /// deadline must catch it.
        case stall
        /// Send the first byte late, by a delay drawn from ``FakeRandomFaults/slowDelay``.
        case slow

        public static func < (lhs: Kind, rhs: Kind) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// The generator's seed.
    public var seed: UInt64
    /// The probability of each kind per request or connection; together at most 1.
    public var probabilities: [Kind: Double]
    /// How late a `slow` first byte is, drawn uniformly.
    public var slowDelay: ClosedRange<Duration> = .milliseconds(500)...(.seconds(3))
    /// The longest a `stall` holds the connection before the fake drops it itself, so that a
    /// client without a deadline cannot keep the fake busy forever.
    public var stallLimit: Duration = .seconds(60)
    /// The statuses a `refuse` answers with, drawn uniformly.
    public var refusalStatuses = [500, 502, 503]

    /// Faults of the listed kinds, each equally likely, that together hit `rate` of the requests.
    public init(seed: UInt64, rate: Double, kinds: [Kind] = Kind.allCases) {
        precondition((0...1).contains(rate) && !kinds.isEmpty, "a fault rate is a probability, over at least one kind")
        self.seed = seed
        probabilities = Dictionary(uniqueKeysWithValues: kinds.map { ($0, rate / Double(kinds.count)) })
    }

    /// Faults with their own probabilities.
    public init(seed: UInt64, probabilities: [Kind: Double]) {
        precondition(
            probabilities.values.allSatisfy { $0 >= 0 } && probabilities.values.reduce(0, +) <= 1 + 1e-9,
            "fault probabilities must be non-negative and add up to at most 1")
        self.seed = seed
        self.probabilities = probabilities
    }
}

/// One draw of ``FakeRandomFaults``: what a single request or connection does wrong.
public enum FakeRandomFault: Sendable, Equatable {
    /// Answer with this 5xx status.
    case refuse(status: Int)
    /// Drop the connection at this fraction (0 ≤ f < 1) of the stream; each fake maps it onto its own stream.
    case drop(at: Double)
    /// Hold the first byte for at most this long.
    case stall(limit: Duration)
    /// Send the first byte this late.
    case slow(Duration)

    /// The kind of fault.
    public var kind: FakeRandomFaults.Kind {
        switch self {
        case .refuse: .refuse
        case .drop: .drop
        case .stall: .stall
        case .slow: .slow
        }
    }
}

/// Draws a fake's random faults in arrival order and counts those acted out.
final class FakeFaultDice: Sendable {
    private struct State {
        var generator: SplitMix64
        var acted: [FakeRandomFaults.Kind: Int] = [:]
    }

    private let faults: FakeRandomFaults?
    private let state: Mutex<State>

    init(_ faults: FakeRandomFaults?) {
        self.faults = faults
        state = Mutex(State(generator: SplitMix64(seed: faults?.seed ?? 0)))
    }

    /// The next request's fault, or nil when it is to be served normally.
    func draw() -> FakeRandomFault? {
        guard let faults else { return nil }
        // Always three numbers per draw, so one request's outcome never shifts the next one's.
        let (pick, parameter, status) = state.withLock { state in
            (Self.unit(state.generator.next()), Self.unit(state.generator.next()), state.generator.next())
        }
        var threshold = 0.0
        for kind in FakeRandomFaults.Kind.allCases {
            threshold += faults.probabilities[kind] ?? 0
            guard pick < threshold else { continue }
            switch kind {
            case .refuse:
                let statuses = faults.refusalStatuses.isEmpty ? [500] : faults.refusalStatuses
                return .refuse(status: statuses[Int(status % UInt64(statuses.count))])
            case .drop: return .drop(at: parameter)
            case .stall: return .stall(limit: faults.stallLimit)
            case .slow:
                let range = faults.slowDelay
                return .slow(range.lowerBound + (range.upperBound - range.lowerBound) * parameter)
            }
        }
        return nil
    }

    /// Counts a fault the fake has just acted out.
    func acted(_ kind: FakeRandomFaults.Kind) {
        state.withLock { $0.acted[kind, default: 0] += 1 }
    }

    /// The faults acted out so far, by kind.
    var counts: [FakeRandomFaults.Kind: Int] { state.withLock { $0.acted } }

    /// A uniform number in 0..<1 from 53 random bits.
    private static func unit(_ bits: UInt64) -> Double {
        Double(bits >> 11) / Double(UInt64(1) << 53)
    }
}
