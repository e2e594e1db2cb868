/// G.711 μ-law companding between 16-bit PCM and 8-bit codes, as telephony (Twilio, Deepgram
/// `encoding=mulaw`) uses it.
///
/// The conversion follows the ITU-T G.711 reference (Sun's `g711.c`): a bias of 132, eight
/// segments, and every bit inverted on the wire, so silence is `0xFF` and full scale is `0x80`
/// (positive) or `0x00` (negative). Decoding yields the centre of each step, at most ±32124.
public enum MuLaw {
    private static let bias = 0x84
    private static let clip = 32635

    /// Encodes one 16-bit sample as a μ-law byte.
    public static func encode(_ sample: Int16) -> UInt8 {
        let value = Int(sample)
        let sign = value < 0 ? 0x80 : 0
        // Clipping before the bias keeps the largest magnitudes in the top segment.
        let magnitude = min(abs(value), clip) + bias
        var segment = 7
        var mask = 0x4000
        while segment > 0, magnitude & mask == 0 {
            segment -= 1
            mask >>= 1
        }
        let mantissa = (magnitude >> (segment + 3)) & 0x0F
        return ~UInt8(sign | segment << 4 | mantissa)
    }

    /// Decodes one μ-law byte to a 16-bit sample.
    public static func decode(_ code: UInt8) -> Int16 {
        let bits = Int(~code)
        let segment = (bits >> 4) & 0x07
        let magnitude = (((bits & 0x0F) << 3) + bias) << segment
        return Int16(bits & 0x80 != 0 ? bias - magnitude : magnitude - bias)
    }

    /// Encodes samples, one byte each.
    public static func encode(_ samples: some Collection<Int16>) -> [UInt8] {
        samples.map(encode)
    }

    /// Decodes bytes, one sample each.
    public static func decode(_ codes: some Collection<UInt8>) -> [Int16] {
        codes.map(decode)
    }
}
