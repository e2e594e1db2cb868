import Synchronization

/// The transcripts the fake Deepgram gives, one per utterance, shared by all connections of a run
/// so that after a reconnect the replayed utterance gets the same text.
final class FakeDeepgramScript: Sendable {
    /// One word as Deepgram reports it.
    struct Word: Sendable, Equatable {
        /// Lower case without punctuation (`word`).
        var plain: String
        /// As written in the script (`punctuated_word`).
        var punctuated: String
    }

    private let utterances: [[Word]]
    private let repeats: Bool
    private let next = Mutex(0)

    init(_ utterances: [String], repeats: Bool = false) {
        self.repeats = repeats && !utterances.isEmpty
        self.utterances = utterances.map { text in
            text.split(whereSeparator: \.isWhitespace).map { token in
                let plain = token.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "'" }
                return Word(plain: plain.isEmpty ? token.lowercased() : plain, punctuated: String(token))
            }
        }
    }

    /// The words of the utterance being heard; empty once the script has run out.
    func peek() -> [Word] {
        next.withLock { index in
            if repeats { return utterances[index % utterances.count] }
            return index < utterances.count ? utterances[index] : []
        }
    }

    /// Moves on to the next utterance once the current one is finalized.
    func commit() {
        next.withLock { $0 += 1 }
    }

    /// How many utterances have been finalized.
    var finalized: Int { next.withLock { $0 } }
}
