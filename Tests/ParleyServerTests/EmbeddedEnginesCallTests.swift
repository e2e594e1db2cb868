import Logging
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Testing

@Suite("A phone call on the embedded engines")
struct EmbeddedEnginesCallTests {
    @Test("a caller's spoken question over /twilio is transcribed by Whisper and answered in μ-law", .timeLimit(.minutes(4)))
    func spokenQuestion() async throws {
        var options = ParleyServer.Options()
        options.environment = [:]  // the embedded engines, whatever keys the machine has
        options.engineLayoutPath = EmbeddedEnginesTests.packageRoot + "/" + LocalEngineLayout.defaultPath
        // Fails with "run `make setup`" when the engines are not installed: this test must not skip.
        _ = try LocalEngineLayout.load(from: options.engineLayoutPath)
        try await withParleyServer(options: options) { port in
            try await EmbeddedEnginesTests.waitUntilHealthy(port: port)
            // The question as a phone line carries it: espeak-ng's 22.05 kHz speech at 8 kHz.
            let spoken = try await EspeakEngine.shared.synthesize("My name is John and I live in Paris.")
            var resampler = Resampler(from: spoken.sampleRate, to: 8000)
            let question = resampler.process(spoken.samples) + resampler.finishInt16()
            try await FakeTwilioCall.run(port: port) { call in
                try await call.start()
                call.say(AudioFixtures.silence(.milliseconds(500), sampleRate: 8000) + question)
                let answered = await call.wait(timeout: .seconds(90)) { $0.echoedMarks.contains("reply-1") }
                #expect(answered)
                let snapshot = call.snapshot
                #expect(snapshot.playedBytes > 8000 / 2, "at least half a second of the reply played")
                #expect(snapshot.problems.isEmpty, "\(snapshot.problems)")
                try await call.stop()
            }
        }
    }
}
