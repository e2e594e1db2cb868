package import ParleyCore

/// Turns Deepgram's server messages into transcript events and keeps the state of the user's turn
/// (docs/providers.md).
///
/// `is_final` text is appended to the turn; `speech_final` or `from_finalize` ends it; an
/// `UtteranceEnd` ends a turn that has finals but was never ended (noisy audio, where endpointing
/// never sees silence). Unknown message types and fields are ignored.
package struct DeepgramTranscriptTracker: Sendable {
    /// What one server message was and what it produced.
    package struct Reception: Sendable, Equatable {
        /// The message's kind.
        package enum Kind: Sendable, Equatable {
            case results, speechStarted, utteranceEnd, metadata
            /// An `Error` message, with what it says.
            case error(String)
            /// A message type this client does not know.
            case unknown(String)
            /// Text that is not a JSON object with a `type`.
            case unparseable
        }

        package var kind: Kind
        /// Events for the session, in order.
        package var events: [TranscriptEvent] = []
        /// For a final result: where it ends on this connection's audio clock, in seconds.
        package var finalizedThrough: Double?
    }

    /// Finals delivered in this turn that no end-of-turn has closed yet.
    package private(set) var pendingFinals = false
    /// Interim text delivered that no final has replaced yet.
    package private(set) var pendingInterim = false
    /// Deepgram heard speech begin (`SpeechStarted`) and has not ended an utterance since.
    package private(set) var speechHeard = false

    /// Creates a tracker with no turn open.
    package init() {}

    /// Whether Deepgram holds speech or text it has not yet ended the turn for (a `Finalize`
    /// would end it).
    package var turnOpen: Bool { pendingFinals || pendingInterim || speechHeard }

    /// Handles one text message from Deepgram.
    package mutating func receive(_ text: String) -> Reception {
        guard let message = JSONValue.parse(text), let type = message["type"]?.stringValue else {
            return Reception(kind: .unparseable)
        }
        switch type {
        case "Results":
            return results(message)
        case "SpeechStarted":
            speechHeard = true
            return Reception(kind: .speechStarted, events: [.speechStarted])
        case "UtteranceEnd":
            speechHeard = false
            guard pendingFinals else { return Reception(kind: .utteranceEnd) }
            pendingFinals = false
            return Reception(kind: .utteranceEnd, events: [.final("", endsTurn: true)])
        case "Metadata":
            return Reception(kind: .metadata)
        case "Error":
            let variant = message["variant"]?.stringValue ?? message["code"]?.stringValue ?? "Error"
            let description = message["description"]?.stringValue ?? ""
            return Reception(kind: .error(description.isEmpty ? variant : "\(variant): \(description)"))
        default:
            return Reception(kind: .unknown(type))
        }
    }

    private mutating func results(_ message: JSONValue) -> Reception {
        let transcript = message["channel"]?["alternatives"]?.arrayValue?.first?["transcript"]?.stringValue ?? ""
        let text = transcript.trimmingWhitespace()
        guard message["is_final"]?.boolValue == true else {
            guard !text.isEmpty else { return Reception(kind: .results) }
            pendingInterim = true
            return Reception(kind: .results, events: [.partial(text)])
        }
        let endsTurn = message["speech_final"]?.boolValue == true || message["from_finalize"]?.boolValue == true
        var reception = Reception(kind: .results)
        if let start = message["start"]?.doubleValue, let duration = message["duration"]?.doubleValue {
            reception.finalizedThrough = start + duration
        }
        pendingInterim = false
        if endsTurn { speechHeard = false }
        if !text.isEmpty {
            reception.events = [.final(text, endsTurn: endsTurn)]
            pendingFinals = !endsTurn
        } else if endsTurn && pendingFinals {
            // Never start a reply on an empty buffer, but do close one that has text.
            reception.events = [.final("", endsTurn: true)]
            pendingFinals = false
        }
        return reception
    }
}
