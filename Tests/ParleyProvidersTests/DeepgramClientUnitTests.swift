import ParleyCore
import Testing

@testable import ParleyProviders

@Suite("Deepgram client pieces: query, turn tracking, replay buffer")
struct DeepgramClientUnitTests {
    static func results(
        _ transcript: String, isFinal: Bool, speechFinal: Bool = false, fromFinalize: Bool = false, start: Double = 0,
        duration: Double = 1
    ) -> String {
        let message: JSONValue = [
            "type": "Results", "channel_index": [0, 1], "start": .number(start), "duration": .number(duration),
            "is_final": .bool(isFinal), "speech_final": .bool(speechFinal), "from_finalize": .bool(fromFinalize),
            "channel": ["alternatives": [["transcript": .string(transcript), "confidence": 0.9, "words": []]]],
        ]
        return message.serialized
    }

    @Test("the listen address has docs/providers.md's example query, repeated percent-encoded keyterms, and the tag")
    func address() throws {
        var client = DeepgramSpeechToText(apiKey: "secret")
        client.keyterms = ["Parley", "voice agent", "a&b=c"]
        #expect(
            try client.listenAddress(tag: "session 7")
                == "wss://api.deepgram.com/v1/listen?model=nova-3&language=en-US&encoding=linear16&sample_rate=16000&channels=1"
                + "&interim_results=true&endpointing=300&utterance_end_ms=1000&vad_events=true&smart_format=true&no_delay=true"
                + "&keyterm=Parley&keyterm=voice%20agent&keyterm=a%26b%3Dc&tag=session%207")
        client.keyterms = []
        client.encoding = .mulaw
        client.sampleRate = 8000
        client.endpointing = nil
        client.utteranceEnd = nil
        client.interimResults = false
        #expect(
            try client.listenAddress(tag: nil)
                == "wss://api.deepgram.com/v1/listen?model=nova-3&language=en-US&encoding=mulaw&sample_rate=8000&channels=1"
                + "&interim_results=false&endpointing=false&vad_events=true&smart_format=true&no_delay=true")
    }

    @Test("base URLs: http maps to ws, https to wss, trailing slashes go, other schemes are refused without the key")
    func baseURLs() throws {
        #expect(try DeepgramSpeechToText.webSocketBase("https://api.deepgram.com/") == "wss://api.deepgram.com")
        #expect(try DeepgramSpeechToText.webSocketBase("http://127.0.0.1:8080") == "ws://127.0.0.1:8080")
        #expect(try DeepgramSpeechToText.webSocketBase("WSS://proxy.example/dg//") == "wss://proxy.example/dg")
        #expect(try DeepgramSpeechToText.webSocketBase("ws://localhost:1") == "ws://localhost:1")
        #expect(throws: ProviderError.self) { try DeepgramSpeechToText.webSocketBase("ftp://api.deepgram.com") }
        #expect(throws: ProviderError.self) { try DeepgramSpeechToText.webSocketBase("wss://") }
    }

    @Test("interims become partials; finals append; speech_final ends the turn")
    func finalsAndSpeechFinal() {
        var tracker = DeepgramTranscriptTracker()
        #expect(tracker.receive(Self.results("", isFinal: false)).events == [])
        #expect(tracker.receive(Self.results("hello", isFinal: false)).events == [.partial("hello")])
        #expect(tracker.turnOpen)
        #expect(
            tracker.receive(Self.results("Hello there.", isFinal: true, start: 0, duration: 1.5)).events == [.final("Hello there.", endsTurn: false)])
        #expect(tracker.receive(Self.results("How are you?", isFinal: true, speechFinal: true)).events == [.final("How are you?", endsTurn: true)])
        #expect(!tracker.turnOpen)
        let reception = tracker.receive(Self.results("", isFinal: true, start: 2, duration: 0.5))
        #expect(reception.events == [])
        #expect(reception.finalizedThrough == 2.5)
    }

    @Test("an empty speech_final or from_finalize ends a turn with pending finals, and only then")
    func emptyEndOfTurn() {
        var tracker = DeepgramTranscriptTracker()
        #expect(tracker.receive(Self.results("", isFinal: true, speechFinal: true)).events == [])
        _ = tracker.receive(Self.results("Part one", isFinal: true))
        #expect(tracker.receive(Self.results("", isFinal: true, speechFinal: true)).events == [.final("", endsTurn: true)])
        _ = tracker.receive(Self.results("Part two", isFinal: true))
        #expect(tracker.receive(Self.results("", isFinal: true, fromFinalize: true)).events == [.final("", endsTurn: true)])
        #expect(tracker.receive(Self.results("", isFinal: true, fromFinalize: true)).events == [])
    }

    @Test("UtteranceEnd ends a turn speech_final left open, and is ignored after speech_final")
    func utteranceEnd() {
        var tracker = DeepgramTranscriptTracker()
        let utteranceEnd = #"{"type":"UtteranceEnd","channel":[0,1],"last_word_end":2.395}"#
        _ = tracker.receive(Self.results("Noisy words", isFinal: true))
        #expect(tracker.receive(utteranceEnd).events == [.final("", endsTurn: true)])
        #expect(tracker.receive(utteranceEnd).events == [])
        _ = tracker.receive(Self.results("Clean words.", isFinal: true, speechFinal: true))
        #expect(tracker.receive(utteranceEnd).events == [])
    }

    @Test("SpeechStarted is reported and opens the turn; Metadata, Error, unknown types and junk produce nothing")
    func otherMessages() {
        var tracker = DeepgramTranscriptTracker()
        #expect(!tracker.turnOpen)
        #expect(tracker.receive(#"{"type":"SpeechStarted","channel":[0,1],"timestamp":9.54}"#).events == [.speechStarted])
        #expect(tracker.turnOpen)
        #expect(tracker.receive(#"{"type":"Metadata","request_id":"x"}"#).kind == .metadata)
        let error = tracker.receive(#"{"type":"Error","variant":"SchemaError","description":"bad","message":"{"}"#)
        #expect(error.kind == .error("SchemaError: bad"))
        #expect(error.events == [])
        #expect(tracker.receive(#"{"type":"Weird","x":1}"#) == .init(kind: .unknown("Weird")))
        #expect(tracker.receive("not json") == .init(kind: .unparseable))
        #expect(tracker.receive(#"{"no_type":true}"#) == .init(kind: .unparseable))
        // Extra fields do not matter.
        let extra = #"{"type":"Results","is_final":false,"entities":[],"channel":{"alternatives":[{"transcript":"hi","languages":["en"]}]}}"#
        #expect(tracker.receive(extra).events == [.partial("hi")])
    }

    @Test("the replay buffer keeps audio after the last final, across connections, and drops the oldest past capacity")
    func replayBuffer() {
        var buffer = DeepgramReplayBuffer(capacity: 100, sampleRate: 10)
        buffer.append(Array(0..<30).map(Int16.init))
        buffer.finalized(through: 1.2)  // 12 samples
        #expect(buffer.start == 12)
        #expect(Array(buffer.samples) == Array(12..<30).map(Int16.init))
        // A reconnect: the new connection's clock starts at the first kept sample.
        buffer.beginConnection()
        buffer.append(Array(30..<40).map(Int16.init))
        buffer.finalized(through: 0.5)
        #expect(buffer.start == 17)
        buffer.finalized(through: 99)
        #expect(buffer.count == 0)
        #expect(buffer.end == 40)
        buffer.append(Array(repeating: 1, count: 150))
        #expect(buffer.count == 100)
        #expect(buffer.start == 90)
        buffer.finalized(through: .nan)
        #expect(buffer.start == 90)
    }

    @Test("a final result ending at an absurd time finalises all the audio sent, without overflow (found by fuzz-deepgram)")
    func replayBufferHugeTime() {
        var buffer = DeepgramReplayBuffer(capacity: 100, sampleRate: 16000)
        buffer.append(Array(repeating: 1, count: 50))
        buffer.finalized(through: 1e300)
        #expect(buffer.count == 0)
        #expect(buffer.start == 50)
        buffer.finalized(through: .greatestFiniteMagnitude)
        #expect(buffer.end == 50)
    }

    @Test("a refused handshake is explained for a person, naming Deepgram, without the key")
    func refusals() {
        let client = DeepgramSpeechToText(apiKey: "dg_secret_key_value", baseURL: "ws://127.0.0.1:9")
        let unauthorized = client.connectionError(
            ProviderWebSocket.HandshakeRejected(status: 401, body: #"{"err_code":"INVALID_AUTH"}"#, reasonHeader: nil))
        #expect(unauthorized.message == "Deepgram refused the API key (HTTP 401) — check DEEPGRAM_API_KEY")
        #expect(unauthorized.status == 401)
        let badRequest = client.connectionError(
            ProviderWebSocket.HandshakeRejected(
                status: 400, body: #"{"err_code":"INVALID_QUERY_PARAMETER","err_msg":"Bad utterance_end_ms with key dg_secret_key_value"}"#,
                reasonHeader: nil))
        #expect(
            badRequest.message
                == "Deepgram rejected the connection parameters (HTTP 400): INVALID_QUERY_PARAMETER: Bad utterance_end_ms with key [redacted]")
        let other = client.connectionError(ProviderWebSocket.HandshakeRejected(status: 503, body: "overloaded", reasonHeader: nil))
        #expect(other.message == "Deepgram refused the connection (HTTP 503): overloaded")
        #expect(other.kind == .rejected)
    }
}
