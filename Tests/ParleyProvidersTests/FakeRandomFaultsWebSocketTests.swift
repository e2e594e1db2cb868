import AsyncHTTPClient
import Foundation
import NIOCore
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// Random faults ("chaos") of the fake Deepgram and ElevenLabs, driven by a bare WebSocket
/// client: a refused upgrade, a connection dropped mid-stream with no close frame, an upgrade or
/// first audio that never comes until the client's deadline, and a late one.
@Suite("Fake providers' random faults over WebSocket")
struct FakeRandomFaultsWebSocketTests {
    typealias Support = DeepgramTestSupport
    typealias Wire = FakeDeepgramServerTests
    typealias Speech = FakeElevenLabsServerTests

    static func faults(_ probabilities: [FakeRandomFaults.Kind: Double]) -> FakeRandomFaults {
        var faults = FakeRandomFaults(seed: 11, probabilities: probabilities)
        faults.slowDelay = .milliseconds(300)...(.milliseconds(300))
        return faults
    }

    static func deepgram(_ probabilities: [FakeRandomFaults.Kind: Double]) -> FakeDeepgramServer.Configuration {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Chaos."])
        configuration.randomFaults = faults(probabilities)
        return configuration
    }

    /// Sends `audio` as fast as the fake takes it (stopping when the connection is gone), then
    /// `CloseStream`, and returns every message until the end.
    static func stream(
        _ fake: FakeDeepgramServer.Running, audio: [Int16], timeout: Duration = .seconds(5)
    ) async throws -> [ProviderWebSocket.Message] {
        try await ProviderWebSocket.connect(
            to: "\(fake.baseURL)/v1/listen?\(Wire.agentQuery)", headers: [("Authorization", "Token \(Support.key)")], timeout: timeout
        ) { connection in
            for frame in AudioFixtures.frames(audio, frameSamples: 640) {
                guard (try? await connection.send(binary: PCM.littleEndianBytes(frame[...]))) != nil else { break }
            }
            try? await connection.send(text: #"{"type":"CloseStream"}"#)
            return try await connection.allMessages()
        }
    }

    @Test("Deepgram refuse: the upgrade is answered with a 5xx and Deepgram's error body")
    func deepgramRefuse() async throws {
        try await FakeDeepgramServer.run(Self.deepgram([.refuse: 1])) { fake in
            let refusal = await Wire.refusal { _ = try await Self.stream(fake, audio: []) }
            #expect([500, 502, 503].contains(refusal?.status ?? 0))
            #expect(JSONValue.parse(refusal?.body ?? "")?["err_code"]?.stringValue == "INTERNAL_SERVER_ERROR")
            #expect(fake.randomFaultCounts == [.refuse: 1])
        }
    }

    @Test("Deepgram drop: results flow, then the TCP connection ends with no close frame within 5 s of audio")
    func deepgramDrop() async throws {
        try await FakeDeepgramServer.run(Self.deepgram([.drop: 1])) { fake in
            let messages = try await Self.stream(fake, audio: Support.speech(.seconds(6)))
            guard case .closed(let code, _)? = messages.last else {
                Issue.record("no end of connection")
                return
            }
            #expect(code == nil)
            #expect(!Wire.json(messages).contains { $0["type"]?.stringValue == "Metadata" })
            #expect(fake.randomFaultCounts == [.drop: 1])
        }
    }

    @Test("Deepgram stall: the upgrade is never answered, so the client's connect deadline ends it")
    func deepgramStall() async throws {
        try await FakeDeepgramServer.run(Self.deepgram([.stall: 1])) { fake in
            let started = ContinuousClock.now
            await #expect(throws: ChannelError.self) { _ = try await Self.stream(fake, audio: [], timeout: .milliseconds(300)) }
            #expect(started.duration(to: .now) < .seconds(3))
            #expect(fake.randomFaultCounts == [.stall: 1])
        }
    }

    @Test("Deepgram slow: the upgrade is answered after the drawn delay, and the stream works")
    func deepgramSlow() async throws {
        try await FakeDeepgramServer.run(Self.deepgram([.slow: 1])) { fake in
            let started = ContinuousClock.now
            let messages = try await Self.stream(fake, audio: Support.speech(.seconds(1)) + Support.silence(.milliseconds(400)))
            #expect(started.duration(to: .now) >= .milliseconds(300))
            #expect(Wire.results(Wire.json(messages), final: true).compactMap(Wire.transcript).contains("Chaos."))
            #expect(messages.last == .closed(code: 1000, reason: ""))
            #expect(fake.randomFaultCounts == [.slow: 1])
        }
    }

    /// A `stream-input` exchange: initialise, one sentence, end of input; the messages until the end.
    static func speak(
        _ fake: FakeElevenLabsServer, timeout: Duration = .seconds(5), closingEarly: Bool = false
    ) async throws -> [ProviderWebSocket.Message] {
        try await Speech.exchange(
            fake, key: fake.configuration.apiKey, [Speech.initialize, #"{"text":"Hello there, this is a test. ","flush":true}"#, #"{"text":""}"#],
            closingEarly: closingEarly)
    }

    static func elevenLabs(_ probabilities: [FakeRandomFaults.Kind: Double]) -> FakeElevenLabsServer.Configuration {
        var configuration = FakeElevenLabsServer.Configuration()
        configuration.randomFaults = faults(probabilities)
        return configuration
    }

    @Test("ElevenLabs refuse: the upgrade, and an HTTP request, are answered with a 5xx")
    func elevenLabsRefuse() async throws {
        try await FakeElevenLabsServer.run(Self.elevenLabs([.refuse: 1])) { fake in
            let refusal = await Wire.refusal { _ = try await Self.speak(fake) }
            #expect([500, 502, 503].contains(refusal?.status ?? 0))
            try await withHTTPClient { client in
                var request = HTTPClientRequest(url: "\(fake.baseURL)/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream?output_format=pcm_16000")
                request.method = .POST
                request.headers.add(name: "xi-api-key", value: fake.configuration.apiKey)
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"text":"Hi."}"#))
                let response = try await client.execute(request, timeout: .seconds(5))
                #expect(response.status.code >= 500)
            }
            #expect(fake.randomFaultCounts == [.refuse: 2])
        }
    }

    @Test("ElevenLabs drop: one audio message, then the TCP connection ends with no close frame")
    func elevenLabsDrop() async throws {
        try await FakeElevenLabsServer.run(Self.elevenLabs([.drop: 1])) { fake in
            // The drop can come before the client has written its last message.
            let messages = try await Self.speak(fake, closingEarly: true)
            #expect(Speech.json(messages).filter { $0["audio"] != nil }.count == 1)
            guard case .closed(let code, _)? = messages.last else {
                Issue.record("no end of connection")
                return
            }
            #expect(code == nil)
            #expect(fake.randomFaultCounts == [.drop: 1])
        }
    }

    @Test("ElevenLabs stall: no audio ever comes; the client's deadline must end it, and the fake lets go")
    func elevenLabsStall() async throws {
        try await FakeElevenLabsServer.run(Self.elevenLabs([.stall: 1])) { fake in
            let received = try await ProviderWebSocket.connect(
                to: "ws://127.0.0.1:\(fake.port)\(Speech.voicePath)?output_format=pcm_16000",
                headers: [("xi-api-key", fake.configuration.apiKey)]
            ) { socket in
                try await socket.send(text: Speech.initialize)
                try await socket.send(text: #"{"text":"Hello there, this is a test. ","flush":true}"#)
                // The client's deadline: whatever arrives in 500 ms, then it gives up.
                return try await withThrowingTaskGroup(of: [ProviderWebSocket.Message].self) { group in
                    group.addTask {
                        var messages: [ProviderWebSocket.Message] = []
                        for try await message in socket.messages { messages.append(message) }
                        return messages
                    }
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(500))
                        return []
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? []
                }
            }
            #expect(received.isEmpty)
            #expect(await fake.waitUntil { $0.streamInput.first?.closedAt != nil }, "the fake ends the connection the client left")
            #expect(fake.randomFaultCounts == [.stall: 1])
        }
    }

    @Test("ElevenLabs slow: the first audio comes after the drawn delay, then the whole speech")
    func elevenLabsSlow() async throws {
        try await FakeElevenLabsServer.run(Self.elevenLabs([.slow: 1])) { fake in
            let started = ContinuousClock.now
            let messages = try await Self.speak(fake)
            #expect(started.duration(to: .now) >= .milliseconds(300))
            #expect(Speech.json(messages).contains { $0["isFinal"]?.boolValue == true })
            #expect(fake.randomFaultCounts == [.slow: 1])
        }
    }
}
