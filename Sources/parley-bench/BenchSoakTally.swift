import Synchronization

/// What the soak's sessions found, added up across all of them as they finish.
final class BenchSoakTally: Sendable {
    /// How a session ended.
    enum SessionEnd: String, Sendable, CaseIterable, Comparable {
        /// The script ran to its end (a drop or a vanish included: that is its end).
        case completed
        /// The handshake was refused (HTTP status) or the connection could not be made.
        case refused
        /// The server ended it before the script did (a fatal error, a close, a dropped connection).
        case endedByServer = "ended by the server"
        /// It outlived its deadline and the client gave up: a hung session.
        case hung

        static func < (lhs: SessionEnd, rhs: SessionEnd) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// The sums.
    struct Counts: Sendable {
        var sessions: [BenchSoakScript.Kind: Int] = [:]
        var ends: [SessionEnd: Int] = [:]
        /// Why sessions did not complete, with how often (a few examples each).
        var endReasons: [String: Int] = [:]
        var answered = 0
        var apologies = 0
        var cutShort = 0
        var failed = 0
        var abandoned = 0
        /// Why turns failed, with how often.
        var failureReasons: [String: Int] = [:]
        /// Error events by code.
        var errors: [String: Int] = [:]
        var staleFrames = 0
        /// Replies interrupted by the callers' barge-ins.
        var interruptions = 0
        /// From the end of each answered question to its first agent audio, in milliseconds.
        var answerWaits: [Double] = []

        /// Questions the server had the chance to answer.
        var turns: Int { answered + apologies + cutShort + failed }
        var sessionCount: Int { sessions.values.reduce(0, +) }
        var failedSessions: Int { sessionCount - ends[.completed, default: 0] }
    }

    private let counts = Mutex(Counts())

    /// Adds one finished session.
    func add(_ kind: BenchSoakScript.Kind, end: SessionEnd, reason: String?, state: BenchSoakSessionState) {
        counts.withLock { counts in
            counts.sessions[kind, default: 0] += 1
            counts.ends[end, default: 0] += 1
            if end != .completed { counts.endReasons[Self.shortened(reason ?? end.rawValue), default: 0] += 1 }
            for question in state.questions {
                if let waited = question.waited { counts.answerWaits.append(waited.milliseconds) }
                switch question.outcome ?? .abandoned {
                case .answered: counts.answered += 1
                case .apology: counts.apologies += 1
                case .cutShort: counts.cutShort += 1
                case .abandoned: counts.abandoned += 1
                case .failed(let reason):
                    counts.failed += 1
                    counts.failureReasons[Self.shortened(reason), default: 0] += 1
                }
            }
            counts.errors.merge(state.errors, uniquingKeysWith: +)
            counts.staleFrames += state.staleFrames
            counts.interruptions += state.interruptions
        }
    }

    /// Everything so far.
    var snapshot: Counts { counts.withLock { $0 } }

    /// Reasons are grouped by their text, so long unique ones (ports, ids) are cut.
    private static func shortened(_ reason: String) -> String {
        reason.count <= 120 ? reason : String(reason.prefix(117)) + "…"
    }
}
