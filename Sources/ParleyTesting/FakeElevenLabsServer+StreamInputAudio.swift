import Foundation
import ParleyCore

extension FakeElevenLabsServer.StreamInputConnection {
    /// Speaks each job's text as audio messages, then answers end of stream with `isFinal` and
    /// close 1000; acts out the audio faults.
    func generate(_ jobs: AsyncStream<Job>) async throws {
        var firstAudio = true
        for await job in jobs {
            switch job {
            case .speak(let text):
                fake.updateStreamInput(index) { $0.generations.append(text) }
                let messages = fake.audioMessages(for: text, format: options.format, syncAlignment: options.syncAlignment) {
                    FakeElevenLabsServer.pieces(
                        for: text, format: options.format, durationPerCharacter: configuration.durationPerCharacter,
                        chunkBytes: configuration.audioChunkBytes
                    ).map { FakeElevenLabsServer.MadeMessage(piece: $0, message: audioMessage($0)) }
                }
                for made in messages {
                    if firstAudio {
                        let delay = options.misbehaviour.firstByteDelay
                        if delay > .zero { try await Task.sleep(for: delay) }
                        if try await actOutFirstAudioFault() { return }
                    } else if configuration.chunkPacing > .zero {
                        try await Task.sleep(for: configuration.chunkPacing)
                    }
                    guard !isClosing else { return }
                    try await socket.send(text: made.message)
                    fake.updateStreamInput(index) { record in
                        if configuration.recordsAudio { record.audio += made.piece.bytes }
                        record.audioMessages += 1
                    }
                    if firstAudio {
                        firstAudio = false
                        if try await actOutAfterFirstAudioFault() { return }
                    }
                }
            case .final:
                guard beginClosing(code: 1000) else { return }
                try await socket.send(text: #"{"isFinal":true}"#)
                try await socket.close(code: 1000, reason: "")
                return
            }
        }
    }

    /// Before the first audio message; true when the fault ends generation.
    private func actOutFirstAudioFault() async throws -> Bool {
        switch options.misbehaviour.fault {
        case .stallFirstByte?:
            // Hold the audio back until the client gives up (the reader ends and cancels this
            // task) or the limit passes.
            try await Task.sleep(for: options.misbehaviour.stallLimit)
            _ = beginClosing(code: nil)
            socket.abort()
            return true
        case .nonJSONMessage?:
            try await socket.send(text: "<html>502 Bad Gateway</html>")
        case .audioNotBase64?:
            try await socket.send(text: #"{"audio":"%%% not base64 %%%","isFinal":null,"alignment":null,"normalizedAlignment":null}"#)
        default:
            break
        }
        return false
    }

    /// After the first audio message; true when the fault ends generation.
    private func actOutAfterFirstAudioFault() async throws -> Bool {
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

    /// `{"audio": b64, "isFinal": null, "normalizedAlignment": …, "alignment": …}`; alignment is
    /// null without `sync_alignment=true` and on pieces where no character starts.
    func audioMessage(_ piece: FakeElevenLabsServer.AudioPiece) -> String {
        var alignment: JSONValue = nil
        var normalized: JSONValue = nil
        if options.syncAlignment && !piece.characters.isEmpty {
            alignment = alignmentJSON(piece.characters.map(\.character), piece)
            // Normalisation changes the text (here: lower case), so clients must prefer `alignment`.
            normalized = alignmentJSON(piece.characters.map { $0.character.lowercased() }, piece)
        }
        let message: JSONValue = [
            "audio": .string(Data(piece.bytes).base64EncodedString()),
            "isFinal": nil,
            "alignment": alignment,
            "normalizedAlignment": normalized,
        ]
        return message.serialized
    }

    private func alignmentJSON(_ characters: [String], _ piece: FakeElevenLabsServer.AudioPiece) -> JSONValue {
        [
            "chars": .array(characters.map(JSONValue.string)),
            "charStartTimesMs": .array(piece.characters.map { .number(Double($0.startMs)) }),
            configuration.durationKey.rawValue: .array(piece.characters.map { .number(Double($0.durationMs)) }),
        ]
    }
}
