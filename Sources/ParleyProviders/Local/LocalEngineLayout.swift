import Foundation

/// Where `make setup` put the embedded engines: the venv's Python, the launcher scripts and the
/// model files. Read from the JSON file that `scripts/setup.sh` writes (`.venv/parley-engines.json`).
public struct LocalEngineLayout: Sendable, Decodable, Equatable {
    /// The venv's Python interpreter.
    public var python: String
    /// `engines/whisper_server.py`.
    public var whisperServer: String
    /// `engines/supervise.py`, which ends an engine when Parley dies.
    public var supervisor: String
    /// The faster-whisper (CTranslate2) model directory.
    public var whisperModel: String
    /// `engines/speech_server.py`, the natural local voice (hibari-tts).
    public var speechServer: String
    /// The GGUF model files for llama.cpp that `make setup` installed, by size (`small`, `large`).
    public var llmModels: [String: String]
    /// ONNX Runtime's shared library (the `onnxruntime` wheel's), for the in-process models; nil
    /// in a layout written before they came.
    public var onnxRuntimeLibrary: String?
    /// Silero VAD v6 (`silero-vad`'s `silero_vad/data/silero_vad.onnx`).
    public var sileroVADModel: String?
    /// The smart-turn v3.2 end-of-turn model (`pipecat-ai`'s `smart-turn-v3.2-cpu.onnx`).
    public var smartTurnModel: String?

    enum CodingKeys: String, CodingKey {
        case python
        case whisperServer = "whisper_server"
        case supervisor
        case whisperModel = "whisper_model"
        case speechServer = "speech_server"
        case llmModels = "llm_models"
        case onnxRuntimeLibrary = "onnxruntime_library"
        case sileroVADModel = "silero_vad_model"
        case smartTurnModel = "smart_turn_model"
    }

    /// Creates a layout.
    public init(
        python: String, whisperServer: String, supervisor: String, whisperModel: String, speechServer: String,
        llmModels: [String: String], onnxRuntimeLibrary: String? = nil, sileroVADModel: String? = nil, smartTurnModel: String? = nil
    ) {
        self.python = python
        self.whisperServer = whisperServer
        self.supervisor = supervisor
        self.whisperModel = whisperModel
        self.speechServer = speechServer
        self.llmModels = llmModels
        self.onnxRuntimeLibrary = onnxRuntimeLibrary
        self.sileroVADModel = sileroVADModel
        self.smartTurnModel = smartTurnModel
    }

    /// The GGUF file of `size`, or an error naming the setup command that installs it.
    public func llmModel(_ size: LocalLanguageModel) throws -> String {
        guard let path = llmModels[size.rawValue] else {
            throw Missing(
                description:
                    "the \(size.rawValue) local LLM (\(size.title)) is not installed; run `make setup LOCAL_LLM=\(size.rawValue)` (in a release bundle: `scripts/setup.sh --engines-only --local-llm \(size.rawValue)`)"
            )
        }
        return path
    }

    /// Where `make setup` writes the layout file, relative to the bundle or the checkout.
    public static let relativePath = ".venv/parley-engines.json"

    /// The layout file beside the executable's bundle (`bin/../.venv/parley-engines.json`) when it
    /// exists there, else the one in the working directory (a source checkout).
    public static var defaultPath: String { BundleDirectory.locate(relativePath) ?? relativePath }

    /// A layout that cannot be used; the message says what to run.
    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads and checks the layout file: every path it names must exist.
    public static func load(from path: String = defaultPath) throws -> LocalEngineLayout {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Missing(
                description:
                    "\(path) not found: the embedded engines are not installed; run `make setup` (in a release bundle: `scripts/setup.sh --engines-only`)"
            )
        }
        let layout: LocalEngineLayout
        do {
            layout = try JSONDecoder().decode(LocalEngineLayout.self, from: data)
        } catch {
            throw Missing(description: "\(path) is not a valid engine layout (\(error)); run `make setup` again")
        }
        for file in [layout.python, layout.whisperServer, layout.supervisor, layout.whisperModel, layout.speechServer]
            + layout.llmModels.values.sorted() + [layout.onnxRuntimeLibrary, layout.sileroVADModel, layout.smartTurnModel].compactMap(\.self)
        where !FileManager.default.fileExists(atPath: file) {
            throw Missing(description: "\(file), named in \(path), does not exist; run `make setup` again")
        }
        return layout
    }
}
