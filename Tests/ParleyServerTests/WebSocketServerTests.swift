import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import ParleyClient
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Testing

@Suite("Server over a real WebSocket")
struct WebSocketServerTests {
    @Test("/health names each stage's provider and answers 200 when all are ready")
    func healthReady() async throws {
        let app = makeApplication(providers: fakeProviders())
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let body = try #require(JSONValue.parse(String(buffer: response.body)))
                #expect(body["status"] == "ok")
                #expect(body["stages"]?["stt"]?["provider"] == "scripted-stt")
                #expect(body["stages"]?["llm"]?["provider"] == "fake-llm")
                #expect(body["stages"]?["tts"]?["ready"] == true)
            }
        }
    }

    @Test("while an engine starts, /health is 503 and new sessions are refused at the handshake")
    func notReady() async throws {
        let providers = fakeProviders()
        let starting = EngineStatus()
        let health = HealthMonitor(stages: [
            .init(stage: "stt", provider: "local-whisper", status: starting),
            .init(stage: "llm", provider: "fake-llm"), .init(stage: "tts", provider: "tone-tts"),
        ])
        let app = makeApplication(providers: providers, health: health)
        try await app.test(.live) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(JSONValue.parse(String(buffer: response.body))?["status"] == "starting")
            }
            #expect(try await RawSocket.handshakeStatus(port: try #require(client.port)) == 503)
        }
    }

    @Test("malformed frames get error events and the session keeps serving; so does the server")
    func malformedInput() async throws {
        let app = makeApplication(providers: fakeProviders())
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let events = try await RawSocket.converse(port: port) { outbound, received in
                await received.wait { $0.contains { if case .ready = $0 { true } else { false } } }
                try await outbound.write(.binary(ByteBuffer(bytes: [UInt8](repeating: 7, count: 641))))
                try await outbound.write(.text("{oops"))
                try await outbound.write(.text(#"{"type":"dance","turn_id":1}"#))
                try await outbound.write(.binary(ByteBuffer(bytes: [UInt8](repeating: 0, count: 40000))))
                try await outbound.write(.text(#"{"type":"ping","pad":""# + String(repeating: "x", count: 20000) + #""}"#))
                try await outbound.write(.text(#"{"type":"playback.progress","turn_id":"one"}"#))
                try await outbound.write(.binary(ByteBuffer(bytes: [1, 2, 3])))
                try await outbound.write(.text(#"{"type":"ping","id":"still-alive"}"#))
                let errors = await received.errors(atLeast: 7)
                #expect(
                    errors.map(\.code) == [
                        .badAudioFrame, .invalidJSON, .unknownEvent, .frameTooLarge, .frameTooLarge, .invalidEvent, .badAudioFrame,
                    ])
                #expect(errors.allSatisfy { !$0.fatal && !$0.message.isEmpty })
                #expect(await received.wait { $0.contains(.pong("still-alive")) })
            }
            #expect(events.contains(.pong("still-alive")))

            // A frame over the WebSocket layer's 1 MiB limit closes only that connection.
            let closed = try await RawSocket.converse(port: port) { outbound, received in
                await received.wait { !$0.isEmpty }
                try? await outbound.write(.binary(ByteBuffer(bytes: [UInt8](repeating: 0, count: (1 << 20) + 2))))
                try? await Task.sleep(for: .milliseconds(200))
            }
            #expect(closed.count == 1)

            // Another session still gets a full turn.
            let talk = TalkClient(
                options: .init(url: "ws://127.0.0.1:\(port)/ws", leadingSilence: .milliseconds(300), replyTimeout: .seconds(10)),
                logger: Logger(label: "talk"))
            let speech = PCM.floats(AudioFixtures.tone(frequency: 200, duration: .milliseconds(700)) + AudioFixtures.silence(.milliseconds(100)))
            let result = try await talk.run(speech: speech, sampleRate: 16000)
            #expect(result.turns.count == 1)
            #expect(result.turns.first?.transcript == "Hello there.")
            #expect(result.turns.first?.reply == "Hi! Nice to hear you.")
            #expect(result.audio.count == result.turns.first?.audioSamples)
            #expect(result.audio.count > 1000)
        }
    }

    @Test("sessions beyond the limit are refused with 503 at the handshake; the others are unaffected")
    func sessionLimit() async throws {
        let app = makeApplication(providers: fakeProviders())
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // The four sessions stay open until the fifth handshake has been answered (waiting a
            // fixed time instead failed on a machine busy with the rest of the suite).
            let opened = (0..<4).map { _ in CancellationSignal() }
            let checked = CancellationSignal()
            try await withThrowingTaskGroup(of: [SessionEvent].self) { group in
                for session in opened {
                    group.addTask {
                        try await RawSocket.converse(port: port) { _, received in
                            await received.wait { !$0.isEmpty }
                            session.fire()
                            try await checked.wait(atMost: .seconds(30))
                        }
                    }
                }
                for session in opened { try await session.wait(atMost: .seconds(30)) }
                #expect(opened.allSatisfy { $0.isFired })
                #expect(try await RawSocket.handshakeStatus(port: port) == 503)
                checked.fire()
                for try await events in group {
                    #expect(events.first.map { if case .ready = $0 { true } else { false } } == true)
                }
            }
        }
    }

    @Test("talking to a port with no server fails with a clear message")
    func unreachable() async throws {
        let port = try LocalEngine.freePort()
        let talk = TalkClient(options: .init(url: "ws://127.0.0.1:\(port)/ws"), logger: Logger(label: "talk"))
        await #expect {
            _ = try await talk.run(speech: [0.1, 0.2], sampleRate: 16000)
        } throws: { error in
            "\(error)".contains("cannot talk to ws://127.0.0.1:\(port)/ws") && "\(error)".contains("connection refused")
        }
    }
}

@Suite("parley talk with speech that talks over a reply")
struct TalkOverReplyTests {
    @Test("talk waits for the reply to the last thing said, not for the reply it interrupted")
    func answersTheLastWords() async throws {
        let providers = SessionProviders(
            speechToText: ScriptedSpeechToText(transcripts: ["Hello there.", "Tell me about Rome instead."]),
            languageModel: StreamingFakeLanguageModel(reply: "Hi! Nice to hear you.", tokenDelay: .milliseconds(5)),
            // About two seconds of reply audio, so that it is still being sent when the words
            // over it interrupt it (200 ms into them), even on a loaded machine: with about a second
            // it failed once in CI, the pacer having sent the last of it, 100–200 ms ahead of
            // playback, before the interruption came.
            textToSpeech: ToneTextToSpeech(durationPerCharacter: .milliseconds(100)))
        let app = makeApplication(providers: providers)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let talk = TalkClient(
                options: .init(url: "ws://127.0.0.1:\(port)/ws", leadingSilence: .milliseconds(300), replyTimeout: .seconds(10)),
                logger: Logger(label: "talk"))
            // A question, a pause in which the reply starts, then more words over the reply.
            let speech =
                AudioFixtures.tone(frequency: 200, duration: .milliseconds(700)) + AudioFixtures.silence(.milliseconds(900))
                + AudioFixtures.tone(frequency: 250, duration: .milliseconds(700)) + AudioFixtures.silence(.milliseconds(100))
            let result = try await talk.run(speech: PCM.floats(speech), sampleRate: 16000)
            #expect(result.turns.count == 2, "\(result.turns.map { ($0.turnID, $0.transcript, $0.interrupted) })")
            #expect(result.turns.first?.interrupted == true)
            let last = try #require(result.turns.last)
            #expect(last.transcript == "Tell me about Rome instead.")
            #expect(!last.interrupted)
            #expect(last.reply == "Hi! Nice to hear you.")
        }
    }
}
