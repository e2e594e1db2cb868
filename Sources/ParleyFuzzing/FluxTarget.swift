import ParleyCore

#if canImport(ParleyProviders)
import ParleyProviders
#endif

/// What Deepgram Flux sends on a live socket, one message per line: the turn tracker must turn it
/// into well-formed events that keep Flux's state machine, whatever the server sends.
enum FluxTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        var tracker = DeepgramFluxTurnTracker()
        // A likely end was reported in the turn and not yet taken back or confirmed.
        var likely = false
        for line in bytes.lines {
            let reception = tracker.receive(line)
            for event in reception.events {
                switch event {
                case .partial(let text):
                    try check(hasWords(text) && text == text.trimmingWhitespace(), "partial \"\(text)\"")
                case .final(let text, let endsTurn):
                    try check(endsTurn && hasWords(text) && text == text.trimmingWhitespace(), "final \"\(text)\"")
                    likely = false
                case .likelyEndOfTurn(let text):
                    try check(hasWords(text) && text == text.trimmingWhitespace(), "likely end \"\(text)\"")
                    likely = true
                case .turnResumed:
                    try check(likely, "a turn resumed with no likely end before it")
                    likely = false
                case .turnStarted, .noSpeech:
                    likely = false
                case .speechStarted, .tentative, .failed:
                    throw InvariantViolation("Flux's tracker produced \(event)")
                }
            }
            if case .turnInfo("EndOfTurn") = reception.kind { try check(!tracker.turnOpen, "a turn still open after EndOfTurn") }
            try check(!reception.events.isEmpty || !isTurnEnd(reception), "EndOfTurn produced no event")
        }
    }

    private static func hasWords(_ text: String) -> Bool {
        text.contains { $0.isLetter || $0.isNumber }
    }

    private static func isTurnEnd(_ reception: DeepgramFluxTurnTracker.Reception) -> Bool {
        reception.kind == .turnInfo("EndOfTurn")
    }
}
