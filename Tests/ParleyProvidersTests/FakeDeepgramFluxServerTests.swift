import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// The fake Flux driven by a bare WebSocket client, so its protocol behaviour is checked on its
/// own before the real client is tested against it.
@Suite("Fake Deepgram Flux server")
struct FakeDeepgramFluxServerTests {
    typealias Support = DeepgramTestSupport
    static let query = "model=flux-general-en&encoding=linear16&sample_rate=16000"

    /// Sends `audio` in 80 ms messages, then `texts`, and returns every message until the close.
    static func exchange(
        _ fake: FakeDeepgramFluxServer.Running, query: String = query, audio: [Int16], texts: [String] = [#"{"type":"CloseStream"}"#]
    ) async throws -> [ProviderWebSocket.Message] {
        try await ProviderWebSocket.connect(
            to: "\(fake.baseURL)/v2/listen?\(query)", headers: [("Authorization", "Token \(Support.key)")], timeout: .seconds(5)
        ) { connection in
            for frame in AudioFixtures.frames(audio, frameSamples: 1280) { try await connection.send(binary: PCM.littleEndianBytes(frame)) }
            for text in texts { try await connection.send(text: text) }
            return try await connection.allMessages()
        }
    }

    static func json(_ messages: [ProviderWebSocket.Message]) -> [JSONValue] {
        messages.compactMap { if case .text(let text) = $0 { JSONValue.parse(text) } else { nil } }
    }

    /// `event` of each TurnInfo, else `type`.
    static func events(_ messages: [ProviderWebSocket.Message]) -> [String] {
        json(messages).map { $0["event"]?.stringValue ?? $0["type"]?.stringValue ?? "?" }
    }

    static let turnAudio = Support.speech(.milliseconds(1000)) + Support.silence(.milliseconds(900))

    @Test("Connected first; one sequence_id across every message; a turn with its eager end; CloseStream closes without a status")
    func eagerTurn() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key, turns: ["What is the weather like?"])) { fake in
            let messages = try await Self.exchange(fake, query: Self.query + "&eager_eot_threshold=0.5", audio: Self.turnAudio)
            let parsed = Self.json(messages)
            #expect(parsed.map { $0["sequence_id"]?.doubleValue.map { Int($0) } } == Array(0..<parsed.count))
            let events = Self.events(messages)
            #expect(events.first == "Connected")
            #expect(events[1] == "StartOfTurn")
            let eager = try #require(events.firstIndex(of: "EagerEndOfTurn"))
            let end = try #require(events.firstIndex(of: "EndOfTurn"))
            #expect(eager < end && events.filter { $0 == "EndOfTurn" }.count == 1)
            #expect(events[1..<eager].allSatisfy { $0 == "Update" || $0 == "StartOfTurn" })
            let transcripts = parsed.compactMap { $0["transcript"]?.stringValue }
            #expect(transcripts.contains("What is"), "Updates reveal the words as they are spoken")
            #expect(parsed[eager]["transcript"]?.stringValue == "What is the weather like?")
            #expect(parsed[end]["transcript"] == parsed[eager]["transcript"])
            #expect(parsed[end]["trigger"]?.stringValue == "model")
            #expect(parsed[end]["turn_index"]?.doubleValue == 0)
            #expect(messages.last?.isCloseWithoutFrame == true, "Flux closes after CloseStream without a status code")
            #expect(fake.connections.first?.controlMessages == ["CloseStream"])
        }
    }

    @Test("a pause between the eager and the end silences: TurnResumed, then one EndOfTurn")
    func resumed() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key, turns: ["Tell me a story."])) { fake in
            let audio =
                Support.speech(.milliseconds(600)) + Support.silence(.milliseconds(300)) + Support.speech(.milliseconds(600))
                + Support.silence(.milliseconds(900))
            let events = Self.events(try await Self.exchange(fake, query: Self.query + "&eager_eot_threshold=0.4", audio: audio))
            let eager = try #require(events.firstIndex(of: "EagerEndOfTurn"))
            let resumed = try #require(events.firstIndex(of: "TurnResumed"))
            #expect(eager < resumed && resumed < events.lastIndex(of: "EndOfTurn")!)
            #expect(events.filter { $0 == "EndOfTurn" }.count == 1)
        }
    }

    @Test("eot_threshold 1.0 leaves only the timeout: EndOfTurn with trigger timeout after eot_timeout_ms of silence")
    func timeout() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key, turns: ["Hold on."])) { fake in
            let audio = Support.speech(.milliseconds(600)) + Support.silence(.milliseconds(1200))
            let parsed = Self.json(try await Self.exchange(fake, query: Self.query + "&eot_threshold=1.0&eot_timeout_ms=1000", audio: audio))
            let end = try #require(parsed.first { $0["event"]?.stringValue == "EndOfTurn" })
            #expect(end["trigger"]?.stringValue == "timeout")
            #expect(try #require(end["audio_window_end"]?.doubleValue) >= 1.6)
            #expect(!parsed.contains { $0["event"]?.stringValue == "EagerEndOfTurn" }, "no eager events without eager_eot_threshold")
        }
    }

    @Test("ForceEndTurn ends an open turn (trigger manual) or, with none open, draws a Warning")
    func forceEndTurn() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key, turns: ["Goodbye."])) { fake in
            let idle = Self.json(
                try await Self.exchange(
                    fake, audio: Support.silence(.milliseconds(200)), texts: [#"{"type":"ForceEndTurn"}"#, #"{"type":"CloseStream"}"#]))
            #expect(idle.contains { $0["type"]?.stringValue == "Warning" && $0["code"]?.stringValue == "FORCE_END_TURN_NO_ACTIVE_TURN" })
            let open = Self.json(
                try await Self.exchange(
                    fake, audio: Support.speech(.milliseconds(500)), texts: [#"{"type":"ForceEndTurn"}"#, #"{"type":"CloseStream"}"#]))
            let end = try #require(open.first { $0["event"]?.stringValue == "EndOfTurn" })
            #expect(end["trigger"]?.stringValue == "manual")
            #expect(end["transcript"]?.stringValue == "Goodbye.")
        }
    }

    @Test("Configure: merged thresholds echoed with the keyterms replaced, or ConfigureFailure for a value out of range")
    func configure() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key)) { fake in
            let parsed = Self.json(
                try await Self.exchange(
                    fake, query: Self.query + "&keyterm=Parley", audio: [],
                    texts: [
                        #"{"type":"Configure","thresholds":{"eot_threshold":0.8},"keyterms":["Flux"]}"#,
                        #"{"type":"Configure","thresholds":{"eager_eot_threshold":0.95}}"#, #"{"type":"CloseStream"}"#,
                    ]))
            let success = try #require(parsed.first { $0["type"]?.stringValue == "ConfigureSuccess" })
            #expect(success["thresholds"]?["eot_threshold"]?.doubleValue == 0.8)
            #expect(success["thresholds"]?["eot_timeout_ms"]?.doubleValue == 5000)
            #expect(success["keyterms"] == .array(["Flux"]))
            #expect(parsed.contains { $0["type"]?.stringValue == "ConfigureFailure" })
        }
    }

    @Test("the handshake: 401 for a bad key, 400 for a bad threshold or a missing model, 404 off /v2/listen")
    func handshake() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: "right-key")) { fake in
            for (path, status) in [
                ("/v2/listen?\(Self.query)", 401), ("/v1/listen?\(Self.query)", 404),
            ] {
                await #expect(throws: ProviderWebSocket.HandshakeRejected.self) {
                    try await ProviderWebSocket.connect(to: fake.baseURL + path, headers: [("Authorization", "Token wrong")]) { _ in }
                }
                #expect(fake.connections.last?.status == status, "\(path)")
            }
        }
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key)) { fake in
            for query in [Self.query + "&eot_threshold=0.2", "encoding=linear16&sample_rate=16000", "model=flux-general-en&encoding=linear16"] {
                do {
                    try await ProviderWebSocket.connect(
                        to: "\(fake.baseURL)/v2/listen?\(query)", headers: [("Authorization", "Token \(Support.key)")]
                    ) { _ in }
                    Issue.record("\(query) was accepted")
                } catch let rejected as ProviderWebSocket.HandshakeRejected {
                    #expect(rejected.status == 400, "\(query)")
                    #expect(JSONValue.parse(rejected.body)?["err_code"]?.stringValue == "INVALID_QUERY_PARAMETER")
                }
            }
        }
    }

    @Test("a KeepAlive text closes the socket without a status; unknown text draws an Error and close 1011")
    func badText() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key)) { fake in
            let keepAlive = try await Self.exchange(fake, audio: [], texts: [#"{"type":"KeepAlive"}"#])
            #expect(keepAlive.last?.isCloseWithoutFrame == true)
            let unknown = try await Self.exchange(fake, audio: [], texts: ["not json"])
            #expect(Self.json(unknown).last?["type"]?.stringValue == "Error")
            #expect(unknown.last == .closed(code: 1011, reason: "unparsable client message"))
        }
    }
}
