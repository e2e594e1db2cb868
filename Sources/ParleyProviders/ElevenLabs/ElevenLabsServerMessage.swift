import Foundation
package import ParleyCore

/// One JSON message from the `stream-input` WebSocket (docs/providers.md), decoded leniently:
/// unknown fields are ignored, `isFinal` may be null, alignment may be null and its duration key
/// may be spelt `charDurationsMs` or `charsDurationsMs`.
package struct ElevenLabsServerMessage: Equatable {
    /// Audio bytes in the output format (empty when the message has none).
    package var audio: [UInt8] = []
    /// Character timings of this message's audio, relative to its first byte.
    package var alignment: SpeechAlignment?
    /// Whether this is the last message of the stream.
    package var isFinal = false
    /// An error ElevenLabs reported: its code (such as `input_timeout_exceeded`) and message.
    package var error: (code: String, message: String)?

    package static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.audio == rhs.audio && lhs.alignment == rhs.alignment && lhs.isFinal == rhs.isFinal
            && lhs.error?.code == rhs.error?.code && lhs.error?.message == rhs.error?.message
    }

    /// What was wrong with a message.
    package struct Malformed: Error, CustomStringConvertible {
        package var description: String
    }

    /// Decodes a text message.
    package init(parsing text: String) throws(Malformed) {
        guard let json = JSONValue.parse(text), case .object = json else {
            throw Malformed(description: "a message that is not a JSON object: \(text.prefix(80))")
        }
        // Errors first: an error message has no audio and must not be mistaken for an empty chunk.
        let errorCode = json["error"]?.stringValue
        let message = json["message"]?.stringValue
        if errorCode != nil || (message != nil && json["audio"] == nil) {
            error = (errorCode ?? json["code"]?.intValue.map { "code \($0)" } ?? "error", message ?? "no message")
            return
        }
        switch json["audio"] {
        case .string(let encoded)?:
            guard let data = Data(base64Encoded: encoded) else {
                throw Malformed(description: "audio that is not base64")
            }
            audio = Array(data)
        case .null?, nil:
            break
        default:
            throw Malformed(description: "an `audio` field that is not a string")
        }
        isFinal = json["isFinal"]?.boolValue ?? json["is_final"]?.boolValue ?? false
        alignment = Self.alignment(json["alignment"]) ?? Self.alignment(json["normalizedAlignment"])
    }

    /// The largest time in an alignment, in milliseconds: far beyond any chunk's audio, and small
    /// enough that `Duration` and sample counts derived from it cannot overflow.
    static let maximumAlignmentMilliseconds = 3_600_000.0

    /// Decodes an alignment object; nil when it is null, its arrays do not line up or a time is
    /// beyond ±``maximumAlignmentMilliseconds``.
    static func alignment(_ json: JSONValue?) -> SpeechAlignment? {
        guard let json,
            let chars = json["chars"]?.arrayValue?.compactMap(\.stringValue),
            let starts = json["charStartTimesMs"]?.arrayValue?.compactMap(\.doubleValue),
            let durations = (json["charDurationsMs"] ?? json["charsDurationsMs"])?.arrayValue?.compactMap(\.doubleValue),
            !chars.isEmpty, chars.count == starts.count, chars.count == durations.count,
            (starts + durations).allSatisfy({ abs($0) <= maximumAlignmentMilliseconds })
        else { return nil }
        return SpeechAlignment(
            characters: zip(chars, zip(starts, durations)).map { character, timing in
                SpeechAlignment.Character(
                    character: character, start: .milliseconds(timing.0), duration: .milliseconds(timing.1))
            })
    }
}
