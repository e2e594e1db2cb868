import ParleyCore
import Testing

@Suite("WAV files")
struct WAVFileTests {
    /// Builds a WAV file by hand.
    static func wav(format: UInt16, channels: UInt16, rate: UInt32, bits: UInt16, data: [UInt8], extensible: Bool = false) -> [UInt8] {
        func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        let blockAlign = channels * bits / 8
        var fmt = le16(extensible ? 0xFFFE : format) + le16(channels) + le32(rate) + le32(rate * UInt32(blockAlign))
        fmt += le16(blockAlign) + le16(bits)
        if extensible {
            fmt += le16(22) + le16(bits) + le32(0) + le16(format) + [UInt8](repeating: 0, count: 14)
        }
        var body = Array("WAVE".utf8) + Array("fmt ".utf8) + le32(UInt32(fmt.count)) + fmt
        body += Array("LIST".utf8) + le32(4) + Array("INFO".utf8)
        body += Array("data".utf8) + le32(UInt32(data.count)) + data
        return Array("RIFF".utf8) + le32(UInt32(body.count)) + body
    }

    @Test("16-bit PCM mono round trips through encode and decode")
    func pcm16RoundTrip() throws {
        let samples: [Int16] = [0, 1000, -1000, 32767, -32768, 7]
        let bytes = WAVFile.encodePCM16(samples, sampleRate: 16000)
        #expect(bytes.count == 44 + samples.count * 2)
        let file = try WAVFile(bytes: bytes)
        #expect(file.sampleRate == 16000)
        #expect(file.channels.count == 1)
        #expect(PCM.int16s(file.mono).enumerated().allSatisfy { abs(Int($0.element) - Int(samples[$0.offset])) <= 1 })
    }

    @Test("stereo 32-bit float is read and mixed to mono")
    func floatStereo() throws {
        let frames: [(Float, Float)] = [(0.5, -0.5), (1.0, 0.0), (-0.25, -0.75)]
        var data: [UInt8] = []
        for (left, right) in frames {
            for value in [left, right] {
                let bits = value.bitPattern
                data += [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
            }
        }
        let file = try WAVFile(bytes: Self.wav(format: 3, channels: 2, rate: 48000, bits: 32, data: data))
        #expect(file.sampleRate == 48000)
        #expect(file.channels.count == 2)
        #expect(file.mono == [0, 0.5, -0.5])
    }

    @Test("24-bit and 8-bit PCM and the extensible header are read")
    func otherDepths() throws {
        let pcm24 = try WAVFile(bytes: Self.wav(format: 1, channels: 1, rate: 8000, bits: 24, data: [0, 0, 0x40, 0, 0, 0xC0], extensible: true))
        #expect(pcm24.mono == [0.5, -0.5])
        let pcm8 = try WAVFile(bytes: Self.wav(format: 1, channels: 1, rate: 8000, bits: 8, data: [128, 192, 64]))
        #expect(pcm8.mono == [0, 0.5, -0.5])
    }

    static let badFiles: [([UInt8], String)] = [
        ([UInt8](), "no RIFF header"),
        (Array("RIFF\u{0}\u{0}\u{0}\u{0}AVI LIST".utf8), "not WAVE"),
        (WAVFileTests.wav(format: 6, channels: 1, rate: 8000, bits: 8, data: [1, 2]), "unsupported encoding"),
        (WAVFileTests.wav(format: 1, channels: 0, rate: 8000, bits: 16, data: [1, 2]), "channel count"),
        (Array(WAVFileTests.wav(format: 1, channels: 1, rate: 8000, bits: 16, data: [1, 2]).prefix(20)), "fmt chunk"),
    ]

    @Test("bad files get specific errors")
    func errors() {
        for (bytes, message) in Self.badFiles {
            #expect(throws: WAVFile.FormatError.self, "expected “\(message)”") {
                try WAVFile(bytes: bytes)
            }
            do {
                _ = try WAVFile(bytes: bytes)
            } catch {
                #expect(error.description.contains(message), "\(error) lacks “\(message)”")
            }
        }
    }
}
