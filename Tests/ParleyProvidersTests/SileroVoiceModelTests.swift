import Foundation
import ParleyCore
import ParleyProviders
import Subprocess
import Testing

/// Silero VAD v6 in process through ONNX Runtime's C API, checked against the same model run the
/// reference way (silero-vad's own windowing, the onnxruntime Python package) on the same audio.
@Suite("Silero VAD in process")
struct SileroVoiceModelTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The installed engines; fails (never skips) with "run `make setup`" when they are missing.
    static func layout() throws -> LocalEngineLayout {
        try LocalEngineLayout.load(from: packageRoot + "/" + LocalEngineLayout.relativePath)
    }

    /// ONNX Runtime and the model files from the installed engines' layout.
    static func installed() throws -> (runtime: OnnxRuntime, silero: String, smartTurn: String) {
        let layout = try layout()
        let library = try #require(layout.onnxRuntimeLibrary, "no ONNX Runtime in the layout: run `make setup`")
        let silero = try #require(layout.sileroVADModel, "no Silero model in the layout: run `make setup`")
        let smartTurn = try #require(layout.smartTurnModel, "no smart-turn model in the layout: run `make setup`")
        return (try OnnxRuntime(libraryPath: library), silero, smartTurn)
    }

    static func model(sampleRate: Int) throws -> SileroVoiceModel {
        let installed = try installed()
        return try SileroVoiceModel(runtime: installed.runtime, modelPath: installed.silero, sampleRate: sampleRate)
    }

    /// Half a second of silence, a sentence spoken by espeak-ng, half a second of silence, at `rate`.
    static func utterance(rate: Int) async throws -> (samples: [Int16], speech: Range<Int>) {
        let speech = try await EspeakEngine.shared.synthesize("The quick brown fox jumps over the lazy dog.", sampleRate: rate)
        let pad = [Int16](repeating: 0, count: rate / 2)
        return (pad + speech + pad, pad.count..<pad.count + speech.count)
    }

    /// The reference probabilities of `samples`.
    static func reference(_ samples: [Int16], rate: Int) async throws -> [Float] {
        let layout = try layout()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("parley-silero-\(UUID().uuidString).pcm")
        defer { try? FileManager.default.removeItem(at: file) }
        try samples.withUnsafeBytes { Data($0) }.write(to: file)
        let result = try await Subprocess.run(
            .path(.init(layout.python)),
            arguments: [packageRoot + "/tests/vad/silero_reference.py", layout.sileroVADModel ?? "", file.path, String(rate)],
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 16))
        #expect(result.terminationStatus.isSuccess, "reference failed: \(result.standardError)")
        return try JSONDecoder().decode([Float].self, from: Data(result.standardOutput.utf8))
    }

    @Test("probabilities match the reference run of the same model, window by window, at 16 and 8 kHz", arguments: [16000, 8000])
    func matchesReference(rate: Int) async throws {
        let model = try Self.model(sampleRate: rate)
        let (samples, speech) = try await Self.utterance(rate: rate)
        // Fed in 20 ms frames, as a session does: windows span frames.
        var stream = model.makeStream()
        var probabilities: [Float] = []
        for frame in stride(from: 0, to: samples.count, by: rate / 50) {
            probabilities += try model.process(samples[frame..<min(samples.count, frame + rate / 50)], stream: &stream)
        }
        let reference = try await Self.reference(samples, rate: rate)
        #expect(probabilities.count == samples.count / model.windowSize)
        #expect(probabilities.count == reference.count)
        let difference = zip(probabilities, reference).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-4, "largest difference \(difference)")
        // And they say what they should: speech in the sentence, none in the silence before it.
        let window = model.windowSize
        let before = probabilities[..<(speech.lowerBound / window)]
        let during = probabilities[(speech.lowerBound / window + 1)..<(speech.upperBound / window)]
        #expect(before.allSatisfy { $0 < 0.1 }, "silence: \(before.max() ?? 0)")
        #expect(during.filter { $0 > 0.5 }.count * 2 > during.count, "speech: \(during.map { ($0 * 100).rounded() / 100 })")
    }

    @Test("a missing library or model is a clear error, not a crash")
    func failures() throws {
        #expect(throws: OnnxRuntime.Failure.self) { try OnnxRuntime(libraryPath: "/nonexistent/libonnxruntime.so") }
        do {
            _ = try OnnxRuntime(libraryPath: "/nonexistent/libonnxruntime.so")
        } catch {
            #expect("\(error)".contains("could not be loaded from /nonexistent/libonnxruntime.so"))
        }
        let library = try #require(try Self.layout().onnxRuntimeLibrary)
        let runtime = try OnnxRuntime(libraryPath: library)
        #expect(runtime.version.hasPrefix("1."))
        do {
            _ = try SileroVoiceModel(runtime: runtime, modelPath: "/nonexistent/silero.onnx", sampleRate: 16000)
            Issue.record("a missing model loaded")
        } catch {
            #expect("\(error)".contains("loading /nonexistent/silero.onnx"), "\(error)")
        }
        do {
            _ = try SileroVoiceModel(runtime: runtime, modelPath: try #require(try Self.layout().sileroVADModel), sampleRate: 44100)
            Issue.record("44.1 kHz accepted")
        } catch {
            #expect("\(error)".contains("16000 or 8000"))
        }
    }
}
