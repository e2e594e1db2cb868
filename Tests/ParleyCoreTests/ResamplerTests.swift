import Foundation
import ParleyCore
import Testing

@Suite("Resampling")
struct ResamplerTests {
    static func sine(_ frequency: Double, rate: Int, seconds: Double, amplitude: Double = 0.5) -> [Float] {
        (0..<Int(Double(rate) * seconds)).map { Float(amplitude * sin(2 * .pi * frequency * Double($0) / Double(rate))) }
    }

    /// RMS difference between two signals over their common middle (edges hold filter start-up).
    static func rmsError(_ a: [Float], _ b: [Float], margin: Int = 64) -> Double {
        let count = min(a.count, b.count)
        var sum = 0.0
        var n = 0
        for index in margin..<(count - margin) {
            let difference = Double(a[index] - b[index])
            sum += difference * difference
            n += 1
        }
        return (sum / Double(n)).squareRoot()
    }

    // Cases are looped rather than parameterized: parameterized tests deadlocked Swift Testing's
    // scheduler on this 2-core machine when run in parallel with async tests.
    @Test("22050 → 16000 → 8000 (and other pairs) follow an ideal 440 Hz sine")
    func followsIdealSine() {
        for (from, to) in [(22050, 16000), (16000, 8000), (22050, 8000), (16000, 24000), (8000, 16000), (16000, 48000)] {
            var resampler = Resampler(from: from, to: to)
            let input = Self.sine(440, rate: from, seconds: 1)
            let output = resampler.process(input) + resampler.finish()
            let ideal = Self.sine(440, rate: to, seconds: 1)
            #expect(abs(output.count - ideal.count) <= 1, "\(from) → \(to)")
            // −54 dB relative to the 0.5 amplitude tone.
            #expect(Self.rmsError(output, ideal) < 0.001, "\(from) → \(to)")
        }
    }

    @Test("16000 → 8000 → 16000 round trip keeps speech-band audio")
    func roundTrip() {
        let original = Self.sine(300, rate: 16000, seconds: 1, amplitude: 0.3).enumerated().map { index, value in
            value + Float(0.2 * sin(2 * .pi * 1700 * Double(index) / 16000))
        }
        var down = Resampler(from: 16000, to: 8000)
        var up = Resampler(from: 8000, to: 16000)
        let narrow = down.process(original) + down.finish()
        let back = up.process(narrow) + up.finish()
        #expect(Self.rmsError(back, original) < 0.002)
    }

    @Test("22050 → 16000 → 8000 → 16000 → 22050 keeps a 1 kHz tone")
    func chainRoundTrip() {
        let original = Self.sine(1000, rate: 22050, seconds: 0.5)
        var signal = original
        for (from, to) in [(22050, 16000), (16000, 8000), (8000, 16000), (16000, 22050)] {
            var resampler = Resampler(from: from, to: to)
            signal = resampler.process(signal) + resampler.finish()
        }
        #expect(Self.rmsError(signal, original, margin: 256) < 0.003)
    }

    @Test("tones above the new Nyquist frequency are removed, not aliased")
    func antiAliasing() {
        var resampler = Resampler(from: 16000, to: 8000)
        let output = resampler.process(Self.sine(6000, rate: 16000, seconds: 0.5)) + resampler.finish()
        let rms = (output.dropFirst(64).dropLast(64).map { Double($0 * $0) }.reduce(0, +) / Double(output.count - 128)).squareRoot()
        #expect(rms < 0.005)  // the input's RMS is 0.35
    }

    @Test("streaming in odd-sized blocks gives the same output as one block")
    func streamingMatchesOneShot() {
        let input = Self.sine(523, rate: 22050, seconds: 0.3)
        var oneShot = Resampler(from: 22050, to: 16000)
        let expected = oneShot.process(input) + oneShot.finish()
        var streaming = Resampler(from: 22050, to: 16000)
        var output: [Float] = []
        var offset = 0
        var size = 1
        while offset < input.count {
            let end = min(input.count, offset + size)
            output += streaming.process(input[offset..<end])
            offset = end
            size = size * 3 % 997 + 1
        }
        output += streaming.finish()
        #expect(output.count == expected.count)
        #expect(zip(output, expected).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test("equal rates pass samples through")
    func identity() {
        var resampler = Resampler(from: 16000, to: 16000)
        let samples: [Int16] = [1, -2, 3, 32767, -32768]
        #expect(resampler.process(samples) == samples)
        #expect(resampler.finish().isEmpty)
    }
}
