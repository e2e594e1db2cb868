import ParleyCore
import Testing

@Suite("PCM bulk little-endian bytes")
struct PCMBulkBytesTests {
    static let samples: [Int16] = [0, 1, -1, 0x1234, -32768, 32767, 0x00FF, -256]

    @Test("the bytes passed to the closure are the little-endian encoding, for arrays, slices and lazy collections")
    func matchesEncoder() {
        let expected = PCM.littleEndianBytes(Self.samples)
        #expect(expected.prefix(8) == [0, 0, 1, 0, 0xFF, 0xFF, 0x34, 0x12])
        #expect(PCM.withLittleEndianBytes(Self.samples) { Array($0) } == expected)
        #expect(PCM.withLittleEndianBytes(Self.samples[2...]) { Array($0) } == Array(expected[4...]))
        // Not contiguous: encoded into a temporary array first.
        #expect(PCM.withLittleEndianBytes(Self.samples.lazy.map { $0 }) { Array($0) } == expected)
        #expect(PCM.withLittleEndianBytes([Int16]()) { $0.count } == 0)
    }

    @Test("an error thrown by the closure reaches the caller")
    func closureErrors() {
        struct Refused: Error {}
        #expect(throws: Refused.self) { try PCM.withLittleEndianBytes(Self.samples) { _ in throw Refused() } }
    }
}
