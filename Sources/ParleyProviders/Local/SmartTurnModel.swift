public import ParleyCore
import ParleyFeatures

/// The smart-turn v3.2 end-of-turn model (`pipecat-ai==1.14.0`'s
/// `pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx`, BSD-2-Clause): the probability
/// that a speaker who has paused has finished their turn, judged from the sound of the turn so far.
///
/// As pipecat runs it (`local_smart_turn_v3.py`): the last 8 s of the turn at 16 kHz, zeros before
/// a shorter one, normalised and turned into Whisper log-mel features (``WhisperFeatures``), in
/// `input_features` [1, 80, 800]; `logits` [1, 1] is already a probability (the graph ends in a
/// sigmoid), and above 0.5 means complete. One model serves every session.
public struct SmartTurnModel: Sendable {
    /// The loaded model.
    public let model: OnnxModel
    let features = WhisperFeatures()

    /// The rate the model's audio is at, in Hz.
    public static let sampleRate = WhisperFeatures.sampleRate
    /// The most audio judged: 8 s at 16 kHz.
    public static let maximumSamples = 8 * WhisperFeatures.sampleRate

    /// Loads the model at `path`.
    public init(runtime: OnnxRuntime, modelPath path: String) throws(OnnxRuntime.Failure) {
        model = try runtime.model(at: path)
    }

    /// The model's input for `audio` (16 kHz, samples in [-1, 1]): its last 8 s, zeros before a
    /// shorter turn, as normalised log-mel features [80 × 800].
    public func input(_ audio: some Collection<Float>) -> [Float] {
        let kept = Array(audio.suffix(Self.maximumSamples))
        let padded = [Float](repeating: 0, count: Self.maximumSamples - kept.count) + kept
        return features.features(padded, normalize: true)
    }

    /// The probability that the turn in `audio` (16 kHz, samples in [-1, 1]) is complete.
    public func probability(_ audio: some Collection<Float>) throws(OnnxRuntime.Failure) -> Float {
        let input = input(audio)
        let frames = Int64(input.count / WhisperFeatures.melBands)
        let outputs = try model.run(
            [("input_features", .float(input, shape: [1, Int64(WhisperFeatures.melBands), frames]))], outputs: ["logits"])
        guard let probability = outputs.first?.first, outputs[0].count == 1 else {
            throw OnnxRuntime.Failure(description: "\(model.path) is not smart-turn v3: unexpected output shape")
        }
        return probability
    }
}

/// smart-turn as the session's ``TurnCompletionModel``: call audio (8 kHz) is resampled to the
/// model's 16 kHz, and each decision runs on ``ModelWorkers`` (one per core, two waiting at most:
/// a refused decision ends the turn on silence, as with no model).
public struct SmartTurnJudge: TurnCompletionModel {
    let model: SmartTurnModel
    let workers: ModelWorkers

    /// A judge on `model`, running decisions on `workers`.
    public init(model: SmartTurnModel, workers: ModelWorkers) {
        self.model = model
        self.workers = workers
    }

    public var name: String { "smart-turn" }

    public func probability(of audio: [Int16], sampleRate: Int) async throws -> Float {
        let model = self.model
        return try await workers.run {
            var floats = audio.map { Float($0) / 32768 }
            if sampleRate != WhisperFeatures.sampleRate {
                var resampler = Resampler(from: sampleRate, to: WhisperFeatures.sampleRate)
                floats = resampler.process(floats) + resampler.finish()
            }
            return try model.probability(floats)
        }
    }
}
