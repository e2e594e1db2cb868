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
