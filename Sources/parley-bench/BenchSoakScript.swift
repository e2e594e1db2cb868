/// What one `parley-bench soak` session does, drawn from the run's seeded generator.
struct BenchSoakScript: Sendable {
    /// The kinds of session, each a way callers really use (and abuse) a voice agent.
    enum Kind: String, Sendable, CaseIterable, Comparable {
        /// Connects, stays quiet a moment, closes politely.
        case connect
        /// One question, the answer heard out, a polite close.
        case talk
        /// A question, speech over its answer (which becomes the next question), that answer
        /// heard out, a polite close.
        case bargeIn = "barge-in"
        /// A question, then a close frame while the reply is in flight.
        case drop = "drop-mid-turn"
        /// A question, then the TCP connection dropped without a close frame, mid-question or while
        /// the reply is in flight.
        case vanish
        /// Two or three questions, each answer heard out, then a polite close.
        case conversation

        /// How often each kind is drawn, out of the sum of all weights.
        var weight: Int { self == .connect ? 1 : 2 }

        static func < (lhs: Kind, rhs: Kind) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// Spoken question length; the fakes transcribe whatever is said.
    static let questionLength: Duration = .seconds(1)

    var kind: Kind
    /// Quiet before each question (and before the close of a `connect`).
    var pause: Duration
    /// Questions asked.
    var questions: Int
    /// For `barge-in`, `drop-mid-turn` and `vanish`: how long after the reply was first heard of
    /// (its transcript, or its audio for a barge-in) the caller acts.
    var actAfter: Duration
    /// For `vanish`: whether the caller vanishes halfway through the question instead.
    var midQuestion: Bool

    /// Draws a script.
    static func draw(using generator: inout some RandomNumberGenerator) -> BenchSoakScript {
        let total = Kind.allCases.reduce(0) { $0 + $1.weight }
        var pick = Int.random(in: 0..<total, using: &generator)
        var kind = Kind.talk
        for candidate in Kind.allCases {
            if pick < candidate.weight {
                kind = candidate
                break
            }
            pick -= candidate.weight
        }
        let pause = Duration.milliseconds(Int.random(in: 300...1500, using: &generator))
        let questions = kind == .conversation ? Int.random(in: 2...3, using: &generator) : kind == .connect ? 0 : 1
        let actAfter = Duration.milliseconds(Int.random(in: 200...1200, using: &generator))
        let midQuestion = Bool.random(using: &generator)
        return BenchSoakScript(kind: kind, pause: pause, questions: questions, actAfter: actAfter, midQuestion: midQuestion)
    }

    /// The longest the session may take with every answer as slow as `answerTimeout` allows; the
    /// client gives up then (a hung session).
    func deadline(answerTimeout: Duration) -> Duration {
        let turns = max(1, questions) + (kind == .bargeIn ? 1 : 0)
        return pause * (turns + 1) + (Self.questionLength + answerTimeout + .seconds(15)) * turns + .seconds(15)
    }
}
