/// G.711 μ-law companding between 16-bit PCM and 8-bit codes, as telephony (Twilio, Deepgram
/// `encoding=mulaw`) uses it.
///
/// The conversion follows the ITU-T G.711 reference (Sun's `g711.c`): a bias of 132, eight
/// segments, and every bit inverted on the wire, so silence is `0xFF` and full scale is `0x80`
/// (positive) or `0x00` (negative). Decoding yields the centre of each step, at most ±32124.
///
/// A phone call converts every 20 ms frame three times (the caller's audio in, the same audio
/// to Deepgram, the reply out). The collection functions are `@inlinable`, so that they are
/// specialised for the caller's collection type: compiled here, generically, every sample went
/// through the collection's witness table, and conversion was 15 % of the server's CPU at 100
/// calls (BENCHMARKS.md, 2026-12-07). Decoding reads a 256-entry table; encoding finds the
/// segment from the magnitude's highest set bit rather than a loop over the eight segments.
public enum MuLaw {
    @usableFromInline static let bias = 0x84
    @usableFromInline static let clip = 32635

    /// Every code's sample, by code.
    @usableFromInline static let decoded: [Int16] = (0...255).map { computeDecoded(UInt8($0)) }

    /// Encodes one 16-bit sample as a μ-law byte.
    @inlinable
    public static func encode(_ sample: Int16) -> UInt8 {
        let value = Int(sample)
        let sign = value < 0 ? 0x80 : 0
        // Clipping before the bias keeps the largest magnitudes in the top segment. The biased
        // magnitude is 132…32767: its highest set bit is bit 7 (segment 0) to bit 14 (segment 7).
        let magnitude = min(abs(value), clip) + bias
        let segment = Int.bitWidth - 8 - magnitude.leadingZeroBitCount
        let mantissa = (magnitude >> (segment + 3)) & 0x0F
        return ~UInt8(truncatingIfNeeded: sign | segment << 4 | mantissa)
    }

    /// Decodes one μ-law byte to a 16-bit sample.
    @inlinable
    public static func decode(_ code: UInt8) -> Int16 {
        decoded.withUnsafeBufferPointer { $0[Int(code)] }
    }

    /// Encodes samples, one byte each.
    @inlinable
    public static func encode(_ samples: some Collection<Int16>) -> [UInt8] {
        samples.map(encode)
    }

    /// Decodes bytes, one sample each.
    @inlinable
    public static func decode(_ codes: some Collection<UInt8>) -> [Int16] {
        decoded.withUnsafeBufferPointer { table in codes.map { table[Int($0)] } }
    }

    /// G.711's decoding of `code`, for the table.
    private static func computeDecoded(_ code: UInt8) -> Int16 {
        let bits = Int(~code)
        let segment = (bits >> 4) & 0x07
        let magnitude = (((bits & 0x0F) << 3) + bias) << segment
        return Int16(bits & 0x80 != 0 ? bias - magnitude : magnitude - bias)
    }
}
