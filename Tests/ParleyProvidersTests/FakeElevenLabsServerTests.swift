import AsyncHTTPClient
import Foundation
import NIOCore
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

@Suite("Fake ElevenLabs server follows docs/providers.md")
struct FakeElevenLabsServerTests {
    static let voicePath = "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input"

    /// Opens a `stream-input` socket, sends `messages` in order and returns everything the fake
    /// sends until it closes. With `closingEarly`, a fake that drops the connection before the last
    /// message is written is no error.
    static func exchange(
        _ fake: FakeElevenLabsServer, query: String = "output_format=pcm_16000&sync_alignment=true",
        key: String? = nil, _ messages: [String], closingEarly: Bool = false
    ) async throws -> [ProviderWebSocket.Message] {
        let headers = key.map { [("xi-api-key", $0)] } ?? []
        return try await ProviderWebSocket.connect(to: "ws://127.0.0.1:\(fake.port)\(voicePath)?\(query)", headers: headers) { socket in
            for message in messages {
                do {
                    try await socket.send(text: message)
                } catch  where closingEarly {
                    // The fake ended the connection before the rest was written: what it sent is the answer.
                    break
                }
            }
            return try await socket.allMessages()
        }
    }

    /// The JSON of each text message.
    static func json(_ messages: [ProviderWebSocket.Message]) -> [JSONValue] {
        messages.compactMap { message in
            guard case .text(let text) = message else { return nil }
            return JSONValue.parse(text)
        }
    }

    static let initialize = #"{"text":" ","generation_config":{"chunk_length_schedule":[50]}}"#

    @Test(
        "a first message whose text is not a single space, or that is not JSON, gets invalid_input_message and close 1008",
        arguments: [
            #"{"text":"Hello "}"#, "not json at all", #"{"flush":true}"#,
        ])
    func badFirstMessage(first: String) async throws {
        try await FakeElevenLabsServer.run { fake in
            let received = try await Self.exchange(fake, key: fake.configuration.apiKey, [first])
            #expect(Self.json(received).first?["error"] == "invalid_input_message")
            #expect(Self.json(received).first?["code"] == 1008)
            guard case .closed(let code, let reason)? = received.last else {
                Issue.record("no close: \(received)")
                return
            }
            #expect(code == 1008)
            #expect(reason.hasPrefix("Could not parse input message"))
        }
    }

    @Test(
        "the key is accepted in the header, the query or the first message under any of its three spellings",
        arguments: [
            "header", "query", "xi-api-key", "xi_api_key", "authorization",
        ])
    func keySpellings(source: String) async throws {
        try await FakeElevenLabsServer.run { fake in
            let key = fake.configuration.apiKey
            var query = "output_format=pcm_16000"
            var first: JSONValue = ["text": " "]
            switch source {
            case "header": break
            case "query": query += "&authorization=Bearer%20\(key)"
            case "authorization": first = ["text": " ", "authorization": .string("Bearer \(key)")]
            default: first = ["text": " ", .init(stringLiteral: source): .string(key)]
            }
            let received = try await Self.exchange(
                fake, query: query, key: source == "header" ? key : nil, [first.serialized, #"{"text":"Hi. ","flush":true}"#, #"{"text":""}"#])
            #expect(Self.json(received).last == ["isFinal": true])
            #expect(received.last == .closed(code: 1000, reason: ""))
            let record = try #require(fake.streamInput.first)
            let expected: FakeElevenLabsServer.KeySource = source == "header" ? .header : source == "query" ? .query : .firstMessage
            #expect(record.keySource == expected)
            #expect(record.messages.allSatisfy { !$0.contains(key) })
        }
    }

    @Test("a wrong key is refused with HTTP 401 at the upgrade, or (when so configured) with an error and close 1008")
    func wrongKey() async throws {
        try await FakeElevenLabsServer.run { fake in
            let error = await #expect(throws: ProviderWebSocket.HandshakeRejected.self) {
                try await Self.exchange(fake, key: "wrong", [Self.initialize])
            }
            #expect(error?.status == 401)
            #expect(error?.body.contains("invalid_api_key") == true)
            // No key at the upgrade: it is looked for in the first message.
            let received = try await Self.exchange(fake, [Self.initialize])
            #expect(Self.json(received).first?["error"] == "invalid_api_key")
            #expect(received.last == .closed(code: 1008, reason: "Invalid API key."))
        }
        try await FakeElevenLabsServer.run(.init(badKeyResponse: .errorThenClose)) { fake in
            let received = try await Self.exchange(fake, key: "wrong", [Self.initialize])
            #expect(Self.json(received).first?["error"] == "invalid_api_key")
            #expect(received.last == .closed(code: 1008, reason: "Invalid API key."))
        }
    }

    @Test("no message for the inactivity timeout gets input_timeout_exceeded and close 1008; a keep-alive resets the timer")
    func inactivity() async throws {
        // A 1 s timeout against keep-alives 200 ms apart leaves a loaded machine 800 ms of slack.
        try await FakeElevenLabsServer.run(.init(inactivityTimeout: .seconds(1))) { fake in
            let url = "ws://127.0.0.1:\(fake.port)\(Self.voicePath)?output_format=pcm_16000"
            let (received, lastSent) = try await ProviderWebSocket.connect(to: url, headers: [("xi-api-key", fake.configuration.apiKey)]) {
                socket in
                try await socket.send(text: Self.initialize)
                for _ in 0..<7 {
                    try await Task.sleep(for: .milliseconds(200))
                    try await socket.send(text: #"{"text":" "}"#)
                }
                let lastSent = ContinuousClock.now
                var received: [ProviderWebSocket.Message] = []
                for try await message in socket.messages { received.append(message) }
                return (received, lastSent)
            }
            let ended = await fake.waitUntil { $0.streamInput.first?.closedAt != nil }
            #expect(ended)
            let record = try #require(fake.streamInput.first)
            let closedAt = try #require(record.closedAt)
            // Kept alive for 1.4 s, longer than the timeout, then closed about 1 s after the last keep-alive.
            #expect(closedAt - lastSent >= .milliseconds(950))
            #expect(closedAt - record.openedAt >= .milliseconds(2350))
            #expect(Self.json(received).first?["error"] == "input_timeout_exceeded")
            let message = Self.json(received).first?["message"]?.stringValue
            #expect(message?.hasPrefix("Have not received a new text input within the timeout of 1.0 seconds.") == true)
            guard case .closed(1008?, let reason)? = received.last else {
                Issue.record("no close 1008: \(String(describing: received.last))")
                return
            }
            #expect(reason.hasPrefix("Have not received a new text input"))
            #expect(record.generations.isEmpty)
        }
    }

    @Test("text is buffered until the chunk schedule, try_trigger_generation above the minimum, a flush or end of stream")
    func generationTriggers() async throws {
        try await FakeElevenLabsServer.run(.init(minimumTriggerCharacters: 20)) { fake in
            let long = String(repeating: "word ", count: 9)  // 45 characters
            let messages = [
                Self.initialize,
                #"{"text":"Hello "}"#,  // 6 buffered
                #"{"text":"there ","try_trigger_generation":true}"#,  // 12: under the minimum, kept
                (["text": .string(long)] as JSONValue).serialized,  // 57: past the schedule's 50
                #"{"text":"Short ","try_trigger_generation":true}"#,  // 6: kept
                #"{"text":"but now long enough ","try_trigger_generation":true}"#,  // 26: triggered
                #"{"text":"Bye. ","flush":true}"#,
                #"{"text":"Left over "}"#,
                #"{"text":""}"#,
            ]
            let received = try await Self.exchange(fake, key: fake.configuration.apiKey, messages)
            let record = try #require(fake.streamInput.first)
            #expect(record.generations == ["Hello there " + long, "Short but now long enough ", "Bye. ", "Left over "])
            #expect(record.violations.isEmpty)
            #expect(Self.json(received).last == ["isFinal": true])
            #expect(received.last == .closed(code: 1000, reason: ""))
        }
    }

    @Test("with auto_mode=true every text message is spoken at once")
    func autoMode() async throws {
        try await FakeElevenLabsServer.run { fake in
            let messages = [Self.initialize, #"{"text":"One. "}"#, #"{"text":"Two. "}"#, #"{"text":""}"#]
            _ = try await Self.exchange(fake, query: "output_format=pcm_16000&auto_mode=true", key: fake.configuration.apiKey, messages)
            #expect(fake.streamInput.first?.generations == ["One. ", "Two. "])
        }
    }

    @Test("audio messages: odd byte lengths, real PCM, equal-length alignment arrays relative to the message, switchable duration key")
    func audioMessages() async throws {
        try await FakeElevenLabsServer.run(.init(durationPerCharacter: .milliseconds(10), audioChunkBytes: 101, durationKey: .charDurationsMs)) {
            fake in
            let messages = [Self.initialize, #"{"text":"Hi there. ","flush":true}"#, #"{"text":""}"#]
            let received = Self.json(try await Self.exchange(fake, key: fake.configuration.apiKey, messages))
            let audio = received.filter { $0["audio"]?.stringValue != nil }
            let bytes = audio.map { Array(Data(base64Encoded: $0["audio"]?.stringValue ?? "") ?? Data()) }
            #expect(bytes.dropLast().allSatisfy { $0.count == 101 })
            #expect(PCM.samples(fromLittleEndian: bytes.flatMap { $0 }) == fake.speech(for: "Hi there. ", sampleRate: 16000))
            var characters: [String] = []
            for message in audio {
                #expect(message["isFinal"] == .null)
                guard let alignment = message["alignment"], alignment != .null else { continue }
                let chars = alignment["chars"]?.arrayValue ?? []
                let starts = alignment["charStartTimesMs"]?.arrayValue?.compactMap(\.intValue) ?? []
                #expect(alignment["charsDurationsMs"] == nil)
                #expect(chars.count == starts.count)
                #expect(chars.count == alignment["charDurationsMs"]?.arrayValue?.count)
                // 101 bytes are 50.5 samples, about 3.2 ms at 16 kHz.
                #expect(starts.allSatisfy { (0...4).contains($0) })
                #expect(message["normalizedAlignment"]?["chars"]?.arrayValue?.count == chars.count)
                characters += chars.compactMap(\.stringValue)
            }
            #expect(characters.joined() == "Hi there. ")
        }
    }

    @Test("a chunk schedule outside 50…500 is refused; settings changed later are noted as violations")
    func settingsRules() async throws {
        try await FakeElevenLabsServer.run { fake in
            let received = try await Self.exchange(
                fake, key: fake.configuration.apiKey, [#"{"text":" ","generation_config":{"chunk_length_schedule":[10]}}"#])
            #expect(Self.json(received).first?["error"] == "invalid_input_message")
            let messages = [
                Self.initialize, #"{"text":"Hi. ","flush":true,"generation_config":{"chunk_length_schedule":[60]}}"#, #"{"text":"no space"}"#,
                #"{"text":""}"#,
            ]
            _ = try await Self.exchange(fake, key: fake.configuration.apiKey, messages)
            #expect(
                fake.streamInput.last?.violations == [
                    "generation_config changed after the first message", "a text without a trailing space: no space",
                ])
        }
    }

    @Test("μ-law output: one byte per sample, G.711 values")
    func ulaw() async throws {
        try await FakeElevenLabsServer.run { fake in
            let messages = [Self.initialize, #"{"text":"Hi. ","flush":true}"#, #"{"text":""}"#]
            _ = try await Self.exchange(fake, query: "output_format=ulaw_8000", key: fake.configuration.apiKey, messages)
            #expect(fake.streamInput.first?.audio.count == fake.speech(for: "Hi. ", sampleRate: 8000).count)
            // The tones start at zero phase, and G.711 μ-law encodes 0 as 0xFF.
            #expect(fake.streamInput.first?.audio.first == 0xFF)
        }
    }

    @Test("HTTP: a body without text gets a FastAPI 422, a missing PCM format is refused, odd-sized chunks stream the speech")
    func http() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await FakeElevenLabsServer.run(.init(audioChunkBytes: 333)) { fake in
                func post(_ query: String, _ body: String) async throws -> (Int, [Int]) {
                    var request = HTTPClientRequest(url: "\(fake.baseURL)/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream\(query)")
                    request.method = .POST
                    request.headers.add(name: "xi-api-key", value: fake.configuration.apiKey)
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(string: body))
                    let response = try await client.execute(request, timeout: .seconds(5))
                    var sizes: [Int] = []
                    for try await buffer in response.body { sizes.append(buffer.readableBytes) }
                    return (Int(response.status.code), sizes)
                }
                let noText = try await post("?output_format=pcm_16000", #"{"model_id":"eleven_flash_v2_5"}"#)
                #expect(noText.0 == 422)
                let noFormat = try await post("", #"{"text":"Hi."}"#)
                #expect(noFormat.0 == 422)
                let speech = try await post("?output_format=pcm_16000", #"{"text":"Hi."}"#)
                #expect(speech.0 == 200)
                #expect(speech.1.reduce(0, +) == 2 * fake.speech(for: "Hi.", sampleRate: 16000).count)
                #expect(fake.httpRequests.last?.audio.count == speech.1.reduce(0, +))
                #expect(fake.httpRequests.first?.body?["model_id"] == "eleven_flash_v2_5")
            }
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
