import Foundation
import ParleyCore

/// Generated test audio: tones, silence and noise, as mono PCM16.
public enum AudioFixtures {
    /// A sine tone.
    public static func tone(
        frequency: Double, duration: Duration, amplitude: Double = 0.5, sampleRate: Int = 16000
    ) -> [Int16] {
        let count = Int(duration.seconds * Double(sampleRate))
        return (0..<count).map { index in
            PCM.int16(Float(amplitude * sin(2 * Double.pi * frequency * Double(index) / Double(sampleRate))))
        }
    }

    /// Digital silence.
    public static func silence(_ duration: Duration, sampleRate: Int = 16000) -> [Int16] {
        [Int16](repeating: 0, count: Int(duration.seconds * Double(sampleRate)))
    }

    /// Uniform white noise with a fixed seed, so tests are repeatable.
    public static func noise(duration: Duration, amplitude: Double, sampleRate: Int = 16000, seed: UInt64 = 42) -> [Int16] {
        var generator = SplitMix64(seed: seed)
        let count = Int(duration.seconds * Double(sampleRate))
        let scale = Double(UInt64(1) << 53)
        return (0..<count).map { _ in
            let unit: Double = Double(generator.next() >> 11) / scale
            return PCM.int16(Float(amplitude * (unit * 2 - 1)))
        }
    }

    /// Splits audio into frames of `frameSamples` (the last may be shorter).
    public static func frames(_ samples: [Int16], frameSamples: Int = 320) -> [[Int16]] {
        stride(from: 0, to: samples.count, by: frameSamples).map {
            Array(samples[$0..<min(samples.count, $0 + frameSamples)])
        }
    }
}

/// A small deterministic random generator (SplitMix64).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator from a seed.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
