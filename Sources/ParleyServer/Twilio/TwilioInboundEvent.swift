import ExtrasBase64
import Foundation
import ParleyCore

/// One Media Streams message from Twilio (docs/twilio.md), decoded.
package enum TwilioInboundEvent: Sendable, Equatable {
    /// The socket is up; always first.
    case connected
    /// The stream begins; comes once.
    case start(TwilioStreamStart)
    /// 20 ms of the caller's μ-law audio, decoded to PCM16.
    case media(streamSID: String?, samples: [Int16])
    /// Twilio played everything queued before the mark `name`.
    case mark(streamSID: String?, name: String)
    /// The caller pressed a key.
    case dtmf(digit: String)
    /// The call or stream ended.
    case stop

    /// Largest text message accepted, in bytes (a 20 ms media message is about 300).
    static let maximumTextBytes = 16384
    /// Most μ-law bytes in one media payload (1 s).
    package static let maximumPayloadBytes = 8000

    /// A message that cannot be used; the call goes on without it.
    package struct DecodingError: Error, Equatable, CustomStringConvertible {
        package let description: String
        init(_ description: String) { self.description = description }
    }

    /// Decodes one text message.
    package static func decode(_ text: String) throws(DecodingError) -> TwilioInboundEvent {
        guard text.utf8.count <= maximumTextBytes else {
            throw DecodingError("message of \(text.utf8.count) bytes is over the \(maximumTextBytes)-byte limit")
        }
        guard let message = JSONValue.parse(text), case .object = message else { throw DecodingError("not a JSON object") }
        guard let event = message["event"]?.stringValue else { throw DecodingError("no \"event\" field") }
        let streamSID = message["streamSid"]?.stringValue
        switch event {
        case "connected":
            return .connected
        case "start":
            return .start(try TwilioStreamStart(message))
        case "media":
            guard let payload = message["media"]?["payload"]?.stringValue else { throw DecodingError("media without a payload") }
            // ExtrasBase64 into an array, not Foundation's `Data`: every sample of the frame is
            // then read from contiguous bytes. Padded base64 only, as `Data(base64Encoded:)`
            // (used before) accepted.
            guard payload.utf8.count <= maximumPayloadBytes * 4 / 3 + 4, payload.utf8.count.isMultiple(of: 4),
                let bytes = try? Base64.decode(string: payload)
            else {
                throw DecodingError("media payload is not base64 of at most \(maximumPayloadBytes) bytes")
            }
            if let track = message["media"]?["track"]?.stringValue, !track.hasPrefix("inbound") {
                throw DecodingError("media of track \(track) ignored")
            }
            return .media(streamSID: streamSID, samples: MuLaw.decode(bytes))
        case "mark":
            guard let name = message["mark"]?["name"]?.stringValue else { throw DecodingError("mark without a name") }
            return .mark(streamSID: streamSID, name: name)
        case "dtmf":
            return .dtmf(digit: message["dtmf"]?["digit"]?.stringValue ?? "?")
        case "stop":
            return .stop
        default:
            throw DecodingError("unknown event \"\(event.prefix(40))\"")
        }
    }

    /// An integer sent as a number or as a string of digits (Twilio sends both kinds).
    static func lenientInt(_ value: JSONValue?) -> Int? {
        if let number = value?.intValue { return number }
        return value?.stringValue.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }
}
