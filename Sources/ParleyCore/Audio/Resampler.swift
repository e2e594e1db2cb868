/// A streaming band-limited resampler (windowed-sinc interpolation) for mono audio.
///
/// Feed consecutive blocks with ``process(_:)`` and call ``finish()`` once at the end; the output
/// is the same as resampling the concatenation in one go. The low-pass cut-off sits at 90 % of the
/// lower Nyquist frequency, so downsampling does not alias. The kernel is tabulated once per
/// instance (``phases`` sub-sample positions, linearly interpolated), so the per-sample cost is
/// `2 × halfWidth` multiply-adds.
public struct Resampler: Sendable {
    /// Input rate in Hz.
    public let inputRate: Int
    /// Output rate in Hz.
    public let outputRate: Int

    private let step: Double
    private let halfWidth: Int
    private let cutoff: Double
    private let phases = 256
    private let table: [Float]
    // Input history: `buffer[0]` is input sample number `bufferStart`.
    private var buffer: [Float] = []
    private var bufferStart = 0
    // Position of the next output sample, in input samples.
    private var position: Double = 0
    private var finished = false

    /// Creates a resampler between two rates in Hz; `halfWidth` is the number of kernel taps
    /// on each side of a point (16 gives about −60 dB aliasing).
    public init(from inputRate: Int, to outputRate: Int, halfWidth: Int = 16) {
        precondition(inputRate > 0 && outputRate > 0, "sample rates must be positive")
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.step = Double(inputRate) / Double(outputRate)
        self.halfWidth = halfWidth
        self.cutoff = 0.9 * min(1, Double(outputRate) / Double(inputRate))
        var table = [Float](repeating: 0, count: (2 * halfWidth) * phases + 1)
        let span = Double(halfWidth)
        for index in table.indices {
            let x = Double(index) / Double(phases) - span
            table[index] = Float(Self.kernel(x, cutoff: cutoff, span: span))
        }
        self.table = table
    }

    /// Whether the rates are equal, so samples pass through unchanged.
    public var isIdentity: Bool { inputRate == outputRate }

    /// Resamples the next block of input, returning the output samples that are now complete.
    public mutating func process(_ input: some Collection<Float>) -> [Float] {
        if isIdentity { return Array(input) }
        buffer.append(contentsOf: input)
        return drain(until: bufferStart + buffer.count - halfWidth)
    }

    /// Flushes the output that depends on samples past the end of the input (treated as silence).
    public mutating func finish() -> [Float] {
        guard !isIdentity, !finished else { return [] }
        finished = true
        let end = bufferStart + buffer.count
        buffer.append(contentsOf: repeatElement(0, count: halfWidth + 1))
        return drain(until: end)
    }

    /// Resamples 16-bit samples, clamping the result back to 16 bits.
    public mutating func process(_ input: [Int16]) -> [Int16] {
        if isIdentity { return input }
        return PCM.int16s(process(PCM.floats(input)))
    }

    /// Flushes, in 16 bits.
    public mutating func finishInt16() -> [Int16] {
        PCM.int16s(finish())
    }

    /// Produces every output sample whose position is before `limit` (an absolute input index).
    private mutating func drain(until limit: Int) -> [Float] {
        var output = [Float]()
        output.reserveCapacity(Int(Double(max(0, limit - Int(position))) / step) + 1)
        let scale = Float(cutoff)
        while position < Double(limit) {
            let center = Int(position.rounded(.down))
            let fraction = position - Double(center)
            var sum: Float = 0
            // Tap k sits at input index center + k, distance (k - fraction) from the point.
            let first = center - halfWidth + 1
            for tap in 0..<(2 * halfWidth) {
                let index = first + tap - bufferStart
                guard index >= 0, index < buffer.count else { continue }
                let distance = Double(tap - halfWidth + 1) - fraction
                sum += buffer[index] * lookup(distance)
            }
            output.append(sum * scale)
            position += step
        }
        // Keep only the history the next output sample can still reach.
        let keepFrom = Int(position.rounded(.down)) - halfWidth + 1
        let drop = min(buffer.count, max(0, keepFrom - bufferStart))
        if drop > 0 {
            buffer.removeFirst(drop)
            bufferStart += drop
        }
        return output
    }

    private func lookup(_ distance: Double) -> Float {
        let scaled = (distance + Double(halfWidth)) * Double(phases)
        guard scaled >= 0 else { return 0 }
        let index = Int(scaled)
        guard index + 1 < table.count else { return 0 }
        let weight = Float(scaled - Double(index))
        return table[index] + (table[index + 1] - table[index]) * weight
    }

    /// A sinc low-pass at `cutoff` (fraction of the input Nyquist) under a Blackman window.
    private static func kernel(_ x: Double, cutoff: Double, span: Double) -> Double {
        guard abs(x) < span else { return 0 }
        let sinc = x == 0 ? 1 : sin(Double.pi * cutoff * x) / (Double.pi * cutoff * x)
        let phase = Double.pi * (x + span) / span
        let window = 0.42 - 0.5 * cos(phase) + 0.08 * cos(2 * phase)
        return sinc * window
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
