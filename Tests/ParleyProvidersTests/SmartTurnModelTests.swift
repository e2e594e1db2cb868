import Foundation
import ParleyCore
import ParleyProviders
import Subprocess
import Testing

/// smart-turn v3.2 in process: the Whisper log-mel features and the model's probability, checked
/// against a numpy run of the reference steps and the onnxruntime Python package on the same audio.
@Suite("smart-turn end-of-turn model in process")
struct SmartTurnModelTests {
    static func model() throws -> SmartTurnModel {
        let installed = try SileroVoiceModelTests.installed()
        return try SmartTurnModel(runtime: installed.runtime, modelPath: installed.smartTurn)
    }

    struct Reference: Decodable {
        let features: [Float]
        let probability: Float
    }

    static func reference(_ samples: [Int16]) async throws -> Reference {
        let layout = try SileroVoiceModelTests.layout()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("parley-smart-turn-\(UUID().uuidString).pcm")
        defer { try? FileManager.default.removeItem(at: file) }
        try samples.withUnsafeBytes { Data($0) }.write(to: file)
        let result = try await Subprocess.run(
            .path(.init(layout.python)),
            arguments: [SileroVoiceModelTests.packageRoot + "/tests/vad/smart_turn_reference.py", layout.smartTurnModel ?? "", file.path],
            output: .string(limit: 1 << 24), error: .string(limit: 1 << 16))
        #expect(result.terminationStatus.isSuccess, "reference failed: \(result.standardError)")
        return try JSONDecoder().decode(Reference.self, from: Data(result.standardOutput.utf8))
    }

    static func spoken(_ text: String) async throws -> [Int16] {
        try await EspeakEngine.shared.synthesize(text, sampleRate: 16000)
    }

    @Test("features and probability match the reference on a finished and an unfinished sentence, and rank them")
    func matchesReference() async throws {
        let model = try Self.model()
        let whole = try await Self.spoken("Could you tell me what the weather will be like in Paris tomorrow?")
        // The same words cut off mid-sentence, as a speaker pausing to think.
        let cut = try await Self.spoken("Could you tell me what the weather will be like in")
        var probabilities: [Float] = []
        for audio in [whole, cut] {
            let reference = try await Self.reference(audio)
            let floats = audio.map { Float($0) / 32768 }
            let input = model.input(floats)
            #expect(input.count == 80 * 800 && reference.features.count == 80 * 800)
            let difference = zip(input, reference.features).map { abs($0 - $1) }.max() ?? 1
            #expect(difference < 2e-3, "largest feature difference \(difference)")
            let probability = try model.probability(floats)
            // Alone the two agree to 0.0; in a full parallel test run they once differed by 0.016
            // with the features still within 2e-3 (the model amplifies float32 differences in how
            // its run was computed), so the bound is looser than the features'.
            #expect(abs(probability - reference.probability) < 0.03, "\(probability) against \(reference.probability)")
            probabilities.append(probability)
        }
        #expect(probabilities[0] > probabilities[1], "finished \(probabilities[0]), unfinished \(probabilities[1])")
    }

    @Test("audio longer than 8 s is judged by its last 8 s")
    func lastEightSeconds() throws {
        let model = try Self.model()
        let tail = (0..<16000).map { Float(sin(Double($0) * 0.05)) * 0.3 }
        let long = [Float](repeating: 0.1, count: 9 * 16000) + tail
        let kept = [Float](repeating: 0.1, count: 7 * 16000) + tail
        #expect(model.input(long) == model.input(kept))
    }
}
