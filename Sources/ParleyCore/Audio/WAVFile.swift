/// Reads and writes RIFF/WAVE files.
///
/// Reading accepts integer PCM of 8, 16, 24 and 32 bits and IEEE float of 32 and 64 bits, in
/// plain or `WAVE_FORMAT_EXTENSIBLE` headers, with any number of channels. Writing produces
/// 16-bit PCM.
public struct WAVFile: Sendable, Equatable {
    /// Sample rate in Hz.
    public var sampleRate: Int
    /// Samples per channel, as floats in −1…1; `channels[0]` is the first (left) channel.
    public var channels: [[Float]]

    /// Creates a file from per-channel float samples.
    public init(sampleRate: Int, channels: [[Float]]) {
        self.sampleRate = sampleRate
        self.channels = channels
    }

    /// Creates a mono file from 16-bit samples.
    public init(sampleRate: Int, mono samples: [Int16]) {
        self.init(sampleRate: sampleRate, channels: [PCM.floats(samples)])
    }

    /// The channels averaged into one.
    public var mono: [Float] {
        guard channels.count > 1 else { return channels.first ?? [] }
        let count = channels.map(\.count).min() ?? 0
        let scale = 1 / Float(channels.count)
        return (0..<count).map { index in channels.reduce(0) { $0 + $1[index] } * scale }
    }

    /// Duration in seconds.
    public var duration: Double {
        Double(channels.first?.count ?? 0) / Double(sampleRate)
    }

    /// An error reading a WAV file; the message says what is wrong with it.
    public struct FormatError: Error, CustomStringConvertible, Equatable {
        /// What is wrong, for a person.
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Parses a WAV file.
    public init(bytes: [UInt8]) throws(FormatError) {
        var reader = ByteReader(bytes)
        guard reader.remaining >= 12, reader.ascii(4) == "RIFF" else {
            throw FormatError("not a WAV file: no RIFF header")
        }
        _ = reader.uint32()
        guard reader.ascii(4) == "WAVE" else { throw FormatError("not a WAV file: RIFF type is not WAVE") }

        var format: (code: UInt16, channels: Int, rate: Int, bits: Int)?
        while reader.remaining >= 8 {
            let id = reader.ascii(4)
            let declared = Int(reader.uint32())
            // Streaming writers leave the data size as 0 or 0xFFFFFFFF: take what is there.
            let size = min(declared == 0 && id == "data" ? reader.remaining : declared, reader.remaining)
            let body = reader.take(size)
            if size % 2 == 1, reader.remaining > 0 { _ = reader.take(1) }
            switch id {
            case "fmt ":
                var fmt = ByteReader(body)
                guard fmt.remaining >= 16 else { throw FormatError("fmt chunk is too short") }
                var code = fmt.uint16()
                let channels = Int(fmt.uint16())
                let rate = Int(fmt.uint32())
                _ = fmt.uint32()
                _ = fmt.uint16()
                let bits = Int(fmt.uint16())
                if code == 0xFFFE {
                    guard fmt.remaining >= 10 else { throw FormatError("extensible fmt chunk is too short") }
                    _ = fmt.take(8)
                    code = fmt.uint16()
                }
                format = (code, channels, rate, bits)
            case "data":
                guard let format else { throw FormatError("data chunk comes before the fmt chunk") }
                self = try Self.decode(body, format: format)
                return
            default:
                continue
            }
        }
        throw FormatError(format == nil ? "no fmt chunk" : "no data chunk")
    }

    private static func decode(
        _ data: [UInt8],
        format: (code: UInt16, channels: Int, rate: Int, bits: Int)
    ) throws(FormatError) -> WAVFile {
        guard (1...8).contains(format.channels) else {
            throw FormatError("unsupported channel count \(format.channels)")
        }
        guard (1000...384_000).contains(format.rate) else {
            throw FormatError("unsupported sample rate \(format.rate) Hz")
        }
        let sampleBytes = format.bits / 8
        let convert: (ArraySlice<UInt8>) -> Float
        switch (format.code, format.bits) {
        case (1, 8): convert = { (Float($0.first!) - 128) / 128 }
        case (1, 16): convert = { PCM.float(Int16(bitPattern: UInt16($0[$0.startIndex]) | UInt16($0[$0.startIndex + 1]) << 8)) }
        case (1, 24):
            convert = { bytes in
                let i = bytes.startIndex
                let raw = Int32(bytes[i]) << 8 | Int32(bytes[i + 1]) << 16 | Int32(bytes[i + 2]) << 24
                return Float(raw >> 8) / 8_388_608
            }
        case (1, 32):
            convert = { bytes in Float(Int32(bitPattern: littleEndian32(bytes))) / 2_147_483_648 }
        case (3, 32):
            convert = { bytes in Float(bitPattern: littleEndian32(bytes)) }
        case (3, 64):
            convert = { bytes in
                let i = bytes.startIndex
                let low = UInt64(littleEndian32(bytes[i..<i + 4]))
                let high = UInt64(littleEndian32(bytes[(i + 4)..<(i + 8)]))
                return Float(Double(bitPattern: low | high << 32))
            }
        default:
            throw FormatError("unsupported encoding (format code \(format.code), \(format.bits) bits); use PCM or float")
        }
        let frameBytes = sampleBytes * format.channels
        let frames = data.count / frameBytes
        var channels = [[Float]](repeating: [], count: format.channels)
        for channel in channels.indices { channels[channel].reserveCapacity(frames) }
        for frame in 0..<frames {
            for channel in 0..<format.channels {
                let start = frame * frameBytes + channel * sampleBytes
                let value = convert(data[start..<(start + sampleBytes)])
                channels[channel].append(value.isFinite ? min(max(value, -1), 1) : 0)
            }
        }
        return WAVFile(sampleRate: format.rate, channels: channels)
    }

    /// Encodes the file as 16-bit PCM WAV.
    public func encoded() -> [UInt8] {
        let frames = channels.map(\.count).min() ?? 0
        var interleaved = [Int16]()
        interleaved.reserveCapacity(frames * channels.count)
        for frame in 0..<frames {
            for channel in channels { interleaved.append(PCM.int16(channel[frame])) }
        }
        return Self.encodePCM16(interleaved, sampleRate: sampleRate, channels: channels.count)
    }

    /// Encodes interleaved 16-bit samples as a WAV file with a complete header.
    public static func encodePCM16(_ samples: [Int16], sampleRate: Int, channels: Int = 1) -> [UInt8] {
        let dataSize = samples.count * 2
        var bytes = [UInt8]()
        bytes.reserveCapacity(44 + dataSize)
        func append32(_ value: Int) { withUnsafeBytes(of: UInt32(value).littleEndian) { bytes.append(contentsOf: $0) } }
        func append16(_ value: Int) { withUnsafeBytes(of: UInt16(value).littleEndian) { bytes.append(contentsOf: $0) } }
        bytes.append(contentsOf: Array("RIFF".utf8))
        append32(36 + dataSize)
        bytes.append(contentsOf: Array("WAVEfmt ".utf8))
        append32(16)
        append16(1)
        append16(channels)
        append32(sampleRate)
        append32(sampleRate * channels * 2)
        append16(channels * 2)
        append16(16)
        bytes.append(contentsOf: Array("data".utf8))
        append32(dataSize)
        bytes.append(contentsOf: PCM.littleEndianBytes(samples))
        return bytes
    }
}

private func littleEndian32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    let i = bytes.startIndex
    return UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
}

/// A cursor over little-endian bytes that never reads past the end (missing bytes read as 0).
private struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, offset + max(0, count))
        defer { offset = end }
        return Array(bytes[offset..<end])
    }

    mutating func uint16() -> UInt16 {
        let part = take(2) + [0, 0]
        return UInt16(part[0]) | UInt16(part[1]) << 8
    }

    mutating func uint32() -> UInt32 {
        let part = take(4) + [0, 0, 0, 0]
        return UInt32(part[0]) | UInt32(part[1]) << 8 | UInt32(part[2]) << 16 | UInt32(part[3]) << 24
    }

    mutating func ascii(_ count: Int) -> String {
        String(decoding: take(count), as: UTF8.self)
    }
}
