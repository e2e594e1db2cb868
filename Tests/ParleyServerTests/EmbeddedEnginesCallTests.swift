import Logging
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Testing

@Suite("A phone call on the embedded engines")
struct EmbeddedEnginesCallTests {
    static func isMedia(_ event: FakeTwilioCall.Received) -> Bool {
        if case .media = event { true } else { false }
    }

    @Test(
        "a whole call over /twilio: greeting, a spoken question answered in μ-law, a barge-in that clears the reply, stop",
        .timeLimit(.minutes(4)))
    func wholeCall() async throws {
        var options = ParleyServer.Options()
        options.environment = [:]  // the embedded engines, whatever keys the machine has
        options.engineLayoutPath = EmbeddedEnginesTests.packageRoot + "/" + LocalEngineLayout.defaultPath
        // Fails with "run `make setup`" when the engines are not installed: this test must not skip.
        _ = try LocalEngineLayout.load(from: options.engineLayoutPath)
        let session = SessionConfiguration(greeting: "Hello, this is Parley.")
        try await withParleyServer(options: options, session: session) { port in
            try await EmbeddedEnginesTests.waitUntilHealthy(port: port)
            // The question as a phone line carries it: espeak-ng's 22.05 kHz speech at 8 kHz.
            let question = try await EspeakEngine.shared.synthesize("My name is John and I live in Paris.", sampleRate: 8000)
            try await FakeTwilioCall.run(port: port) { call in
                try await call.start()
                let greeted = await call.wait(timeout: .seconds(30)) { $0.echoedMarks.contains("reply-0") }
                #expect(greeted, "the greeting played to its mark")
                call.say(AudioFixtures.silence(.milliseconds(300), sampleRate: 8000) + question)
                // The reply starts (a sentence or two of speech): half a second of it has come (in
                // bytes, not messages: a message holds a burst of up to `--output-batch` + 20 ms) …
                let replying = await call.wait(timeout: .seconds(60)) { snapshot in
                    guard let sent = snapshot.speechSentAt else { return false }
                    let bytes = snapshot.received.reduce(0) { total, received in
                        guard received.at > sent, case .media(let bytes) = received.event else { return total }
                        return total + bytes
                    }
                    return bytes > 4000
                }
                #expect(replying, "the reply to the question started")
                // … and the caller talks over it (speech: the Silero VAD hears no voice in a tone).
                call.say(try await EspeakEngine.shared.synthesize("Stop.", sampleRate: 8000))
                let cleared = await call.wait(timeout: .seconds(10)) { $0.received.contains { $0.event == .clear } }
                #expect(cleared, "barge-in cleared Twilio's buffer")
                let clearedAt = try #require(call.snapshot.received.first { $0.event == .clear }?.at)
                try await Task.sleep(for: .milliseconds(800))
                let snapshot = call.snapshot
                // No media of the old reply after the clear (the reply to "Stop." needs its words
                // transcribed and an LLM's first words: well over the 800 ms looked at).
                #expect(!snapshot.received(after: clearedAt).contains(where: Self.isMedia))
                #expect(!snapshot.echoedMarks.contains("reply-1"))
                #expect(snapshot.problems.isEmpty, "\(snapshot.problems)")
                try await call.stop()
            }
        }
    }
}
