import ParleyCore

/// Turns a stream of PCM16LE byte slices into samples, keeping the odd byte when a slice ends
/// in the middle of a sample (ElevenLabs' chunks are arbitrary byte slices, docs/providers.md).
package struct PCM16Assembler: Sendable {
    private var carry: UInt8?

    /// Creates an assembler with no byte waiting.
    package init() {}

    /// Whether half a sample is waiting for its other byte.
    package var hasPartialSample: Bool { carry != nil }

    /// The whole samples completed by `bytes`.
    package mutating func push(_ bytes: some BidirectionalCollection<UInt8>) -> [Int16] {
        guard !bytes.isEmpty else { return [] }
        var rest = bytes[...]
        var samples: [Int16] = []
        if let low = carry {
            samples.append(Int16(bitPattern: UInt16(low) | UInt16(rest.removeFirst()) << 8))
            carry = nil
        }
        if rest.count % 2 == 1 {
            carry = rest.last
            rest = rest.dropLast()
        }
        guard !samples.isEmpty else { return PCM.samples(fromLittleEndian: rest) }
        samples += PCM.samples(fromLittleEndian: rest)
        return samples
    }
}

/// ElevenLabs' audio messages as chunks for `onAudio`: samples assembled across odd byte
/// boundaries, with the character timings that came with less than a whole sample carried to the
/// next chunk (both WebSocket clients).
struct ElevenLabsAudio {
    let sampleRate: Int
    private var assembler = PCM16Assembler()
    private var pendingAlignment: [SpeechAlignment.Character] = []

    init(sampleRate: Int) {
        self.sampleRate = sampleRate
    }

    /// The chunk `message` completes; nil when it holds no whole sample yet.
    mutating func chunk(for message: ElevenLabsServerMessage) -> AudioChunk? {
        pendingAlignment += message.alignment?.characters ?? []
        let samples = assembler.push(message.audio)
        guard !samples.isEmpty else { return nil }
        defer { pendingAlignment = [] }
        return AudioChunk(
            samples: samples, sampleRate: sampleRate, alignment: pendingAlignment.isEmpty ? nil : SpeechAlignment(characters: pendingAlignment))
    }
}
