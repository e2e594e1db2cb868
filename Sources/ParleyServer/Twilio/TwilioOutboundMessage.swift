import Foundation
import ParleyCore

/// One message Parley sends to Twilio (docs/twilio.md); always a JSON text frame.
enum TwilioOutboundMessage: Sendable, Equatable {
    /// Raw μ-law 8 kHz mono audio, no header; Twilio queues and plays it in order.
    case media([UInt8])
    /// Queued after the media before it; Twilio echoes it once that media has played.
    case mark(String)
    /// Drops every queued media (barge-in).
    case clear

    /// The JSON text for the stream `streamSID`.
    func text(streamSID: String) -> String {
        let message: JSONValue
        switch self {
        case .media(let bytes):
            message = ["event": "media", "streamSid": .string(streamSID), "media": ["payload": .string(Data(bytes).base64EncodedString())]]
        case .mark(let name):
            message = ["event": "mark", "streamSid": .string(streamSID), "mark": ["name": .string(name)]]
        case .clear:
            message = ["event": "clear", "streamSid": .string(streamSID)]
        }
        return message.serialized
    }
}
