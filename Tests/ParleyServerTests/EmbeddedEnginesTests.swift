import AsyncHTTPClient
import Foundation
import Logging
import ParleyClient
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Synchronization
import Testing

/// The whole product on its embedded engines: `ParleyServer` as `parley serve` runs it, on port 0,
/// starting faster-whisper and llama.cpp as child processes, answering a question spoken by
/// espeak-ng over a real WebSocket.
@Suite("End to end on the embedded engines", .serialized)
struct EmbeddedEnginesTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test("a spoken question is transcribed and answered with speech", .timeLimit(.minutes(4)))
    func spokenQuestion() async throws {
        var options = ParleyServer.Options()
        options.environment = [:]  // the embedded engines, whatever keys the machine has
        options.engineLayoutPath = Self.packageRoot + "/" + LocalEngineLayout.defaultPath
        // Fails with "run `make setup`" when the engines are not installed: this test must not skip.
        _ = try LocalEngineLayout.load(from: options.engineLayoutPath)
        try await withParleyServer(options: options) { port in
            try await Self.waitUntilHealthy(port: port)
            let question = try await EspeakEngine.shared.synthesize("My name is John and I live in Paris.")
            let talk = TalkClient(options: .init(url: "ws://127.0.0.1:\(port)/ws", replyTimeout: .seconds(60)), logger: Logger(label: "talk"))
            let result = try await talk.run(speech: PCM.floats(question.samples), sampleRate: question.sampleRate)

            let turn = try #require(result.turns.first)
            let transcript = turn.transcript.lowercased()
            #expect(transcript.contains("john") && transcript.contains("paris"), "transcript: \(turn.transcript)")
            #expect(!turn.reply.isEmpty)
            #expect(!turn.interrupted)
            #expect(Double(result.audio.count) / Double(result.sampleRate) > 0.5, "reply audio")
            #expect(PCM.rms(result.audio) > 0.01)
            for stage in ["final_transcript", "first_token", "first_audio"] {
                #expect(turn.timeline[stage] != nil, "client timeline lacks \(stage)")
            }
            #expect(turn.serverTimeline[.firstAudioSent] != nil)
            #expect(result.session.providers == ["stt": "local-whisper", "llm": "local-llama", "tts": "espeak-ng"])
        }
    }

    static func waitUntilHealthy(port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(150)
        while ContinuousClock.now < deadline {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health")
            request.method = .GET
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)), response.status == .ok {
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("the embedded engines did not become healthy within 150 s")
        throw CancellationError()
    }
}
