import AsyncHTTPClient
import Logging
import ParleyCore
import ParleyServer
import Synchronization
import Testing

@Suite("parley serve wiring")
struct ParleyServerTests {
    @Test("with --llm-url and --stt-url it starts no engine and keeps serving until cancelled")
    func externalEndpoints() async throws {
        var options = ParleyServer.Options()
        options.environment = [:]
        options.languageModelURL = "http://127.0.0.1:9/v1"
        options.speechToTextURL = "http://127.0.0.1:9/v1"
        options.engineLayoutPath = "/nonexistent/layout.json"  // must not be needed
        options.textToSpeech = "espeak"  // the in-process voice: the hibari engine would need the layout
        try await withParleyServer(options: options) { port in
            // Still up a moment later (a service that ends early would stop the whole group).
            try await Task.sleep(for: .milliseconds(300))
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health")
            request.method = .GET
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            #expect(response.status == .ok)
            let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
            #expect(JSONValue.parse(body)?["stages"]?["llm"]?["provider"] == "openai-llm")
        }
    }

    @Test("a cloud provider without its key stops start-up with a message naming the variable")
    func missingKey() async throws {
        var options = ParleyServer.Options()
        options.environment = [:]
        options.speechToText = "deepgram"
        let server = ParleyServer(configuration: ServerConfiguration(port: 0, webRoot: nil), options: options, logger: Logger(label: "test"))
        await #expect {
            try await server.run()
        } throws: { error in
            "\(error)".contains("--stt deepgram needs DEEPGRAM_API_KEY")
        }
    }
}
