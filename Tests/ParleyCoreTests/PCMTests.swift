import ParleyCore
import Testing

@Suite("PCM conversion")
struct PCMTests {
    @Test("floats convert to 16 bits with clamping, never wrapping")
    func clamping() {
        #expect(PCM.int16(1.0) == 32767)
        #expect(PCM.int16(1.5) == 32767)
        #expect(PCM.int16(-1.0) == -32767)
        #expect(PCM.int16(-7) == -32767)
        #expect(PCM.int16(0) == 0)
        #expect(PCM.int16(.nan) == 0)
        #expect(PCM.int16(.infinity) == 0)
        #expect(PCM.int16(0.5) == 16384)
    }

    @Test("16-bit samples convert to floats in −1…1")
    func toFloat() {
        #expect(PCM.float(-32768) == -1)
        #expect(PCM.float(0) == 0)
        #expect(abs(PCM.float(32767) - 0.99997) < 0.0001)
    }

    @Test("float → int16 → float round trip is within one and a half steps (encode ×32767, decode ÷32768)")
    func roundTrip() {
        for value in stride(from: Float(-1), through: 1, by: 0.001) {
            let back = PCM.float(PCM.int16(value))
            #expect(abs(back - value) <= 1.5 / 32767)
        }
    }

    @Test("little-endian bytes round trip")
    func littleEndian() {
        let samples: [Int16] = [0, 1, -1, 32767, -32768, 258]
        let bytes = PCM.littleEndianBytes(samples)
        #expect(bytes == [0, 0, 1, 0, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x80, 0x02, 0x01])
        #expect(PCM.samples(fromLittleEndian: bytes) == samples)
        // Slices (contiguous, offset) and non-contiguous collections take other paths.
        #expect(PCM.samples(fromLittleEndian: bytes[2...]) == Array(samples[1...]))
        #expect(PCM.samples(fromLittleEndian: bytes.lazy.map { $0 }) == samples)
        #expect(PCM.samples(fromLittleEndian: [UInt8]()) == [])
        #expect(PCM.littleEndianBytes(samples[1..<3]) == [1, 0, 0xFF, 0xFF])
        #expect(PCM.littleEndianBytes(samples.lazy.map { $0 }) == bytes)
    }

    @Test("RMS of a full-scale square wave is 1, of silence 0")
    func rms() {
        #expect(PCM.rms([Int16](repeating: 0, count: 100)) == 0)
        let square = (0..<100).map { $0 % 2 == 0 ? Int16(-32768) : Int16(-32768) }
        #expect(abs(PCM.rms(square) - 1) < 0.0001)
        #expect(PCM.rms([Int16]()) == 0)
    }
}
