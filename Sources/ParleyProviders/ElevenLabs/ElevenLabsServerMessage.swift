import ExtrasBase64
package import ParleyCore

/// One JSON message from the `stream-input` or `multi-stream-input` WebSocket (docs/providers.md),
/// decoded leniently: unknown fields are ignored, `isFinal` may be null or spelt `is_final`,
/// alignment may be null and its duration key may be spelt `charDurationsMs` or `charsDurationsMs`.
package struct ElevenLabsServerMessage: Equatable, Sendable {
    /// Audio bytes in the output format (empty when the message has none).
    package var audio: [UInt8] = []
    /// Character timings of this message's audio, relative to its first byte.
    package var alignment: SpeechAlignment?
    /// Whether this is the last message of the stream (of its context, on the multi-context socket).
    package var isFinal = false
    /// The context the message belongs to (`contextId`), on the multi-context socket.
    package var contextID: String?
    /// An error ElevenLabs reported: its code (such as `input_timeout_exceeded`) and message.
    package var error: (code: String, message: String)?

    package static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.audio == rhs.audio && lhs.alignment == rhs.alignment && lhs.isFinal == rhs.isFinal && lhs.contextID == rhs.contextID
            && lhs.error?.code == rhs.error?.code && lhs.error?.message == rhs.error?.message
    }

    /// What was wrong with a message.
    package struct Malformed: Error, CustomStringConvertible {
        package var description: String
    }

    /// Decodes a text message.
    ///
    /// The base64 audio, most of each message, is decoded from the message's bytes
    /// (``JSONValue/parseObject(_:rawStringMember:_:)``) by ExtrasBase64, without a `String` of
    /// it or Foundation's `Data`: ElevenLabs' messages were about 5 % of the server's CPU in a
    /// conversation, half of it the audio string (BENCHMARKS.md, 2026-12-06).
    package init(parsing text: String) throws(Malformed) {
        let decoded = JSONValue.parseObject(text, rawStringMember: "audio") { members, raw -> Result<Self, Malformed> in
            Result { () throws(Malformed) in try Self(members: members, rawAudio: raw) }
        }
        guard let decoded else {
            throw Malformed(description: "a message that is not a JSON object: \(text.prefix(80))")
        }
        self = try decoded.get()
    }

    private init(members: [String: JSONValue], rawAudio: UnsafeBufferPointer<UInt8>?) throws(Malformed) {
        let json = JSONValue.object(members)
        let hasAudio = rawAudio != nil || members["audio"] != nil
        contextID = json["contextId"]?.stringValue ?? json["context_id"]?.stringValue
        // Errors first: an error message has no audio and must not be mistaken for an empty chunk.
        let errorCode = json["error"]?.stringValue
        let message = json["message"]?.stringValue
        if errorCode != nil || (message != nil && !hasAudio) {
            error = (errorCode ?? json["code"]?.intValue.map { "code \($0)" } ?? "error", message ?? "no message")
            return
        }
        if let rawAudio {
            audio = try Self.base64(rawAudio)
        } else {
            switch json["audio"] {
            case .string(let encoded)?:
                // Only a string with escapes comes here (`\/` is a legal JSON spelling of `/`).
                var encoded = encoded
                audio = try encoded.withUTF8 { bytes in Result { () throws(Malformed) in try Self.base64(bytes) } }.get()
            case .null?, nil:
                break
            default:
                throw Malformed(description: "an `audio` field that is not a string")
            }
        }
        isFinal = json["isFinal"]?.boolValue ?? json["is_final"]?.boolValue ?? false
        alignment = Self.alignment(json["alignment"]) ?? Self.alignment(json["normalizedAlignment"])
    }

    /// Decodes standard base64 with its padding, as ElevenLabs sends it.
    private static func base64(_ bytes: UnsafeBufferPointer<UInt8>) throws(Malformed) -> [UInt8] {
        // Foundation's decoder, used before, also refused input whose length is not a multiple of four.
        guard bytes.count.isMultiple(of: 4), let decoded = try? Base64.decode(bytes: bytes) else {
            throw Malformed(description: "audio that is not base64")
        }
        return decoded
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
