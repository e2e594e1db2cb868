/// Conversions between 16-bit PCM, little-endian bytes and normalised floats.
///
/// Float samples are in −1…1. Conversions to 16 bits clamp first, so +1.0 becomes 32767 and never
/// wraps to −32768.
public enum PCM {
    /// Decodes little-endian 16-bit samples; `bytes.count` must be even.
    public static func samples(fromLittleEndian bytes: some Collection<UInt8>) -> [Int16] {
        precondition(bytes.count % 2 == 0, "PCM16 byte count must be even")
        if let copied = bytes.withContiguousStorageIfAvailable({ samples(fromLittleEndian: UnsafeRawBufferPointer($0)) }) {
            return copied
        }
        var result = [Int16]()
        result.reserveCapacity(bytes.count / 2)
        var iterator = bytes.makeIterator()
        while let low = iterator.next(), let high = iterator.next() {
            result.append(Int16(bitPattern: UInt16(low) | UInt16(high) << 8))
        }
        return result
    }

    /// Decodes little-endian PCM16 bytes (an even count) with one copy.
    public static func samples(fromLittleEndian bytes: UnsafeRawBufferPointer) -> [Int16] {
        precondition(bytes.count % 2 == 0, "PCM16 byte count must be even")
        let count = bytes.count / 2
        return [Int16](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes) }
            #if _endian(big)
            for index in 0..<count { buffer[index] = Int16(littleEndian: buffer[index]) }
            #endif
            initialized = count
        }
    }

    /// Encodes samples as little-endian bytes.
    public static func littleEndianBytes(_ samples: some Collection<Int16>) -> [UInt8] {
        #if _endian(little)
        if let copied = samples.withContiguousStorageIfAvailable({ [UInt8](UnsafeRawBufferPointer($0)) }) {
            return copied
        }
        #endif
        var bytes = [UInt8]()
        bytes.reserveCapacity(samples.count * 2)
        for sample in samples {
            let bits = UInt16(bitPattern: sample)
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
        }
        return bytes
    }

    /// Calls `body` with the samples as little-endian bytes, for writing them into a buffer of the
    /// caller's (a NIO `ByteBuffer`, say) in one bulk copy.
    ///
    /// On a little-endian machine contiguous samples are passed as they lie in memory; otherwise
    /// they are encoded into a temporary array first. The pointer is valid only inside `body`.
    @discardableResult
    public static func withLittleEndianBytes<Result>(
        _ samples: some Collection<Int16>, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        #if _endian(little)
        if let result = try samples.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        #endif
        return try littleEndianBytes(samples).withUnsafeBytes(body)
    }

    /// Converts one 16-bit sample to a float in −1…1 (−32768 maps to exactly −1).
    @inlinable
    public static func float(_ sample: Int16) -> Float {
        Float(sample) / 32768
    }

    /// Converts one float to 16 bits, clamping to −1…1 and rounding to nearest.
    @inlinable
    public static func int16(_ value: Float) -> Int16 {
        guard value.isFinite else { return 0 }
        let scaled = (min(max(value, -1), 1) * 32767).rounded()
        return Int16(scaled)
    }

    /// Converts 16-bit samples to floats.
    public static func floats(_ samples: some Collection<Int16>) -> [Float] {
        samples.map(float)
    }

    /// Converts floats to 16-bit samples, clamping.
    public static func int16s(_ samples: some Collection<Float>) -> [Int16] {
        samples.map(int16)
    }

    /// `samples` without the quiet before the first and after the last sample louder than
    /// `threshold` (300 is about −40 dBFS: espeak-ng's lead-in and tail); unchanged when none is.
    public static func trimmingQuiet(_ samples: [Int16], threshold: Int = 300) -> [Int16] {
        guard let first = samples.firstIndex(where: { abs(Int($0)) > threshold }),
            let last = samples.lastIndex(where: { abs(Int($0)) > threshold })
        else { return samples }
        return Array(samples[first...last])
    }

    /// Root-mean-square level of the samples in −1…1 full-scale units (0 for an empty slice).
    public static func rms(_ samples: some Collection<Int16>) -> Float {
        guard !samples.isEmpty else { return 0 }
        let sum = samples.withContiguousStorageIfAvailable(sumOfSquares) ?? Array(samples).withUnsafeBufferPointer(sumOfSquares)
        return Float((Double(sum) / Double(samples.count)).squareRoot() / 32768)
    }

    /// The sum of the samples' squares, exact: in integers the loop vectorises, where a `Double`
    /// sum is one long chain of dependent additions (the same value: every partial sum below 2⁵³ is
    /// exact in a `Double` too). Each square is at most 2³⁰; 2³³ samples would overflow.
    private static func sumOfSquares(_ samples: UnsafeBufferPointer<Int16>) -> Int64 {
        var sum: Int64 = 0
        for sample in samples {
            let value = Int32(sample)
            sum &+= Int64(value &* value)
        }
        return sum
    }
}
