import Foundation
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

@Suite("Fake ElevenLabs server: the multi-context WebSocket (multi-stream-input)")
struct FakeElevenLabsMultiContextTests {
    static let path = "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/multi-stream-input"

    static func url(_ fake: FakeElevenLabsServer, query: String) -> String {
        "ws://127.0.0.1:\(fake.port)\(path)?\(query)"
    }

    /// Opens a `multi-stream-input` socket with `headers` (by default the fake's key), sends
    /// `messages` in order and returns everything the fake sends until it closes.
    static func exchange(
        _ fake: FakeElevenLabsServer, query: String = "output_format=pcm_16000", headers: [(String, String)]? = nil, _ messages: [String]
    ) async throws -> [ProviderWebSocket.Message] {
        let headers = headers ?? [("xi-api-key", fake.configuration.apiKey)]
        return try await ProviderWebSocket.connect(to: url(fake, query: query), headers: headers) { socket in
            for message in messages { try await socket.send(text: message) }
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

    /// The audio bytes sent for context `id`, in order.
    static func audio(_ messages: [JSONValue], _ id: String) -> [UInt8] {
        messages.filter { $0["contextId"]?.stringValue == id }.flatMap { message in
            Array(Data(base64Encoded: message["audio"]?.stringValue ?? "") ?? Data())
        }
    }

    /// The speech the fake makes for `text` at 16 kHz, as PCM16LE bytes.
    static func speech(_ fake: FakeElevenLabsServer, _ text: String) -> [UInt8] {
        PCM.littleEndianBytes(fake.speech(for: text, sampleRate: 16000))
    }

    /// The index of context `id`'s final message, checking that none of its audio follows it.
    static func finalIndex(_ messages: [JSONValue], _ id: String) -> Int? {
        let final = messages.firstIndex { $0 == ["isFinal": true, "contextId": .string(id)] }
        let lastAudio = messages.lastIndex { $0["contextId"]?.stringValue == id && $0["audio"] != nil }
        if let final, let lastAudio { #expect(lastAudio < final, "audio of \(id) after its final") }
        return final
    }

    /// The close that ended `messages`.
    static func close(_ messages: [ProviderWebSocket.Message]) -> (code: Int?, reason: String)? {
        guard case .closed(let code, let reason)? = messages.last else { return nil }
        return (code, reason)
    }

    @Test("two contexts with interleaved text: each gets its own audio tagged with its contextId, then its own final")
    func twoContexts() async throws {
        try await FakeElevenLabsServer.run(.init(durationPerCharacter: .milliseconds(2))) { fake in
            let received = try await Self.exchange(
                fake,
                [
                    #"{"text":" ","context_id":"turn-1","generation_config":{"chunk_length_schedule":[50]}}"#,
                    #"{"text":"Hello ","context_id":"turn-1"}"#,
                    #"{"text":" ","context_id":"turn-2"}"#,
                    #"{"text":"Hi there. ","context_id":"turn-2"}"#,
                    #"{"text":"world. ","context_id":"turn-1","flush":true}"#,
                    #"{"context_id":"turn-2","text":"","flush":true}"#,
                    #"{"close_socket":true}"#,
                ])
            let messages = Self.json(received)
            #expect(Self.audio(messages, "turn-1") == Self.speech(fake, "Hello world. "))
            #expect(Self.audio(messages, "turn-2") == Self.speech(fake, "Hi there. "))
            for message in messages where message["audio"] != nil {
                #expect(message["isFinal"] == .null)
                #expect(["turn-1", "turn-2"].contains(message["contextId"]?.stringValue))
            }
            #expect(Self.finalIndex(messages, "turn-1") != nil)
            #expect(Self.finalIndex(messages, "turn-2") != nil)
            #expect(received.last == .closed(code: 1000, reason: ""))
            let record = try #require(fake.multiStreamInput.first)
            #expect(fake.multiStreamInputCount == 1)
            #expect(record.contextIDs == ["turn-1", "turn-2"])
            #expect(record.contexts.map(\.generations) == [["Hello world. "], ["Hi there. "]])
            #expect(record.contexts.allSatisfy { $0.flushed && $0.closedByClient && $0.finalSent && $0.discarded.isEmpty })
            #expect(record.violations.isEmpty)
            #expect(record.serverCloseCode == 1000)
        }
    }

    @Test("close_context after a flush: the flushed audio still comes, then the final; unflushed text is thrown away")
    func closeAfterFlush() async throws {
        // The first audio of each context waits 100 ms, so all of turn-1's audio follows its close.
        try await FakeElevenLabsServer.run(.init(durationPerCharacter: .milliseconds(2), firstByteDelay: .milliseconds(100))) { fake in
            let received = try await Self.exchange(
                fake,
                [
                    #"{"text":" ","context_id":"turn-1"}"#,
                    #"{"text":"Kept. ","context_id":"turn-1","flush":true}"#,
                    #"{"text":"Dropped words ","context_id":"turn-1"}"#,
                    #"{"context_id":"turn-1","close_context":true}"#,
                    #"{"text":"Next. ","context_id":"turn-2","flush":true}"#,
                    #"{"close_socket":true}"#,
                ])
            let messages = Self.json(received)
            #expect(Self.audio(messages, "turn-1") == Self.speech(fake, "Kept. "))
            #expect(Self.audio(messages, "turn-2") == Self.speech(fake, "Next. "))
            #expect(Self.finalIndex(messages, "turn-1") != nil)
            #expect(received.last == .closed(code: 1000, reason: ""))
            let turn1 = try #require(fake.multiStreamInput.first?.context("turn-1"))
            #expect(turn1.text == "Kept. Dropped words ")
            #expect(turn1.generations == ["Kept. "])
            #expect(turn1.discarded == "Dropped words ")
            #expect(turn1.flushed && turn1.closedByClient && turn1.finalSent)
            #expect(turn1.audioMessages > 0)
            #expect(turn1.audioMessagesAfterClose == turn1.audioMessages)
            // turn-2's audio, also 100 ms late, follows the close_socket that closed it.
            let turn2 = try #require(fake.multiStreamInput.first?.context("turn-2"))
            #expect(turn2.closedByClient && turn2.discarded.isEmpty && turn2.audioMessagesAfterClose == turn2.audioMessages)
        }
    }

    @Test("a closed context's id used again starts a new, unrelated context with settings of its own")
    func reusedContextID() async throws {
        try await FakeElevenLabsServer.run(.init(durationPerCharacter: .milliseconds(2))) { fake in
            let received = try await Self.exchange(
                fake,
                [
                    #"{"text":" ","context_id":"turn-1","voice_settings":{"speed":1.0}}"#,
                    #"{"text":"One. ","context_id":"turn-1","flush":true}"#,
                    #"{"context_id":"turn-1","close_context":true}"#,
                    #"{"text":"Two. ","context_id":"turn-1","flush":true,"voice_settings":{"speed":1.2}}"#,
                    #"{"context_id":"turn-1","close_context":true}"#,
                    #"{"close_socket":true}"#,
                ])
            let messages = Self.json(received)
            #expect(messages.filter { $0 == ["isFinal": true, "contextId": "turn-1"] }.count == 2)
            #expect(Self.audio(messages, "turn-1").count == Self.speech(fake, "One. Two. ").count)
            let record = try #require(fake.multiStreamInput.first)
            #expect(record.contextIDs == ["turn-1", "turn-1"])
            #expect(record.contexts.map(\.text) == ["One. ", "Two. "])
            #expect(record.contexts.map(\.generations) == [["One. "], ["Two. "]])
            #expect(record.violations.isEmpty)
            #expect(received.last == .closed(code: 1000, reason: ""))
        }
    }

    @Test("a sixth context at once gets max_active_conversations and close 1008")
    func maximumContexts() async throws {
        try await FakeElevenLabsServer.run { fake in
            let opens = (1...6).map { #"{"text":" ","context_id":"c\#($0)"}"# }
            let received = try await Self.exchange(fake, opens)
            let message =
                "Maximum simultaneous contexts per WebSocket connection exceeded (5). "
                + "Please close an existing context before opening a new one."
            #expect(Self.json(received) == [["message": .string(message), "error": "max_active_conversations", "code": 1008]])
            // A close frame's reason is short (under 125 bytes), so the message is cut there.
            let reason = try #require(Self.close(received)?.reason)
            #expect(Self.close(received)?.code == 1008)
            #expect(reason.hasPrefix("Maximum simultaneous contexts per WebSocket connection exceeded (5).") && message.hasPrefix(reason))
            #expect(fake.multiStreamInput.first?.contextIDs == ["c1", "c2", "c3", "c4", "c5"])
        }
    }

    @Test("a closed context counts until its final is sent; after it, its place is free")
    func contextCountsUntilFinal() async throws {
        let configuration = FakeElevenLabsServer.Configuration(firstByteDelay: .milliseconds(300), maximumContexts: 2)
        try await FakeElevenLabsServer.run(configuration) { fake in
            let received = try await Self.exchange(
                fake,
                [
                    #"{"text":" ","context_id":"a"}"#, #"{"text":"Hi. ","context_id":"a","flush":true}"#,
                    #"{"context_id":"a","close_context":true}"#, #"{"text":" ","context_id":"b"}"#, #"{"text":" ","context_id":"c"}"#,
                ])
            #expect(Self.json(received).last?["error"] == "max_active_conversations")
            #expect(Self.close(received)?.reason.contains("exceeded (2)") == true)
        }
        try await FakeElevenLabsServer.run(.init(maximumContexts: 2)) { fake in
            let received = try await ProviderWebSocket.connect(
                to: Self.url(fake, query: "output_format=pcm_16000"), headers: [("xi-api-key", fake.configuration.apiKey)]
            ) { socket in
                for message in [#"{"text":" ","context_id":"a"}"#, #"{"text":" ","context_id":"b"}"#, #"{"context_id":"a","close_context":true}"#] {
                    try await socket.send(text: message)
                }
                var iterator = socket.messages.makeAsyncIterator()
                var received: [ProviderWebSocket.Message] = []
                while let message = try await iterator.next() {
                    received.append(message)
                    if case .text(let text) = message, text.contains(#""contextId":"a""#) { break }
                }
                for message in [#"{"text":"Hi. ","context_id":"c","flush":true}"#, #"{"close_socket":true}"#] {
                    try await socket.send(text: message)
                }
                while let message = try await iterator.next() { received.append(message) }
                return received
            }
            let messages = Self.json(received)
            #expect(messages.first == ["isFinal": true, "contextId": "a"])
            #expect(Self.audio(messages, "c") == Self.speech(fake, "Hi. "))
            #expect(received.last == .closed(code: 1000, reason: ""))
            #expect(fake.multiStreamInput.first?.contextIDs == ["a", "b", "c"])
        }
    }

    @Test("empty text without flush keeps a context alive past the inactivity timeout (it does not end it)")
    func keepAlive() async throws {
        // A 1 s timeout against keep-alives 200 ms apart leaves a loaded machine 800 ms of slack.
        try await FakeElevenLabsServer.run(.init(durationPerCharacter: .milliseconds(2))) { fake in
            let received = try await ProviderWebSocket.connect(
                to: Self.url(fake, query: "output_format=pcm_16000&inactivity_timeout=1"), headers: [("xi-api-key", fake.configuration.apiKey)]
            ) { socket in
                try await socket.send(text: #"{"text":" ","context_id":"turn-1"}"#)
                for _ in 0..<7 {
                    try await Task.sleep(for: .milliseconds(200))
                    try await socket.send(text: #"{"context_id":"turn-1","text":""}"#)
                }
                try await socket.send(text: #"{"text":"Still here. ","context_id":"turn-1","flush":true}"#)
                try await socket.send(text: #"{"close_socket":true}"#)
                return try await socket.allMessages()
            }
            let messages = Self.json(received)
            #expect(messages.allSatisfy { $0["error"] == nil })
            #expect(Self.audio(messages, "turn-1") == Self.speech(fake, "Still here. "))
            #expect(Self.finalIndex(messages, "turn-1") != nil)
            #expect(received.last == .closed(code: 1000, reason: ""))
            #expect(await fake.waitUntil { $0.multiStreamInput.first?.closedAt != nil })
            let record = try #require(fake.multiStreamInput.first)
            #expect(try #require(record.closedAt) - record.openedAt >= .milliseconds(1400))
        }
    }

    @Test("a context with no message naming it for the timeout closes the socket with input_timeout_exceeded and 1008")
    func idleContextTimesOut() async throws {
        try await FakeElevenLabsServer.run { fake in
            let url = Self.url(fake, query: "output_format=pcm_16000&inactivity_timeout=1")
            let (received, errorAfter) = try await ProviderWebSocket.connect(to: url, headers: [("xi-api-key", fake.configuration.apiKey)]) {
                socket in
                let start = ContinuousClock.now
                try await socket.send(text: #"{"text":" ","context_id":"kept"}"#)
                // "kept" is kept alive every 200 ms; "idle", opened at 600 ms, never hears again.
                let keepAlives = Task {
                    for tick in 1...15 {
                        try await Task.sleep(for: .milliseconds(200))
                        try await socket.send(text: #"{"context_id":"kept","text":""}"#)
                        if tick == 3 { try await socket.send(text: #"{"text":" ","context_id":"idle"}"#) }
                    }
                }
                defer { keepAlives.cancel() }
                var received: [ProviderWebSocket.Message] = []
                var errorAfter: Duration?
                for try await message in socket.messages {
                    if errorAfter == nil, case .text(let text) = message, text.contains("input_timeout_exceeded") {
                        errorAfter = ContinuousClock.now - start
                    }
                    received.append(message)
                }
                return (received, errorAfter)
            }
            let message = Self.json(received).first?["message"]?.stringValue ?? ""
            #expect(Self.json(received).first?["error"] == "input_timeout_exceeded")
            #expect(message.hasPrefix("Have not received a new text input within the timeout of 1.0 seconds."))
            #expect(Self.close(received)?.code == 1008)
            #expect(Self.close(received).map { !$0.reason.isEmpty && message.hasPrefix($0.reason) } == true)
            // "idle" times out about 1.6 s in; "kept" alone would have at 1.0 s without its keep-alives.
            let after = try #require(errorAfter)
            #expect(after >= .milliseconds(1500) && after < .seconds(3))
        }
    }

    @Test("a socket whose contexts are all closed is timed out like one with no message at all")
    func socketWithoutContextsTimesOut() async throws {
        try await FakeElevenLabsServer.run(.init(inactivityTimeout: .milliseconds(500))) { fake in
            let start = ContinuousClock.now
            let received = try await Self.exchange(fake, [#"{"text":" ","context_id":"turn-1"}"#, #"{"context_id":"turn-1","close_context":true}"#])
            let elapsed = ContinuousClock.now - start
            let messages = Self.json(received)
            #expect(messages.first == ["isFinal": true, "contextId": "turn-1"])
            #expect(messages.last?["error"] == "input_timeout_exceeded")
            #expect(Self.close(received)?.code == 1008)
            #expect(elapsed >= .milliseconds(450))
        }
    }

    @Test("close_socket: flushed audio finishes, unflushed text is dropped, every open context gets its final, then close 1000")
    func closeSocket() async throws {
        try await FakeElevenLabsServer.run(.init(durationPerCharacter: .milliseconds(2), chunkPacing: .milliseconds(2))) { fake in
            let received = try await Self.exchange(
                fake,
                [
                    #"{"text":" ","context_id":"turn-1"}"#,
                    #"{"text":"Spoken. ","context_id":"turn-1","flush":true}"#,
                    #"{"text":"Never spoken ","context_id":"turn-1"}"#,
                    #"{"text":"Also never ","context_id":"turn-2"}"#,
                    #"{"close_socket":true}"#,
                    #"{"text":"Too late. ","context_id":"turn-3"}"#,
                ])
            let messages = Self.json(received)
            #expect(Self.audio(messages, "turn-1") == Self.speech(fake, "Spoken. "))
            #expect(Self.audio(messages, "turn-2").isEmpty)
            #expect(Self.finalIndex(messages, "turn-1") != nil)
            #expect(Self.finalIndex(messages, "turn-2") != nil)
            #expect(received.last == .closed(code: 1000, reason: ""))
            let record = try #require(fake.multiStreamInput.first)
            #expect(record.contextIDs == ["turn-1", "turn-2"])
            #expect(record.contexts.map(\.discarded) == ["Never spoken ", "Also never "])
            #expect(record.contexts.allSatisfy { $0.closedByClient && $0.finalSent })
            #expect(record.serverCloseCode == 1000)
        }
    }

    @Test(
        "the key is accepted in the header, the query or the first message; a first message without context_id opens \"default\"",
        arguments: ["header", "query", "xi-api-key", "xi_api_key", "authorization"])
    func keySpellings(source: String) async throws {
        try await FakeElevenLabsServer.run(.init(durationPerCharacter: .milliseconds(2))) { fake in
            let key = fake.configuration.apiKey
            var query = "output_format=pcm_16000"
            var first: JSONValue = ["text": " "]
            switch source {
            case "header": break
            case "query": query += "&authorization=Bearer%20\(key)"
            case "authorization": first = ["text": " ", "authorization": .string("Bearer \(key)")]
            default: first = ["text": " ", .init(stringLiteral: source): .string(key)]
            }
            let headers = source == "header" ? [("xi-api-key", key)] : []
            let received = try await Self.exchange(
                fake, query: query, headers: headers, [first.serialized, #"{"text":"Hi. ","flush":true}"#, #"{"close_socket":true}"#])
            #expect(Self.audio(Self.json(received), "default") == Self.speech(fake, "Hi. "))
            #expect(Self.json(received).last == ["isFinal": true, "contextId": "default"])
            #expect(received.last == .closed(code: 1000, reason: ""))
            let record = try #require(fake.multiStreamInput.first)
            let expected: FakeElevenLabsServer.KeySource = source == "header" ? .header : source == "query" ? .query : .firstMessage
            #expect(record.keySource == expected)
            #expect(record.messages.count == 3)
            #expect(record.messages.allSatisfy { !$0.contains(key) })
        }
    }

    @Test("a wrong key is refused with HTTP 401 at the upgrade, or in the first message with invalid_api_key and 1008")
    func wrongKey() async throws {
        try await FakeElevenLabsServer.run { fake in
            let error = await #expect(throws: ProviderWebSocket.HandshakeRejected.self) {
                try await Self.exchange(fake, headers: [("xi-api-key", "wrong")], [#"{"text":" "}"#])
            }
            #expect(error?.status == 401)
            let received = try await Self.exchange(fake, headers: [], [#"{"text":" ","xi_api_key":"wrong"}"#])
            #expect(Self.json(received) == [["message": "Invalid API key.", "error": "invalid_api_key", "code": 1008]])
            #expect(received.last == .closed(code: 1008, reason: "Invalid API key."))
            #expect(fake.multiStreamInput.last?.keySource == nil)
        }
    }

    @Test("finalKey .is_final spells the final message as the AsyncAPI spec does")
    func finalSpelling() async throws {
        try await FakeElevenLabsServer.run(.init(finalKey: .is_final)) { fake in
            let received = try await Self.exchange(
                fake, [#"{"text":" ","context_id":"turn-1"}"#, #"{"context_id":"turn-1","close_context":true}"#, #"{"close_socket":true}"#])
            #expect(Self.json(received) == [["is_final": true, "contextId": "turn-1"]])
            #expect(received.last == .closed(code: 1000, reason: ""))
        }
    }

    @Test(
        "a first message that is not a lone space, a message that breaks the schema, or a binary message gets invalid_input_message and 1008",
        arguments: [
            [#"{"text":"Hello ","context_id":"a"}"#], ["not json"], [#"{"close_socket":true}"#],
            [#"{"text":" "}"#, #"{"text":5}"#], [#"{"text":" "}"#, #"{"context_id":"a"}"#],
            [#"{"text":" "}"#, #"{"text":"Hi ","flush":"yes"}"#], [#"{"text":" "}"#, "binary"],
        ])
    func invalidInput(messages: [String]) async throws {
        try await FakeElevenLabsServer.run { fake in
            let received = try await ProviderWebSocket.connect(
                to: Self.url(fake, query: "output_format=pcm_16000"), headers: [("xi-api-key", fake.configuration.apiKey)]
            ) { socket in
                for message in messages {
                    if message == "binary" { try await socket.send(binary: [1, 2, 3]) } else { try await socket.send(text: message) }
                }
                return try await socket.allMessages()
            }
            let reason = "Could not parse input message, make sure it is a json and follows the schema outlined in protocol."
            #expect(Self.json(received) == [["message": .string(reason), "error": "invalid_input_message", "code": 1008]])
            #expect(received.last == .closed(code: 1008, reason: reason))
        }
    }

    @Test("faults apply: a refused upgrade, a dropped connection after the first audio, an error instead of the first text")
    func faults() async throws {
        try await FakeElevenLabsServer.run(.init(fault: .reject(status: 503, body: "busy"))) { fake in
            let error = await #expect(throws: ProviderWebSocket.HandshakeRejected.self) {
                try await Self.exchange(fake, [#"{"text":" "}"#])
            }
            #expect(error?.status == 503)
        }
        try await FakeElevenLabsServer.run(.init(audioChunkBytes: 101, fault: .dropAfterFirstAudio)) { fake in
            let received = try await Self.exchange(
                fake, [#"{"text":" ","context_id":"a"}"#, #"{"text":"Hello there. ","context_id":"a","flush":true}"#])
            #expect(Self.json(received).count == 1)
            #expect(Self.json(received).first?["contextId"] == "a")
            #expect(received.last?.isCloseWithoutFrame == true)
            #expect(fake.multiStreamInput.first?.serverDropped == true)
        }
        try await FakeElevenLabsServer.run(.init(fault: .errorMessage(error: "quota_exceeded", message: "Out of credits."))) { fake in
            let received = try await Self.exchange(fake, [#"{"text":" "}"#, #"{"text":"Hi. ","flush":true}"#])
            #expect(Self.json(received) == [["message": "Out of credits.", "error": "quota_exceeded", "code": 1008]])
            #expect(received.last == .closed(code: 1008, reason: "Out of credits."))
        }
    }
}
