public import AsyncHTTPClient
import Foundation
public import ParleyCore

/// The embedded engines' command lines (README.md).
public enum LocalEngines {
    /// faster-whisper with Whisper tiny.en behind the OpenAI transcription API.
    public static func whisper(layout: LocalEngineLayout, httpClient: HTTPClient, logDirectory: String) throws -> LocalEngine {
        let port = try LocalEngine.freePort()
        let endpoint = OpenAICompatibleEndpoint(name: "local-whisper", baseURL: "http://127.0.0.1:\(port)/v1", httpClient: httpClient)
        let warmUpClient = OpenAICompatibleSpeechToText(endpoint: endpoint, model: "whisper-tiny.en")
        return LocalEngine(
            name: "local-whisper", port: port,
            command: [
                layout.python, layout.whisperServer, "--model", layout.whisperModel, "--host", "127.0.0.1",
                "--port", "\(port)", "--threads", "2",
            ],
            layout: layout, httpClient: httpClient, startTimeout: .seconds(60), logDirectory: logDirectory,
            warmUp: {
                // The first transcription is 3-4 times slower than the next (400 ms against 100 ms
                // for a question); pay it at start-up with a second of a quiet tone.
                let tone = (0..<16000).map { Int16(800 * sin(Double($0) * 2 * .pi * 220 / 16000)) }
                _ = try await warmUpClient.request(tone)
            })
    }

    /// llama-cpp-python's OpenAI-compatible server (`llama_cpp.server`) with a Qwen2.5-Coder model, warmed with `warmUp`
    /// (the session's system prompt, so that its evaluation is cached before the first caller).
    ///
    /// The chat template is the one inside the GGUF file (llama-cpp-python reads
    /// `tokenizer.chat_template` when no `--chat_format` is given). One slot serves the requests in
    /// turn and keeps the longest prefix it evaluated last: with the system prompt first and
    /// history appended, a turn evaluates only its new words.
    public static func llama(
        layout: LocalEngineLayout, size: LocalLanguageModel, httpClient: HTTPClient, logDirectory: String, model: String,
        warmUp: [ChatMessage] = [.user("Hello")], warmUpTools: @escaping @Sendable () async -> [ToolDefinition] = { [] }
    ) throws -> LocalEngine {
        let path = try layout.llmModel(size)
        let port = try LocalEngine.freePort()
        let endpoint = OpenAICompatibleEndpoint(
            name: "local-llama", baseURL: "http://127.0.0.1:\(port)/v1", httpClient: httpClient, responseTimeout: .seconds(60))
        let warmUpModel = OpenAICompatibleLanguageModel(endpoint: endpoint, model: model, temperature: 0, maxTokens: 4)
        return LocalEngine(
            name: "local-llama", port: port,
            command: [
                layout.python, "-m", "llama_cpp.server", "--model", path, "--model_alias", model,
                "--host", "127.0.0.1", "--port", "\(port)", "--n_ctx", "2048", "--n_threads", "2", "--verbose", "false",
            ],
            // llama_cpp.server has no /health; its model list answers once the model is loaded.
            layout: layout, httpClient: httpClient, healthPath: "/v1/models", startTimeout: .seconds(120),
            logDirectory: logDirectory,
            warmUp: {
                // The first completion loads the weights into memory (2-5 s) and evaluates the
                // system prompt; pay both at start-up.
                _ = try await warmUpModel.complete(warmUp, tools: await warmUpTools()) { _ in }
            })
    }

    /// The natural local voice: `engines/speech_server.py` on hibari-tts behind the OpenAI speech
    /// API (`POST /v1/audio/speech`, 24 kHz PCM streamed sentence by sentence). The server loads
    /// and warms the voice before it answers `/health`.
    public static func speech(layout: LocalEngineLayout, httpClient: HTTPClient, logDirectory: String) throws -> LocalEngine {
        let port = try LocalEngine.freePort()
        return LocalEngine(
            name: "local-hibari", port: port,
            command: [layout.python, layout.speechServer, "--host", "127.0.0.1", "--port", "\(port)", "--threads", "2"],
            layout: layout, httpClient: httpClient, startTimeout: .seconds(60), logDirectory: logDirectory)
    }
}
