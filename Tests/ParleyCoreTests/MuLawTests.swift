import ParleyCore
import Testing

@Suite("G.711 μ-law")
struct MuLawTests {
    @Test("encoding matches the standard's codes for silence, small values and full scale")
    func encodeKnownValues() {
        #expect(MuLaw.encode(Int16(0)) == 0xFF)
        #expect(MuLaw.encode(Int16(-1)) == 0x7F)
        #expect(MuLaw.encode(Int16(8)) == 0xFE)
        #expect(MuLaw.encode(Int16(120)) == 0xF0)
        #expect(MuLaw.encode(Int16(132)) == 0xEF)
        #expect(MuLaw.encode(Int16(32767)) == 0x80)
        #expect(MuLaw.encode(Int16(-32768)) == 0x00)
        #expect(MuLaw.encode(Int16(32124)) == 0x80)
        #expect(MuLaw.encode(Int16(-32124)) == 0x00)
    }

    @Test("decoding matches the standard's table")
    func decodeKnownValues() {
        #expect(MuLaw.decode(UInt8(0xFF)) == 0)
        #expect(MuLaw.decode(UInt8(0x7F)) == 0)
        #expect(MuLaw.decode(UInt8(0xFE)) == 8)
        #expect(MuLaw.decode(UInt8(0xF0)) == 120)
        #expect(MuLaw.decode(UInt8(0xEF)) == 132)
        #expect(MuLaw.decode(UInt8(0x80)) == 32124)
        #expect(MuLaw.decode(UInt8(0x00)) == -32124)
        #expect(MuLaw.decode(UInt8(0x70)) == -120)
    }

    @Test("every code except negative zero survives decode then encode")
    func codesRoundTrip() {
        for code in UInt8.min...UInt8.max where code != 0x7F {
            #expect(MuLaw.encode(MuLaw.decode(code)) == code, "code \(code)")
        }
    }

    @Test("every 16-bit sample decodes back within half a quantisation step of its segment")
    func samplesWithinHalfStep() {
        var worst = 0
        for value in Int(Int16.min)...Int(Int16.max) {
            let code = MuLaw.encode(Int16(value))
            let segment = Int(~code >> 4) & 0x07
            let clipped = max(-32635, min(32635, value))
            let error = abs(Int(MuLaw.decode(code)) - clipped)
            worst = max(worst, error - (4 << segment))
        }
        #expect(worst <= 0)
    }

    @Test("encoding preserves order: a louder sample never gets a quieter code")
    func monotonic() {
        var previous = Int(MuLaw.decode(MuLaw.encode(Int16.min)))
        var inversions: [Int] = []
        for value in Int(Int16.min) + 1...Int(Int16.max) {
            let decoded = Int(MuLaw.decode(MuLaw.encode(Int16(value))))
            if decoded < previous { inversions.append(value) }
            previous = decoded
        }
        #expect(inversions.isEmpty)
    }

    @Test("every sample encodes and every code decodes as G.711's reference loop does")
    func matchesReference() {
        // Sun's g711.c: the segment found by testing one bit at a time from the top.
        func referenceEncode(_ sample: Int16) -> UInt8 {
            let value = Int(sample)
            let sign = value < 0 ? 0x80 : 0
            let magnitude = min(abs(value), 32635) + 0x84
            var segment = 7
            var mask = 0x4000
            while segment > 0, magnitude & mask == 0 {
                segment -= 1
                mask >>= 1
            }
            return ~UInt8(sign | segment << 4 | (magnitude >> (segment + 3)) & 0x0F)
        }
        func referenceDecode(_ code: UInt8) -> Int16 {
            let bits = Int(~code)
            let segment = (bits >> 4) & 0x07
            let magnitude = (((bits & 0x0F) << 3) + 0x84) << segment
            return Int16(bits & 0x80 != 0 ? 0x84 - magnitude : magnitude - 0x84)
        }
        let samples = (Int(Int16.min)...Int(Int16.max)).map { Int16($0) }
        let mismatches = zip(samples, MuLaw.encode(samples)).filter { referenceEncode($0) != $1 }.map(\.0)
        #expect(mismatches.isEmpty, "first: \(mismatches.prefix(5))")
        let codes = Array(UInt8.min...UInt8.max)
        #expect(MuLaw.decode(codes) == codes.map(referenceDecode))
        #expect(codes.map { MuLaw.decode($0) } == codes.map(referenceDecode))
        #expect(MuLaw.encode(samples[1000..<1100]) == samples[1000..<1100].map(referenceEncode))
    }

    @Test("collections encode to one byte per sample and back")
    func collections() {
        let samples: [Int16] = [0, 1000, -1000, 32767, -32768]
        let bytes = MuLaw.encode(samples)
        #expect(bytes.count == samples.count)
        let back = MuLaw.decode(bytes)
        #expect(back.count == samples.count)
        for (original, decoded) in zip(samples, back) {
            #expect(abs(Int(original) - Int(decoded)) <= 1024)
        }
    }
}
