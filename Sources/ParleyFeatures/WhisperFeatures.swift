import Foundation

/// Whisper's log-mel features of 16 kHz audio, as the smart-turn end-of-turn model takes them:
/// 80 Slaney mel bands of a 400-point periodic-Hann STFT every 160 samples (10 ms), centred with
/// reflect padding, power spectrum, `log10` floored at 1e-10, clamped to 8 below the maximum and
/// scaled as `(x + 4) / 4`; the last frame is dropped, as Whisper does. With `normalize`, the
/// waveform is first brought to zero mean and unit variance (`do_normalize`).
///
/// This is `transformers`' `WhisperFeatureExtractor` and pipecat's vendored copy of it
/// (`pipecat/audio/turn/smart_turn/_whisper_features.py`), step for step, in double precision;
/// `Tests/ParleyProvidersTests/SmartTurnModelTests.swift` checks it against a numpy run of the
/// same steps on the same audio. The 400-point FFT is a small mixed-radix transform written here:
/// no FFT library is in the package mirror, and padding to 512 points would change the features.
public struct WhisperFeatures: Sendable {
    public static let sampleRate = 16000
    public static let fftSize = 400
    public static let hop = 160
    public static let melBands = 80

    /// Each band's non-zero weights of the mel filterbank: its first bin and the weights from there (a band spans a
    /// few bins, so this is a fortieth of the full product's work).
    let bands: [(first: Int, weights: [Double])]
    /// The periodic Hann window.
    let window: [Double]
    let fft: MixedRadixFFT

    public init() {
        window = (0..<Self.fftSize).map { 0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(Self.fftSize)) }
        fft = MixedRadixFFT(size: Self.fftSize)
        let filters = Self.melFilters()
        bands = (0..<Self.melBands).map { band in
            let used = filters.indices.filter { filters[$0][band] != 0 }
            guard let first = used.first, let last = used.last else { return (0, []) }
            return (first, (first...last).map { filters[$0][band] })
        }
    }

    /// The features of `audio` (samples in [-1, 1]): `melBands` rows of `audio.count / hop`
    /// frames, row-major (band by band), as the model's `[1, 80, frames]` input.
    public func features(_ audio: [Float], normalize: Bool) -> [Float] {
        var signal = audio.map(Double.init)
        if normalize, !signal.isEmpty {
            // In single precision, as the reference normalises its float32 array.
            let values = audio
            let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
            let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count)
            let deviation = sqrt(Float(variance) + 1e-7)
            signal = values.map { Double(($0 - Float(mean)) / deviation) }
        }
        let pad = Self.fftSize / 2
        guard signal.count > pad else { return [] }
        // Reflect padding, without repeating the edge sample.
        let padded = (1...pad).reversed().map { signal[$0] } + signal + (1...pad).map { signal[signal.count - 1 - $0] }
        let frames = 1 + (padded.count - Self.fftSize) / Self.hop
        let bins = Self.fftSize / 2 + 1
        var logMel = [Double](repeating: 0, count: Self.melBands * (frames - 1))
        var real = [Double](repeating: 0, count: Self.fftSize)
        var imaginary = [Double](repeating: 0, count: Self.fftSize)
        var power = [Double](repeating: 0, count: bins)
        var highest = -Double.infinity
        // The last frame is dropped (Whisper's `log_spec[:, :-1]`).
        for frame in 0..<(frames - 1) {
            let start = frame * Self.hop
            for index in 0..<Self.fftSize {
                real[index] = padded[start + index] * window[index]
                imaginary[index] = 0
            }
            fft.transform(real: &real, imaginary: &imaginary)
            for bin in 0..<bins { power[bin] = real[bin] * real[bin] + imaginary[bin] * imaginary[bin] }
            for band in 0..<Self.melBands {
                var energy = 0.0
                let (first, weights) = bands[band]
                for (offset, weight) in weights.enumerated() { energy += power[first + offset] * weight }
                let value = log10(max(energy, 1e-10))
                logMel[band * (frames - 1) + frame] = value
                highest = max(highest, value)
            }
        }
        let floor = highest - 8
        return logMel.map { Float((max($0, floor) + 4) / 4) }
    }

    /// Slaney mel scale and area-normalised triangular filters from 0 to 8000 Hz.
    static func melFilters() -> [[Double]] {
        func hertzToMel(_ hertz: Double) -> Double {
            hertz >= 1000 ? 15 + log(hertz / 1000) * 27 / log(6.4) : 3 * hertz / 200
        }
        func melToHertz(_ mel: Double) -> Double {
            mel >= 15 ? 1000 * exp(log(6.4) / 27 * (mel - 15)) : 200 * mel / 3
        }
        let bins = fftSize / 2 + 1
        let top = hertzToMel(Double(sampleRate) / 2)
        let edges = (0..<(melBands + 2)).map { melToHertz(top * Double($0) / Double(melBands + 1)) }
        let frequencies = (0..<bins).map { Double(sampleRate / 2) * Double($0) / Double(bins - 1) }
        return frequencies.map { frequency in
            (0..<melBands).map { band in
                let (low, centre, high) = (edges[band], edges[band + 1], edges[band + 2])
                let rising = (frequency - low) / (centre - low)
                let falling = (high - frequency) / (high - centre)
                return max(0, min(rising, falling)) * 2 / (high - low)
            }
        }
    }
}

/// A complex FFT of one fixed size whose prime factors are small (400 = 2⁴ · 5²), by recursive
/// Cooley–Tukey decimation in time with precomputed twiddle factors.
struct MixedRadixFFT: Sendable {
    let size: Int
    let factors: [Int]
    /// `cos` and `sin` of `-2πk / size`.
    let cosines: [Double]
    let sines: [Double]

    init(size: Int) {
        precondition(size > 0)
        self.size = size
        var factors: [Int] = []
        var rest = size
        for factor in [4, 2, 3, 5] {
            while rest % factor == 0 {
                factors.append(factor)
                rest /= factor
            }
        }
        var odd = 7
        while rest > 1 {
            while rest % odd == 0 {
                factors.append(odd)
                rest /= odd
            }
            odd += 2
        }
        self.factors = factors
        cosines = (0..<size).map { cos(-2 * Double.pi * Double($0) / Double(size)) }
        sines = (0..<size).map { sin(-2 * Double.pi * Double($0) / Double(size)) }
    }

    /// Transforms in place.
    func transform(real: inout [Double], imaginary: inout [Double]) {
        precondition(real.count == size && imaginary.count == size)
        var outReal = [Double](repeating: 0, count: size)
        var outImaginary = [Double](repeating: 0, count: size)
        real.withUnsafeBufferPointer { inR in
            imaginary.withUnsafeBufferPointer { inI in
                outReal.withUnsafeMutableBufferPointer { outR in
                    outImaginary.withUnsafeMutableBufferPointer { outI in
                        step(inR.baseAddress!, inI.baseAddress!, stride: 1, count: size, factorIndex: 0, outR.baseAddress!, outI.baseAddress!)
                    }
                }
            }
        }
        real = outReal
        imaginary = outImaginary
    }

    /// The DFT of the `count` inputs `input[0], input[stride], …` into `output[0..<count]`.
    private func step(
        _ inReal: UnsafePointer<Double>, _ inImaginary: UnsafePointer<Double>, stride: Int, count: Int, factorIndex: Int,
        _ outReal: UnsafeMutablePointer<Double>, _ outImaginary: UnsafeMutablePointer<Double>
    ) {
        if count == 1 {
            outReal[0] = inReal[0]
            outImaginary[0] = inImaginary[0]
            return
        }
        let radix = factors[factorIndex]
        let part = count / radix
        // The sub-transforms of the inputs r, r + radix, r + 2·radix, …, each into its block.
        for residue in 0..<radix {
            step(
                inReal + residue * stride, inImaginary + residue * stride, stride: stride * radix, count: part,
                factorIndex: factorIndex + 1, outReal + residue * part, outImaginary + residue * part)
        }
        // Butterflies: X[k + part·q] = Σ_p W_count^(p·(k + part·q)) · Y_p[k].
        let twiddleStep = size / count
        // At most radix 5 (or a larger prime factor): the sums of one k, on the stack for the usual radices.
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * radix) { sums in
            for k in 0..<part {
                for q in 0..<radix {
                    var accumulatedReal = 0.0
                    var accumulatedImaginary = 0.0
                    let base = (k + part * q) * twiddleStep
                    for p in 0..<radix {
                        let angle = (p * base) % size
                        let (c, s) = (cosines[angle], sines[angle])
                        let yReal = outReal[p * part + k]
                        let yImaginary = outImaginary[p * part + k]
                        accumulatedReal += yReal * c - yImaginary * s
                        accumulatedImaginary += yReal * s + yImaginary * c
                    }
                    sums[q] = accumulatedReal
                    sums[radix + q] = accumulatedImaginary
                }
                for q in 0..<radix {
                    outReal[k + part * q] = sums[q]
                    outImaginary[k + part * q] = sums[radix + q]
                }
            }
        }
    }
}
