package import ParleyCore

/// Turns Deepgram Flux's server messages (`/v2/listen`, docs/providers.md) into transcript events
/// and follows Flux's turn state machine.
///
/// Flux decides turns itself: `StartOfTurn` opens one, `Update`s carry the whole turn's text so
/// far (replaced, not appended), `EagerEndOfTurn` says the turn is probably over (the session
/// starts the LLM), `TurnResumed` takes that back, and `EndOfTurn` ends the turn with the same
/// words as the eager event before it. Unknown message types and fields are ignored.
package struct DeepgramFluxTurnTracker: Sendable {
    /// Where the turn stands (Flux's states: Initial, TurnOngoing, AwaitingEnd).
    package enum State: Sendable, Equatable {
        case idle, ongoing, awaitingEnd
    }

    /// What one server message was and what it produced.
    package struct Reception: Sendable, Equatable {
        /// The message's kind.
        package enum Kind: Sendable, Equatable {
            case connected(requestID: String)
            /// A `TurnInfo` message with its `event`.
            case turnInfo(String)
            case configureSuccess, configureFailure
            /// A `Warning`, with its code and description.
            case warning(String)
            /// An `Error` (fatal: the server closes next), with its code and description.
            case error(String)
            /// A message type this client does not know.
            case unknown(String)
            /// Text that is not a JSON object with a `type`.
            case unparseable
        }

        package var kind: Kind
        /// Events for the session, in order.
        package var events: [TranscriptEvent] = []
    }

    /// The turn's state.
    package private(set) var state = State.idle
    /// The text last reported as a partial or eager end, so repeats are not reported again.
    private var reported = ""

    /// Creates a tracker with no turn open.
    package init() {}

    /// Whether a turn is open (a `ForceEndTurn` would end it).
    package var turnOpen: Bool { state != .idle }

    /// Handles one text message from Flux.
    package mutating func receive(_ text: String) -> Reception {
        guard let message = JSONValue.parse(text), let type = message["type"]?.stringValue else {
            return Reception(kind: .unparseable)
        }
        switch type {
        case "TurnInfo":
            let event = message["event"]?.stringValue ?? ""
            let transcript = (message["transcript"]?.stringValue ?? "").trimmingWhitespace()
            return Reception(kind: .turnInfo(event), events: turnInfo(event, transcript: transcript))
        case "Connected":
            return Reception(kind: .connected(requestID: message["request_id"]?.stringValue ?? ""))
        case "ConfigureSuccess":
            return Reception(kind: .configureSuccess)
        case "ConfigureFailure":
            return Reception(kind: .configureFailure)
        case "Warning":
            return Reception(kind: .warning(Self.describe(message)))
        case "Error":
            return Reception(kind: .error(Self.describe(message)))
        default:
            return Reception(kind: .unknown(String(type.prefix(64))))
        }
    }

    private mutating func turnInfo(_ event: String, transcript: String) -> [TranscriptEvent] {
        let hasWords = transcript.contains { $0.isLetter || $0.isNumber }
        switch event {
        case "StartOfTurn":
            state = .ongoing
            reported = ""
            return [.turnStarted] + partial(transcript, hasWords: hasWords)
        case "Update":
            // While awaiting the end the same words again are no news (and must not discard the
            // early reply); new words come after TurnResumed, but are reported anyway.
            return partial(transcript, hasWords: hasWords)
        case "EagerEndOfTurn":
            // Never empty on the wire; one that is starts nothing and awaits nothing.
            guard hasWords else { return [] }
            state = .awaitingEnd
            reported = transcript
            return [.likelyEndOfTurn(transcript)]
        case "TurnResumed":
            let wasAwaiting = state == .awaitingEnd
            state = .ongoing
            reported = ""
            return wasAwaiting ? [.turnResumed] : []
        case "EndOfTurn":
            state = .idle
            reported = ""
            return [hasWords ? .final(transcript, endsTurn: true) : .noSpeech]
        default:
            return []
        }
    }

    private mutating func partial(_ transcript: String, hasWords: Bool) -> [TranscriptEvent] {
        guard hasWords, transcript != reported else { return [] }
        reported = transcript
        return [.partial(transcript)]
    }

    /// A `Warning`'s or `Error`'s code and description, bounded.
    private static func describe(_ message: JSONValue) -> String {
        let code = message["code"]?.stringValue ?? ""
        let description = message["description"]?.stringValue ?? message["message"]?.stringValue ?? ""
        let text = [code, description].filter { !$0.isEmpty }.joined(separator: ": ")
        return String((text.isEmpty ? "no details" : text).prefix(300))
    }
}
