import ParleyCore

/// Turns a stream of PCM16LE byte slices into samples, keeping the odd byte when a slice ends
/// in the middle of a sample (ElevenLabs' chunks are arbitrary byte slices, PROVIDERS.md §3.6).
struct PCM16Assembler: Sendable {
    private var carry: UInt8?

    /// Whether half a sample is waiting for its other byte.
    var hasPartialSample: Bool { carry != nil }

    /// The whole samples completed by `bytes`.
    mutating func push(_ bytes: some Collection<UInt8>) -> [Int16] {
        guard !bytes.isEmpty else { return [] }
        var joined = [UInt8]()
        joined.reserveCapacity(bytes.count + 1)
        if let carry { joined.append(carry) }
        joined.append(contentsOf: bytes)
        if joined.count % 2 == 1 {
            carry = joined.removeLast()
        } else {
            carry = nil
        }
        return PCM.samples(fromLittleEndian: joined)
    }
}
