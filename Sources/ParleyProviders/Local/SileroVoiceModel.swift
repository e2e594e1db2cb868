public import ParleyCore

/// Silero VAD v6 (`silero-vad==6.2.3`'s `silero_vad/data/silero_vad.onnx`, MIT): the probability
/// that a window of audio is speech, at 16 or 8 kHz.
///
/// One model (one ONNX Runtime session) serves every stream; each stream keeps its own recurrent
/// state and audio context in a ``Stream``. Windows are 512 samples at 16 kHz (32 ms) and 256 at
/// 8 kHz, each preceded by the last 64 (32) samples of the window before, as the official wrapper
/// (`silero_vad/utils_vad.py`, `OnnxWrapper`) feeds them; the model's inputs are `input`
/// [1, context + window] floats in [-1, 1], `state` [2, 1, 128] and `sr` (an int64 scalar), its
/// outputs `output` [1, 1] and `stateN`.
public struct SileroVoiceModel: Sendable {
    /// The loaded model.
    public let model: OnnxModel
    /// 16000 or 8000.
    public let sampleRate: Int

    /// Loads the model at `path` for audio at `sampleRate` (16000 or 8000).
    public init(runtime: OnnxRuntime, modelPath path: String, sampleRate: Int) throws(OnnxRuntime.Failure) {
        guard sampleRate == 16000 || sampleRate == 8000 else {
            throw OnnxRuntime.Failure(description: "Silero VAD runs at 16000 or 8000 Hz, not \(sampleRate)")
        }
        self.model = try runtime.model(at: path)
        self.sampleRate = sampleRate
    }

    /// The same loaded model for audio at another rate (the model takes both).
    public init(sharing other: SileroVoiceModel, sampleRate: Int) {
        precondition(sampleRate == 16000 || sampleRate == 8000, "Silero VAD runs at 16000 or 8000 Hz")
        self.model = other.model
        self.sampleRate = sampleRate
    }

    /// Samples per window: 512 at 16 kHz, 256 at 8 kHz.
    public var windowSize: Int { sampleRate == 16000 ? 512 : 256 }
    /// Samples of the previous window fed before each window: 64 at 16 kHz, 32 at 8 kHz.
    public var contextSize: Int { sampleRate == 16000 ? 64 : 32 }
    /// The duration of one window.
    public var windowDuration: Duration { .seconds(Double(windowSize) / Double(sampleRate)) }

    /// One audio stream's state: the model's recurrent state, the context and the samples not
    /// yet a whole window.
    public struct Stream: Sendable {
        var state = [Float](repeating: 0, count: 2 * 128)
        var context: [Float]
        var pending: [Float] = []

        init(contextSize: Int) {
            context = [Float](repeating: 0, count: contextSize)
        }
    }

    /// A new stream, from silence.
    public func makeStream() -> Stream {
        Stream(contextSize: contextSize)
    }

    /// Feeds `samples` (16-bit PCM at ``sampleRate``) and returns the speech probability of each
    /// window they complete, in order (none when they complete no window).
    public func process(_ samples: some Collection<Int16>, stream: inout Stream) throws(OnnxRuntime.Failure) -> [Float] {
        stream.pending.reserveCapacity(stream.pending.count + samples.count)
        for sample in samples { stream.pending.append(Float(sample) / 32768) }
        var probabilities: [Float] = []
        var start = 0
        while stream.pending.count - start >= windowSize {
            let window = stream.pending[start..<start + windowSize]
            probabilities.append(try probability(of: window, stream: &stream))
            start += windowSize
        }
        stream.pending.removeFirst(start)
        return probabilities
    }

    /// The speech probability of one window of ``windowSize`` samples in [-1, 1].
    public func probability(of window: some Collection<Float>, stream: inout Stream) throws(OnnxRuntime.Failure) -> Float {
        precondition(window.count == windowSize, "a Silero window is \(windowSize) samples")
        let input = stream.context + window
        let outputs = try model.run(
            [
                ("input", .float(input, shape: [1, Int64(input.count)])),
                ("state", .float(stream.state, shape: [2, 1, 128])),
                ("sr", .int64([Int64(sampleRate)], shape: [])),
            ], outputs: ["output", "stateN"])
        guard outputs.count == 2, outputs[0].count == 1, outputs[1].count == stream.state.count else {
            throw OnnxRuntime.Failure(description: "\(model.path) is not Silero VAD v6: unexpected output shapes")
        }
        stream.state = outputs[1]
        stream.context = Array(input.suffix(contextSize))
        return outputs[0][0]
    }
}

/// Silero VAD as the session VAD's ``SpeechClassifier``: one stream per session on a shared model.
public struct SileroSpeechClassifier: SpeechClassifier {
    let model: SileroVoiceModel
    var stream: SileroVoiceModel.Stream

    /// A classifier on `model`, from silence.
    public init(model: SileroVoiceModel) {
        self.model = model
        stream = model.makeStream()
    }

    public var name: String { "silero" }

    public mutating func probabilities(_ samples: ArraySlice<Int16>) throws -> [Float] {
        try model.process(samples, stream: &stream)
    }

    public mutating func reset() {
        stream = model.makeStream()
    }

    /// A factory for the session VAD with the models for 16 and 8 kHz input, loaded from `layout`.
    public static func factory(
        runtime: OnnxRuntime, modelPath: String, threshold: Float = 0.5, silenceThreshold: Float = 0.35
    ) throws(OnnxRuntime.Failure) -> SpeechClassifierFactory {
        let wide = try SileroVoiceModel(runtime: runtime, modelPath: modelPath, sampleRate: 16000)
        let narrow = SileroVoiceModel(sharing: wide, sampleRate: 8000)
        return SpeechClassifierFactory(name: "silero", threshold: threshold, silenceThreshold: silenceThreshold) { rate in
            switch rate {
            case 16000: SileroSpeechClassifier(model: wide)
            case 8000: SileroSpeechClassifier(model: narrow)
            default: nil
            }
        }
    }
}
