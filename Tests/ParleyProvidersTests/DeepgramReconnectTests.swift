import ParleyCore
import ParleyProviders
import ParleyTesting
import Synchronization
import Testing

@Suite("Deepgram client: drops, reconnects, cancellation, μ-law")
struct DeepgramReconnectTests {
    typealias Support = DeepgramTestSupport

    /// Two utterances: 0.6 s speech, 0.6 s silence, 0.6 s speech, 0.8 s silence (2.6 s).
    static let twoUtterances =
        Support.speech(.milliseconds(600)) + Support.silence(.milliseconds(600)) + Support.speech(.milliseconds(600))
        + Support.silence(.milliseconds(800))

    /// Where the fake's first final on connection `index` ends, in samples at 16 kHz.
    static func firstFinalEnd(_ fake: FakeDeepgramServer.Running, connection index: Int = 0) -> Int? {
        let final = fake.connections[index].sent.compactMap(JSONValue.parse).first { $0["is_final"]?.boolValue == true }
        guard let start = final?["start"]?.doubleValue, let duration = final?["duration"]?.doubleValue else { return nil }
        return Int(((start + duration) * 16000).rounded())
    }

    @Test("a mid-stream 1011 close reconnects once, replays the audio no final covered, and transcripts continue")
    func reconnectAfterClose() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["First one.", "Second one."])
        configuration.faults = [.closeAfterAudio(bytes: 48000, code: 1011, reason: "NET-0000")]
        try await FakeDeepgramServer.run(configuration) { fake in
            let health = ConnectionHealth()
            let outcome = await Support.transcribe(Support.client(fake, health: health)) { input in
                try await Support.yield(Support.frames(Self.twoUtterances), to: input)
            }
            #expect(outcome.error == nil)
            #expect(Support.finals(outcome.events) == [.final("First one.", endsTurn: true), .final("Second one.", endsTurn: true)])
            let records = fake.connections
            #expect(records.count == 2)
            #expect(records.first?.serverClose?.code == 1011)
            #expect(records.first?.serverClose?.reason == "NET-0000")
            // Connection 2 got everything after the end of the first final (0.9 s): the replay and the rest.
            let finalEnd = try #require(Self.firstFinalEnd(fake))
            #expect(finalEnd == 14400)
            #expect(records.last?.audioBytes == (Self.twoUtterances.count - finalEnd) * 2)
            #expect(records.last?.sentTypes.last == "Metadata")
            let snapshot = health.snapshot
            #expect(snapshot.lastSucceeded == true && snapshot.attempts == 2 && snapshot.failures == 0)
        }
    }

    @Test("a TCP drop without a close frame reconnects while audio keeps coming; the new connection gets the replay first")
    func reconnectAfterDrop() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["First one.", "Second one."])
        configuration.faults = [.dropAfterAudio(bytes: 48000)]
        let before = Array(Self.twoUtterances.prefix(16000 * 16 / 10))  // up to 1.6 s, in the second utterance
        let after = Array(Self.twoUtterances.dropFirst(before.count))
        try await FakeDeepgramServer.run(configuration) { fake in
            let outcome = await Support.transcribe(Support.client(fake)) { input in
                try await Support.yield(Support.frames(before), to: input)
                let reconnected = await fake.waitUntil { $0.connections.count == 2 && $0.connections[1].audioBytes > 0 }
                try #require(reconnected)
                try await Support.yield(Support.frames(after), to: input)
            }
            #expect(outcome.error == nil)
            #expect(Support.finals(outcome.events) == [.final("First one.", endsTurn: true), .final("Second one.", endsTurn: true)])
            let records = fake.connections
            #expect(records.count == 2)
            #expect(records.first?.serverClose == nil)
            let finalEnd = try #require(Self.firstFinalEnd(fake))
            let replayed = (before.count - finalEnd) * 2
            #expect(records.last?.audioBytes == replayed + after.count * 2)
            // The first message on the new connection is the replay, in 100 ms pieces.
            #expect(records.last?.audioFrames.first?.bytes == 3200)
        }
    }

    @Test("when the reconnect is refused, the error names Deepgram, the close and the refusal")
    func reconnectRefused() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.faults = [
            .closeAfterAudio(bytes: 16000, code: 1011, reason: "NET-0000"),
            .reject(status: 503, body: #"{"err_code":"SERVICE_UNAVAILABLE","err_msg":"Try again later."}"#),
        ]
        try await FakeDeepgramServer.run(configuration) { fake in
            let health = ConnectionHealth()
            let logs = Support.CapturingLogHandler.Store()
            let client = Support.client(fake, health: health) { $0.logger = Support.capturingLogger(logs) }
            let outcome = await Support.transcribe(client) { input in
                try await Support.yield(Support.frames(Self.twoUtterances), to: input)
                // The caller is still talking: the failure must end recognition.
                try await Task.sleep(for: .seconds(10))
            }
            let reconnects = logs.entries.filter { $0.level == .warning && $0.text.contains("reconnecting") }
            #expect(reconnects.count == 1)
            #expect(reconnects.first?.text.contains("1011 NET-0000") == true)
            #expect(!logs.entries.contains { $0.text.contains(Support.key) })
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.provider == "deepgram")
            #expect(error.kind == .streamEnded)
            #expect(
                error.message
                    == "Deepgram closed the stream: 1011 NET-0000; reconnecting failed: Deepgram refused the connection (HTTP 503): "
                    + "SERVICE_UNAVAILABLE: Try again later.")
            #expect(!error.description.contains(Support.key))
            #expect(fake.connections.map(\.status) == [101, 503])
            #expect(health.snapshot.attempts == 2)
            #expect(health.snapshot.failures == 1)
            #expect(health.snapshot.lastSucceeded == false)
        }
    }

    @Test("reconnects are limited per session")
    func reconnectLimit() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.faults = Array(repeating: .closeAfterAudio(bytes: 3200, code: 1011, reason: "NET-0000"), count: 5)
        try await FakeDeepgramServer.run(configuration) { fake in
            let client = Support.client(fake) { $0.maximumReconnects = 2 }
            let outcome = await Support.transcribe(client) { input in
                try await Support.yield(Support.frames(Support.speech(.seconds(1))), to: input)
                try await Task.sleep(for: .seconds(10))
            }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.message == "Deepgram closed the stream: 1011 NET-0000 (gave up after 2 reconnects)")
            #expect(fake.connections.count == 3)
        }
    }

    @Test("a close instead of the last results after CloseStream reconnects, replays and sends CloseStream again")
    func reconnectWhileClosing() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Last words."])
        configuration.faults = [.closeOnCloseStream(code: 1011, reason: "NET-0000")]
        try await FakeDeepgramServer.run(configuration) { fake in
            let speech = Support.speech(.milliseconds(800))
            let outcome = await Support.transcribe(Support.client(fake)) { input in
                try await Support.yield(Support.frames(speech), to: input)
            }
            #expect(outcome.error == nil)
            #expect(Support.finals(outcome.events) == [.final("Last words.", endsTurn: true)])
            let records = fake.connections
            #expect(records.map(\.controlTypes) == [["CloseStream"], ["CloseStream"]])
            #expect(records.map(\.audioBytes) == [speech.count * 2, speech.count * 2])
            #expect(records.last?.sentTypes.last == "Metadata")
        }
    }

    @Test("when the input has ended, a failed reconnect loses only the last results: logged, not thrown")
    func reconnectRefusedWhileClosing() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Heard.", "Lost."])
        configuration.faults = [.closeOnCloseStream(code: 1011, reason: "NET-0000"), .reject(status: 503, body: "overloaded")]
        try await FakeDeepgramServer.run(configuration) { fake in
            let logs = Support.CapturingLogHandler.Store()
            let client = Support.client(fake) { $0.logger = Support.capturingLogger(logs) }
            let audio = Support.speech(.milliseconds(600)) + Support.silence(.milliseconds(600)) + Support.speech(.milliseconds(600))
            let outcome = await Support.transcribe(client) { input in
                try await Support.yield(Support.frames(audio), to: input)
            }
            #expect(outcome.error == nil)
            #expect(Support.finals(outcome.events) == [.final("Heard.", endsTurn: true)])
            #expect(fake.connections.map(\.status) == [101, 503])
            let lost = logs.entries.filter { $0.level == .warning && $0.text.contains("the last Deepgram results are lost") }
            #expect(lost.count == 1)
            #expect(lost.first?.text.contains("HTTP 503") == true)
        }
    }

    @Test("a normal close Parley did not ask for ends recognition with an error, without reconnecting")
    func unexpectedNormalClose() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.faults = [.closeAfterAudio(bytes: 3200, code: 1000, reason: "")]
        try await FakeDeepgramServer.run(configuration) { fake in
            let outcome = await Support.transcribe(Support.client(fake)) { input in
                try await Support.yield(Support.frames(Support.speech(.milliseconds(400))), to: input)
                try await Task.sleep(for: .seconds(10))
            }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.kind == .streamEnded)
            #expect(error.message == "Deepgram closed the stream before the session ended: 1000")
            #expect(fake.connections.count == 1)
        }
    }

    @Test("cancelling the task closes the socket at once")
    func cancellation() async throws {
        try await FakeDeepgramServer.run(.init(apiKey: Support.key)) { fake in
            let client = Support.client(fake)
            let (input, continuation) = AsyncStream.makeStream(of: SpeechInput.self, bufferingPolicy: .bufferingOldest(1000))
            defer { continuation.finish() }
            for frame in Support.frames(Support.speech(.milliseconds(400))) { continuation.yield(frame) }
            let (error, cancelledAt) = await withTaskGroup(of: (any Error)?.self) { group in
                group.addTask {
                    do {
                        try await client.transcribe(input) { _ in }
                        return nil
                    } catch {
                        return error
                    }
                }
                let streaming = await fake.waitUntil { $0.totalAudioBytes == 12800 }
                let cancelledAt = ContinuousClock.now
                group.cancelAll()
                let error = await group.next() ?? nil
                return (streaming ? error : nil, cancelledAt)
            }
            #expect(error is CancellationError)
            let closed = await fake.waitUntil(timeout: .seconds(2)) { $0.connections.first?.ended != nil }
            #expect(closed)
            let ended = try #require(fake.connections.first?.ended)
            #expect(ended - cancelledAt < .milliseconds(500))
            #expect(fake.connections.first?.controlTypes == [])
        }
    }

    @Test("μ-law: one byte a sample at 8000 Hz, transcribed like linear16")
    func mulaw() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Calling from a phone."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let client = Support.client(fake) {
                $0.encoding = .mulaw
                $0.sampleRate = 8000
            }
            let audio = Support.speech(.milliseconds(800), sampleRate: 8000) + Support.silence(.milliseconds(1400), sampleRate: 8000)
            let outcome = await Support.transcribe(client) { input in
                try await Support.yield(Support.frames(audio, sampleRate: 8000), to: input)
            }
            #expect(outcome.error == nil)
            #expect(Support.finals(outcome.events) == [.final("Calling from a phone.", endsTurn: true)])
            let record = try #require(fake.connections.first)
            #expect(record.queryValue("encoding") == "mulaw")
            #expect(record.queryValue("sample_rate") == "8000")
            #expect(record.audioBytes == audio.count)
        }
    }
}
