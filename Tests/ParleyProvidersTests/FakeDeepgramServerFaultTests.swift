import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// The fake Deepgram's idle timer, error replies, chaos and injected faults, driven by a bare
/// WebSocket client.
@Suite("Fake Deepgram server: idle timeout, errors, chaos and faults")
struct FakeDeepgramServerFaultTests {
    typealias Support = DeepgramTestSupport
    typealias Wire = FakeDeepgramServerTests

    @Test("a connection with no client message for the idle timeout is closed with 1011 NET-0001; KeepAlive holds it open")
    func idleTimeout() async throws {
        // The idle timer runs on a manual clock, so a loaded machine's late wake-ups cannot
        // stretch a gap between KeepAlives past the timeout.
        let manual = ManualClock()
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.idleTimeout = .milliseconds(300)
        configuration.clock = SessionClock(manual)
        try await FakeDeepgramServer.run(configuration) { fake in
            @Sendable func closed() -> Bool { fake.connections.first?.serverClose != nil }
            let (close, keptOpen, openAt250) = try await ProviderWebSocket.connect(
                to: "\(fake.baseURL)/v1/listen?\(Wire.agentQuery)", headers: [("Authorization", "Token \(Support.key)")]
            ) { connection in
                // The timer (a look every 50 ms) waits on the clock.
                #expect(await manual.waitForSleepers())
                // Eight KeepAlives 100 ms apart: 800 ms of clock time, well past the timeout.
                for sent in 1...8 {
                    try await connection.send(text: #"{"type":"KeepAlive"}"#)
                    #expect(await poll(timeout: .seconds(30)) { fake.connections.first?.textMessages.count == sent })
                    await manual.advance(by: .milliseconds(100), step: .milliseconds(50))
                }
                let keptOpen = !closed()
                // 100 ms quiet so far: at 250 ms the connection is still open, at 300 ms closed.
                await manual.advance(by: .milliseconds(150), step: .milliseconds(50))
                let openAt250 = !closed()
                await manual.advance(by: .milliseconds(50), step: .milliseconds(50))
                var close: ProviderWebSocket.Message?
                for try await message in connection.messages { close = message }
                return (close, keptOpen, openAt250)
            }
            #expect(keptOpen)
            #expect(openAt250)
            #expect(close == .closed(code: 1011, reason: "NET-0001"))
        }
    }

    @Test("unparseable text gets a SchemaError and the stream goes on; or a 1008 close when configured")
    func unparseable() async throws {
        try await FakeDeepgramServer.run(.init(apiKey: Support.key)) { fake in
            let messages = Wire.json(try await Wire.exchange(fake, audio: [], beforeClose: ["not json", #"{"type":"Nonsense"}"#]))
            let errors = messages.filter { $0["type"]?.stringValue == "Error" }
            #expect(errors.count == 2)
            #expect(errors.first?["variant"]?.stringValue == "SchemaError")
            #expect(errors.first?["message"]?.stringValue == "not json")
            #expect(messages.last?["type"]?.stringValue == "Metadata")
        }
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.unparseableReply = .close
        try await FakeDeepgramServer.run(configuration) { fake in
            let messages = try await Wire.exchange(fake, audio: [], beforeClose: ["not json"])
            #expect(messages.last == .closed(code: 1008, reason: "Failed to parse a text message"))
        }
    }

    @Test("chaos mode adds unknown fields and message types")
    func chaos() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Chaos reigns."])
        configuration.chaos = true
        try await FakeDeepgramServer.run(configuration) { fake in
            let messages = Wire.json(try await Wire.exchange(fake, audio: Support.speech(.seconds(1)) + Support.silence(.milliseconds(400))))
            #expect(messages.contains { $0["type"]?.stringValue == "Weird" })
            #expect(Wire.results(messages).allSatisfy { $0["x_fake_extension"] != nil && $0["entities"] != nil })
        }
    }

    @Test("faults: a mid-stream close after N audio bytes hits the first connection only")
    func closeAfterAudio() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.faults = [.closeAfterAudio(bytes: 6400, code: 1011, reason: "NET-0000")]
        try await FakeDeepgramServer.run(configuration) { fake in
            let audio = Support.speech(.milliseconds(600))
            let first = try await Wire.exchange(fake, audio: audio)
            #expect(first.last == .closed(code: 1011, reason: "NET-0000"))
            #expect(Wire.json(first).allSatisfy { $0["type"]?.stringValue != "Metadata" })
            let second = try await Wire.exchange(fake, audio: audio)
            #expect(second.last == .closed(code: 1000, reason: ""))
            #expect(fake.connections.map(\.audioBytes) == [19200, 19200])
        }
    }

    @Test("faults: a TCP drop, a stalled server, a malformed message, a refused handshake")
    func otherFaults() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.idleTimeout = .milliseconds(300)
        configuration.faults = [
            .dropAfterAudio(bytes: 3200), .stallResults, .malformedAfterResults(1),
            .reject(status: 503, body: "overloaded", reason: "try later"),
        ]
        try await FakeDeepgramServer.run(configuration) { fake in
            let audio = Support.speech(.milliseconds(600)) + Support.silence(.milliseconds(400))
            // The client may see the end of the stream or a reset, but never a close frame; the drop
            // can come before the client has written all its audio.
            let dropped = try await Wire.exchange(fake, audio: audio, closingEarly: true)
            #expect(dropped.last?.isCloseWithoutFrame == true, "\(dropped.last.map { "\($0)" } ?? "no end")")
            #expect(fake.connections.first?.serverClose == nil)

            let stalled = try await Wire.exchange(fake, audio: audio)
            #expect(Wire.json(stalled).isEmpty)
            #expect(stalled.last == .closed(code: 1011, reason: "NET-0001"))

            let malformed = try await Wire.exchange(fake, audio: audio)
            let texts = malformed.compactMap { message -> String? in
                if case .text(let text) = message { return text }
                return nil
            }
            #expect(texts.contains { JSONValue.parse($0) == nil })

            let refused = await Wire.refusal { _ = try await Wire.exchange(fake, audio: audio) }
            #expect(refused?.status == 503)
            #expect(refused?.body == "overloaded")
            #expect(refused?.reasonHeader == "try later")
        }
    }

    @Test("empty finals are sent during long silence when configured")
    func emptyFinals() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.emptyFinalsEvery = .milliseconds(500)
        try await FakeDeepgramServer.run(configuration) { fake in
            let finals = Wire.results(Wire.json(try await Wire.exchange(fake, audio: Support.silence(.milliseconds(1600)))), final: true)
            #expect(finals.count == 4)  // three in silence, one for the rest at CloseStream
            #expect(finals.allSatisfy { Wire.transcript($0) == "" })
        }
    }

    @Test("the first Result of a connection can be delayed")
    func firstResultDelay() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Slow start."])
        configuration.firstResultDelay = .milliseconds(300)
        try await FakeDeepgramServer.run(configuration) { fake in
            let started = ContinuousClock.now
            let messages = Wire.json(try await Wire.exchange(fake, audio: Support.speech(.milliseconds(600))))
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            #expect(Wire.results(messages, final: true).compactMap(Wire.transcript) == ["Slow start."])
        }
    }

    @Test("faults: a close right after the k-th Result, then a DATA-0000 close at the first audio")
    func closeAfterResults() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.faults = [.closeAfterResults(2, code: 1011, reason: "NET-0000"), .closeAfterAudio(bytes: 0, code: 1008, reason: "DATA-0000")]
        try await FakeDeepgramServer.run(configuration) { fake in
            let audio = Support.speech(.seconds(1)) + Support.silence(.milliseconds(400))
            let first = try await Wire.exchange(fake, audio: audio)
            #expect(first.last == .closed(code: 1011, reason: "NET-0000"))
            #expect(Wire.results(Wire.json(first)).count == 2)
            let second = try await Wire.exchange(fake, audio: audio)
            #expect(second.last == .closed(code: 1008, reason: "DATA-0000"))
            #expect(Wire.json(second).isEmpty)
        }
    }
}
