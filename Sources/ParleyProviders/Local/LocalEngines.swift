public import AsyncHTTPClient
import ParleyCore

/// The embedded engines' command lines (README.md).
public enum LocalEngines {
    /// faster-whisper with Whisper tiny.en behind the OpenAI transcription API.
    public static func whisper(layout: LocalEngineLayout, httpClient: HTTPClient, logDirectory: String) throws -> LocalEngine {
        let port = try LocalEngine.freePort()
        return LocalEngine(
            name: "local-whisper", port: port,
            command: [
                layout.python, layout.whisperServer, "--model", layout.whisperModel, "--host", "127.0.0.1",
                "--port", "\(port)", "--threads", "2",
            ],
            layout: layout, httpClient: httpClient, startTimeout: .seconds(60), logDirectory: logDirectory)
    }

    /// llama.cpp's OpenAI-compatible server with the SmolLM2 model, warmed with one request.
    public static func llama(layout: LocalEngineLayout, httpClient: HTTPClient, logDirectory: String, model: String) throws -> LocalEngine {
        let port = try LocalEngine.freePort()
        let endpoint = OpenAICompatibleEndpoint(
            name: "local-llama", baseURL: "http://127.0.0.1:\(port)/v1", httpClient: httpClient, responseTimeout: .seconds(60))
        let warmUpModel = OpenAICompatibleLanguageModel(endpoint: endpoint, model: model, maxTokens: 4)
        return LocalEngine(
            name: "local-llama", port: port,
            command: [
                layout.python, "-m", "llama_cpp.server", "--model", layout.llmModel, "--model_alias", model,
                "--host", "127.0.0.1", "--port", "\(port)", "--n_ctx", "2048", "--n_threads", "2",
            ],
            // llama_cpp.server has no /health; its model list answers once the model is loaded.
            layout: layout, httpClient: httpClient, healthPath: "/v1/models", startTimeout: .seconds(120),
            logDirectory: logDirectory,
            warmUp: {
                // The first completion loads the weights into memory (about 2 s); pay it at start-up.
                try await warmUpModel.complete([.user("Hello")]) { _ in }
            })
    }
}
