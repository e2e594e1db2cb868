import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// The fake Deepgram driven by a bare WebSocket client, so its protocol behaviour is checked on
/// its own before the real client is tested against it.
@Suite("Fake Deepgram server")
struct FakeDeepgramServerTests {
    typealias Support = DeepgramTestSupport
    static let agentQuery =
        "model=nova-3&language=en-US&encoding=linear16&sample_rate=16000&channels=1&interim_results=true&endpointing=300"
        + "&utterance_end_ms=1000&vad_events=true&smart_format=true&no_delay=true"

    /// Sends `audio` then `CloseStream` (unless `close` is false) and returns every message until the close.
    static func exchange(
        _ fake: FakeDeepgramServer.Running, query: String = agentQuery, key: String = Support.key, scheme: String = "Token",
        audio: [Int16], encode: @Sendable ([Int16]) -> [UInt8] = PCM.littleEndianBytes, frameSamples: Int = 320,
        beforeClose: [String] = [], closingEarly: Bool = false
    ) async throws -> [ProviderWebSocket.Message] {
        try await ProviderWebSocket.connect(
            to: "\(fake.baseURL)/v1/listen?\(query)", headers: [("Authorization", "\(scheme) \(key)")], timeout: .seconds(5)
        ) { connection in
            do {
                for frame in AudioFixtures.frames(audio, frameSamples: frameSamples) {
                    try await connection.send(binary: encode(frame))
                }
                for text in beforeClose { try await connection.send(text: text) }
                try await connection.send(text: #"{"type":"CloseStream"}"#)
            } catch  where closingEarly {
                // The fake ended the connection before the rest was written: what it sent is the answer.
            }
            return try await connection.allMessages()
        }
    }

    static func json(_ messages: [ProviderWebSocket.Message]) -> [JSONValue] {
        messages.compactMap { message in
            if case .text(let text) = message { return JSONValue.parse(text) }
            return nil
        }
    }

    static func results(_ messages: [JSONValue], final: Bool? = nil) -> [JSONValue] {
        messages.filter { $0["type"]?.stringValue == "Results" && (final == nil || $0["is_final"]?.boolValue == final) }
    }

    static func transcript(_ result: JSONValue) -> String? {
        result["channel"]?["alternatives"]?.arrayValue?.first?["transcript"]?.stringValue
    }

    static func refusal(_ body: () async throws -> Void) async -> ProviderWebSocket.HandshakeRejected? {
        do {
            try await body()
            return nil
        } catch {
            return error as? ProviderWebSocket.HandshakeRejected
        }
    }

    @Test("a wrong or missing key is refused at the handshake with HTTP 401, Deepgram's error body and dg-error")
    func badKey() async throws {
        try await FakeDeepgramServer.run(.init(apiKey: Support.key)) { fake in
            let wrong = await Self.refusal { _ = try await Self.exchange(fake, key: "not-the-key", audio: []) }
            let rejected = try #require(wrong)
            #expect(rejected.status == 401)
            #expect(rejected.reasonHeader == "Invalid credentials.")
            let body = try #require(JSONValue.parse(rejected.body))
            #expect(body["err_code"]?.stringValue == "INVALID_AUTH")
            #expect(body["err_msg"]?.stringValue == "Invalid credentials.")
            #expect(body["request_id"]?.stringValue?.isEmpty == false)

            let missing = await Self.refusal {
                _ = try await ProviderWebSocket.connect(to: "\(fake.baseURL)/v1/listen?\(Self.agentQuery)") { _ in }
            }
            #expect(missing?.status == 401)
            let records = fake.connections
            #expect(records.map(\.authorized) == [false, false])
            #expect(records.map(\.authScheme) == ["Token", nil])
            #expect(records.map(\.status) == [401, 401])
            #expect(!records.contains { $0.sent.joined().contains(Support.key) })
        }
    }

    @Test("the key is accepted as Token or Bearer, only on /v1/listen")
    func schemesAndPath() async throws {
        try await FakeDeepgramServer.run(.init(apiKey: Support.key)) { fake in
            let token = try await Self.exchange(fake, audio: [])
            let bearer = try await Self.exchange(fake, scheme: "Bearer", audio: [])
            #expect(token.last == .closed(code: 1000, reason: ""))
            #expect(bearer.last == .closed(code: 1000, reason: ""))
            let wrongPath = await Self.refusal {
                _ = try await ProviderWebSocket.connect(
                    to: "\(fake.baseURL)/v2/listen?\(Self.agentQuery)", headers: [("Authorization", "Token \(Support.key)")]
                ) { _ in }
            }
            #expect(wrongPath?.status == 404)
            #expect(fake.connections.map(\.status) == [101, 101, 404])
        }
    }

    @Test(
        "bad parameter combinations are refused with HTTP 400 and the reason",
        arguments: [
            ("model=nova-3&sample_rate=16000", "encoding"),
            ("model=nova-3&encoding=linear16", "sample_rate"),
            ("model=nova-3&encoding=linear16&sample_rate=abc", "sample_rate"),
            ("model=nova-3&encoding=wav&sample_rate=16000", "encoding"),
            ("model=nova-3&encoding=linear16&sample_rate=16000&utterance_end_ms=1000", "interim_results"),
            ("model=nova-3&encoding=linear16&sample_rate=16000&interim_results=true&utterance_end_ms=500", "1000"),
            ("model=nova-3&encoding=linear16&sample_rate=16000&keywords=parley:2", "keyterm"),
            ("model=nova-3&encoding=linear16&sample_rate=16000&interim_results=yes", "interim_results"),
        ])
    func badParameters(query: String, mentioned: String) async throws {
        try await FakeDeepgramServer.run(.init(apiKey: Support.key)) { fake in
            let refused = await Self.refusal { _ = try await Self.exchange(fake, query: query, audio: []) }
            let rejected = try #require(refused)
            #expect(rejected.status == 400)
            #expect(JSONValue.parse(rejected.body)?["err_code"]?.stringValue == "INVALID_QUERY_PARAMETER")
            #expect(rejected.reasonHeader?.contains(mentioned) == true, "\(rejected.reasonHeader ?? "no dg-error")")
        }
    }

    @Test("parameter checks can be switched off")
    func lenientParameters() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.validateParameters = false
        try await FakeDeepgramServer.run(configuration) { fake in
            let messages = try await Self.exchange(
                fake, query: "model=nova-3&encoding=linear16&sample_rate=16000&interim_results=false&utterance_end_ms=500", audio: [])
            #expect(messages.last == .closed(code: 1000, reason: ""))
        }
    }

    @Test("an utterance gets SpeechStarted, growing interims, a final with speech_final, then UtteranceEnd, on the audio clock")
    func utterance() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Hello there, Parley friend."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let audio = Support.silence(.milliseconds(500)) + Support.speech(.seconds(1)) + Support.silence(.milliseconds(1600))
            let messages = Self.json(try await Self.exchange(fake, audio: audio))
            let types = messages.compactMap { $0["type"]?.stringValue }
            #expect(types.first == "SpeechStarted")
            #expect(messages.first?["timestamp"]?.doubleValue == 0.5)

            let interims = Self.results(messages, final: false).compactMap(Self.transcript)
            #expect(interims == ["Hello", "Hello there,", "Hello there, Parley"])

            // The silence left at CloseStream gets an empty final of its own.
            let finals = Self.results(messages, final: true)
            #expect(finals.compactMap(Self.transcript) == ["Hello there, Parley friend.", ""])
            let final = try #require(finals.first)
            #expect(final["speech_final"]?.boolValue == true)
            #expect(final["from_finalize"]?.boolValue == false)
            #expect(final["start"]?.doubleValue == 0)
            // Speech ends at 1.5 s; endpointing (300 ms) fires at 1.8 s of audio.
            #expect(final["duration"]?.doubleValue == 1.8)
            #expect(final["channel_index"] == [0, 1])
            #expect(final["metadata"]?["request_id"]?.stringValue?.isEmpty == false)
            #expect(final["metadata"]?["model_info"]?["name"]?.stringValue != nil)
            let words = try #require(final["channel"]?["alternatives"]?.arrayValue?.first?["words"]?.arrayValue)
            #expect(words.compactMap { $0["word"]?.stringValue } == ["hello", "there", "parley", "friend"])
            #expect(words.compactMap { $0["punctuated_word"]?.stringValue } == ["Hello", "there,", "Parley", "friend."])
            let starts = words.compactMap { $0["start"]?.doubleValue }
            let ends = words.compactMap { $0["end"]?.doubleValue }
            #expect(starts.first == 0.5)
            #expect(starts == starts.sorted() && zip(starts, ends).allSatisfy { $0 < $1 })
            #expect((ends.last ?? 0) <= 1.5)

            let utteranceEnd = try #require(messages.first { $0["type"]?.stringValue == "UtteranceEnd" })
            #expect(utteranceEnd["last_word_end"]?.doubleValue == ends.last)
            #expect(types.suffix(3) == ["UtteranceEnd", "Results", "Metadata"])
            #expect(fake.utterancesFinalized == 1)
        }
    }

    @Test("without interim_results and vad_events only finals come")
    func onlyFinals() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Just finals."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let audio = Support.speech(.seconds(1)) + Support.silence(.milliseconds(400))
            let messages = Self.json(
                try await Self.exchange(fake, query: "model=nova-3&encoding=linear16&sample_rate=16000&endpointing=300", audio: audio))
            #expect(messages.compactMap { $0["type"]?.stringValue } == ["Results", "Results", "Metadata"])
            #expect(messages.compactMap(Self.transcript) == ["just finals", ""])  // no smart_format: no punctuation
            #expect(messages[0]["channel"]?["alternatives"]?.arrayValue?.first?["words"]?.arrayValue?.first?["punctuated_word"] == nil)
        }
    }

    @Test("an utterance can come as several finals that tile the audio; only the last says speech_final")
    func severalFinals() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["one two three four five six"])
        configuration.finalsPerUtterance = 3
        try await FakeDeepgramServer.run(configuration) { fake in
            let audio = Support.speech(.milliseconds(1200)) + Support.silence(.milliseconds(400))
            let finals = Self.results(Self.json(try await Self.exchange(fake, audio: audio)), final: true).filter {
                Self.transcript($0) != ""
            }
            #expect(finals.compactMap(Self.transcript) == ["one two", "three four", "five six"])
            #expect(finals.map { $0["speech_final"]?.boolValue } == [false, false, true])
            for (earlier, later) in zip(finals, finals.dropFirst()) {
                let end = (earlier["start"]?.doubleValue ?? 0) + (earlier["duration"]?.doubleValue ?? 0)
                #expect(abs(end - (later["start"]?.doubleValue ?? -1)) < 1e-6)
            }
        }
    }

    @Test("Finalize flushes buffered speech with from_finalize, keeps the connection open, and answers nothing when nothing is buffered")
    func finalize() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Push to talk."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let messages = try await ProviderWebSocket.connect(
                to: "\(fake.baseURL)/v1/listen?\(Self.agentQuery)", headers: [("Authorization", "Token \(Support.key)")]
            ) { connection in
                try await connection.send(text: #"{"type":"Finalize"}"#)
                for frame in AudioFixtures.frames(Support.speech(.milliseconds(600))) {
                    try await connection.send(binary: PCM.littleEndianBytes(frame))
                }
                try await connection.send(text: #"{"type":"Finalize"}"#)
                try await connection.send(text: #"{"type":"KeepAlive"}"#)
                try await connection.send(text: #"{"type":"CloseStream"}"#)
                var messages: [ProviderWebSocket.Message] = []
                for try await message in connection.messages { messages.append(message) }
                return messages
            }
            let finals = Self.results(Self.json(messages), final: true)
            #expect(finals.count == 1)
            #expect(finals.first.flatMap(Self.transcript) == "Push to talk.")
            #expect(finals.first?["from_finalize"]?.boolValue == true)
            #expect(finals.first?["speech_final"]?.boolValue == false)
            #expect(messages.last == .closed(code: 1000, reason: ""))
            #expect(fake.connections.first?.controlTypes == ["Finalize", "Finalize", "KeepAlive", "CloseStream"])
        }
    }

    @Test("μ-law at 8000 Hz advances the audio clock one byte per sample")
    func mulaw() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Telephone call."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let audio = Support.speech(.seconds(1), sampleRate: 8000) + Support.silence(.milliseconds(400), sampleRate: 8000)
            let messages = Self.json(
                try await Self.exchange(
                    fake, query: "model=nova-3&encoding=mulaw&sample_rate=8000&endpointing=300&smart_format=true", audio: audio,
                    encode: { MuLaw.encode($0) }, frameSamples: 160))
            let final = try #require(Self.results(messages, final: true).first)
            #expect(Self.transcript(final) == "Telephone call.")
            #expect(final["duration"]?.doubleValue == 1.3)
            #expect(fake.connections.first?.audioBytes == audio.count)
            #expect(messages.last?["duration"]?.doubleValue == 1.4)
        }
    }

    @Test("CloseStream flushes the utterance in progress, then Metadata with the six required fields, then close 1000")
    func closeStream() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Cut short."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let messages = try await Self.exchange(fake, audio: Support.speech(.milliseconds(800)))
            #expect(messages.last == .closed(code: 1000, reason: ""))
            let json = Self.json(messages)
            #expect(Self.results(json, final: true).compactMap(Self.transcript) == ["Cut short."])
            let metadata = try #require(json.last)
            #expect(metadata["type"]?.stringValue == "Metadata")
            for field in ["transaction_key", "request_id", "sha256", "created"] {
                #expect(metadata[field]?.stringValue?.isEmpty == false, "\(field)")
            }
            #expect(metadata["sha256"]?.stringValue?.count == 64)
            #expect(metadata["duration"]?.doubleValue == 0.8)
            #expect(metadata["channels"]?.intValue == 1)
            #expect(fake.connections.first?.serverClose?.code == 1000)
        }
    }
}
