import ParleyCore

/// What a browser or phone client sends the server: a text frame must decode to a message that
/// encodes back to itself; a binary frame must decode to the same bytes as samples.
enum ClientMessageTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        if let message = try? WireProtocol.decodeClientText(bytes.text) {
            guard let encoded = WireProtocol.encode(message) else {
                throw InvariantViolation("decoded text frame \(message) has no text form")
            }
            // Re-encoding may lengthen a frame near the limit (`1e300` becomes `1e+300`).
            if encoded.utf8.count <= WireProtocol.maxTextFrameBytes {
                let again = try? WireProtocol.decodeClientText(encoded)
                try check(again == message, "client message \(message) does not survive \(encoded)")
            }
        }
        if let samples = try? WireProtocol.decodeAudio(bytes) {
            try check(samples.count * 2 == bytes.count, "\(bytes.count) bytes decoded to \(samples.count) samples")
            try check(PCM.littleEndianBytes(samples).elementsEqual(bytes), "audio frame does not encode back to its bytes")
        } else {
            try check(
                bytes.count % 2 == 1 || bytes.count > WireProtocol.maxAudioFrameBytes,
                "an audio frame of \(bytes.count) bytes was refused")
        }
    }
}
