import Foundation
import ParleyCore

extension FakeElevenLabsSocket {
    /// The audio messages for `text` in this socket's format and alignment, from the fake's cache
    /// (``FakeElevenLabsServer/audioMessages(for:format:syncAlignment:make:)``).
    func audioMessages(for text: String) -> [FakeElevenLabsServer.MadeMessage] {
        fake.audioMessages(for: text, format: options.format, syncAlignment: options.syncAlignment) {
            FakeElevenLabsServer.pieces(
                for: text, format: options.format, durationPerCharacter: configuration.durationPerCharacter,
                chunkBytes: configuration.audioChunkBytes
            ).map { piece in
                let message = FakeElevenLabsServer.audioMessage(
                    piece, syncAlignment: options.syncAlignment, durationKey: configuration.durationKey)
                return FakeElevenLabsServer.MadeMessage(piece: piece, message: message)
            }
        }
    }

    /// Before the socket's first audio message (`contextID` tags a multi-context message); true
    /// when the fault ends generation.
    func actOutFirstAudioFault(contextID: String?) async throws -> Bool {
        switch options.misbehaviour.fault {
        case .stallFirstByte?:
            // Hold the audio back until the client gives up (the reader ends and cancels this
            // task) or the limit passes.
            try await FakeClock.sleep(for: options.misbehaviour.stallLimit)
            _ = beginClosing(code: nil)
            socket.abort()
            return true
        case .nonJSONMessage?:
            try await socket.send(text: "<html>502 Bad Gateway</html>")
        case .audioNotBase64?:
            let message = #"{"audio":"%%% not base64 %%%","isFinal":null,"alignment":null,"normalizedAlignment":null}"#
            try await socket.send(text: FakeElevenLabsServer.tagged(message, contextID: contextID))
        default:
            break
        }
        return false
    }

    /// After the socket's first audio message; true when the fault ends generation.
    func actOutAfterFirstAudioFault() async throws -> Bool {
        switch options.misbehaviour.fault {
        case .closeAfterFirstAudio(let code, let reason)?:
            guard beginClosing(code: code) else { return true }
            try await socket.close(code: code, reason: reason)
            return true
        case .dropAfterFirstAudio?:
            if options.misbehaviour.randomDrop { fake.dice.acted(.drop) }
            _ = beginClosing(code: nil)
            socket.abort()
            return true
        default:
            return false
        }
    }
}

extension FakeElevenLabsServer {
    /// `{"audio": b64, "isFinal": null, "normalizedAlignment": …, "alignment": …}`; alignment is
    /// null without `sync_alignment=true` and on pieces where no character starts.
    static func audioMessage(_ piece: AudioPiece, syncAlignment: Bool, durationKey: DurationKey) -> String {
        var alignment: JSONValue = nil
        var normalized: JSONValue = nil
        if syncAlignment && !piece.characters.isEmpty {
            alignment = alignmentJSON(piece.characters.map(\.character), piece, durationKey: durationKey)
            // Normalisation changes the text (here: lower case), so clients must prefer `alignment`.
            normalized = alignmentJSON(piece.characters.map { $0.character.lowercased() }, piece, durationKey: durationKey)
        }
        let message: JSONValue = [
            "audio": .string(Data(piece.bytes).base64EncodedString()),
            "isFinal": nil,
            "alignment": alignment,
            "normalizedAlignment": normalized,
        ]
        return message.serialized
    }

    private static func alignmentJSON(_ characters: [String], _ piece: AudioPiece, durationKey: DurationKey) -> JSONValue {
        [
            "chars": .array(characters.map(JSONValue.string)),
            "charStartTimesMs": .array(piece.characters.map { .number(Double($0.startMs)) }),
            durationKey.rawValue: .array(piece.characters.map { .number(Double($0.durationMs)) }),
        ]
    }

    /// `message` (a JSON object) with `"contextId"` added as its last member, as multi-context
    /// messages carry it; unchanged when `contextID` is nil. Adding it to the cached text keeps one
    /// cache entry per text whatever the context. (`removeLast` steps back one character from the
    /// end; `dropLast()` counted every character of the kilobytes of base64 from the start, and was
    /// a tenth of the load generator's CPU in `parley-bench capacity`.)
    static func tagged(_ message: String, contextID: String?) -> String {
        guard let contextID, message.hasSuffix("}") else { return message }
        var tagged = message
        tagged.removeLast()
        tagged += #","contextId":"#
        tagged += JSONValue.string(contextID).serialized
        tagged += "}"
        return tagged
    }
}
