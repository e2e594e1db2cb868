import ParleyCore
import Testing

@Suite("Wire protocol v1")
struct WireProtocolTests {
    @Test("binary frames decode as little-endian PCM16")
    func audio() throws {
        let bytes: [UInt8] = [0x01, 0x00, 0xFF, 0xFF, 0x00, 0x80]
        let samples = try bytes.withUnsafeBytes { try WireProtocol.decodeAudio($0) }
        #expect(samples == [1, -1, -32768])
    }

    @Test("odd-length and oversized binary frames are rejected with their codes")
    func badAudio() {
        let odd = [UInt8](repeating: 0, count: 641)
        #expect(throws: SessionError(.badAudioFrame, "Binary frame of 641 bytes is not a whole number of 16-bit samples.")) {
            try odd.withUnsafeBytes { try WireProtocol.decodeAudio($0) }
        }
        let big = [UInt8](repeating: 0, count: WireProtocol.maxAudioFrameBytes + 2)
        #expect {
            try big.withUnsafeBytes { try WireProtocol.decodeAudio($0) }
        } throws: { ($0 as? SessionError)?.code == .frameTooLarge }
    }

    @Test("client events decode")
    func clientEvents() throws {
        #expect(
            try WireProtocol.decodeClientText(#"{"type":"playback.progress","turn_id":3,"played_samples":12800}"#)
                == .playbackProgress(turnID: 3, playedSamples: 12800))
        #expect(
            try WireProtocol.decodeClientText(#"{"type":"playback.cleared","turn_id":2,"played_samples":0,"extra":true}"#)
                == .playbackCleared(turnID: 2, playedSamples: 0))
        // Turn 0 is the greeting.
        #expect(
            try WireProtocol.decodeClientText(#"{"type":"playback.progress","turn_id":0,"played_samples":160}"#)
                == .playbackProgress(turnID: 0, playedSamples: 160))
        #expect(try WireProtocol.decodeClientText(#"{"type":"ping","id":7}"#) == .ping(7))
    }

    static let badTexts: [(String, SessionError.Code)] = [
        ("not json", SessionError.Code.invalidJSON),
        ("[1,2]", .invalidJSON),
        (#"{"kind":"ping"}"#, .invalidJSON),
        (#"{"type":42}"#, .invalidJSON),
        (#"{"type":"dance"}"#, .unknownEvent),
        (#"{"type":"playback.progress","turn_id":"3","played_samples":1}"#, .invalidEvent),
        (#"{"type":"playback.progress","turn_id":1,"played_samples":-5}"#, .invalidEvent),
        (#"{"type":"playback.cleared","turn_id":1.5,"played_samples":1}"#, .invalidEvent),
        (String(repeating: " ", count: WireProtocol.maxTextFrameBytes + 1), .frameTooLarge),
    ]

    @Test("bad client text gets a specific error code")
    func badText() {
        for (text, code) in Self.badTexts {
            do {
                _ = try WireProtocol.decodeClientText(text)
                Issue.record("\(text.prefix(60)) was accepted")
            } catch {
                #expect(error.code == code && !error.fatal && !error.message.isEmpty, "\(text.prefix(60)): \(error)")
            }
        }
    }

    @Test("server events encode as documented")
    func encoding() {
        #expect(WireProtocol.encode(SessionEvent.speechStarted) == #"{"type":"speech.started"}"#)
        #expect(
            WireProtocol.encode(SessionEvent.agentText(turnID: 2, delta: "Hi \"you\"\n"))
                == #"{"delta":"Hi \"you\"\n","turn_id":2,"type":"agent.text"}"#)
        #expect(
            WireProtocol.encode(SessionEvent.error(SessionError(.badAudioFrame, "odd", fatal: false)))
                == #"{"code":"bad_audio_frame","fatal":false,"message":"odd","type":"error"}"#)
        #expect(WireProtocol.encode(SessionEvent.agentAudio(turnID: 1, samples: [1, 2])) == nil)
    }

    @Test("every server event survives encode → decode")
    func serverRoundTrip() throws {
        var timeline = TurnTimeline()
        timeline[.speechEnd] = .zero
        timeline[.sttFinal] = .milliseconds(512)
        timeline[.firstAudioSent] = .microseconds(700_500)
        let events: [SessionEvent] = [
            .ready(SessionDescription(sessionID: "abc", inputSampleRate: 16000, outputSampleRate: 24000, providers: ["stt": "x"])),
            .speechStarted, .speechStopped, .transcriptPartial("my na"),
            .transcriptFinal(turnID: 1, text: "My name is John."),
            .agentText(turnID: 1, delta: "Hello"), .agentAudioStart(turnID: 1, sampleRate: 24000),
            .agentAudioEnd(turnID: 1, samples: 4800), .agentInterrupted(turnID: 1),
            .turnEnd(TurnSummary(turnID: 1, text: "Hello", interrupted: true, timeline: timeline)),
            .turnEnd(
                TurnSummary(
                    turnID: 2, text: "Hi", interrupted: false, timeline: timeline,
                    endOfTurn: EndOfTurnVerdict(
                        probability: 0.875, complete: true, silence: .milliseconds(200), wait: .microseconds(64500), checks: 2))),
            .turnEnd(
                TurnSummary(
                    turnID: 3, text: "Hi", interrupted: false, timeline: timeline,
                    endOfTurn: EndOfTurnVerdict(probability: nil, complete: true, silence: .milliseconds(200), wait: .milliseconds(3), checks: 1))),
            .pong("x"), .error(SessionError(.llmFailed, "boom", fatal: false)),
        ]
        for event in events {
            let text = try #require(WireProtocol.encode(event))
            #expect(try WireProtocol.decodeServerText(text) == event)
        }
        #expect(try WireProtocol.decodeServerText(#"{"type":"future.event"}"#) == nil)
    }

    @Test("a turn.end time beyond Int64 nanoseconds is an invalid event, not a crash (found by fuzz-server-event)")
    func timelineOutOfRange() {
        #expect {
            try WireProtocol.decodeServerText(#"{"type":"turn.end","turn_id":1,"text":"","timeline":{"vad_end":3e18}}"#)
        } throws: { ($0 as? SessionError)?.code == .invalidEvent }
    }

    @Test(
        "a turn.end whose end_of_turn is malformed is an invalid event",
        arguments: [
            #"{"probability":1.5,"complete":true,"silence_ms":200,"wait_ms":60,"checks":1}"#,
            #"{"probability":0.5,"silence_ms":200,"wait_ms":60,"checks":1}"#,
            #"{"probability":0.5,"complete":true,"silence_ms":-1,"wait_ms":60,"checks":1}"#,
            #"{"complete":true,"silence_ms":200,"wait_ms":60,"checks":1}"#, #""yes""#,
        ])
    func endOfTurnMalformed(verdict: String) {
        #expect {
            try WireProtocol.decodeServerText(#"{"type":"turn.end","turn_id":1,"text":"","timeline":{},"end_of_turn":"# + verdict + "}")
        } throws: { ($0 as? SessionError)?.code == .invalidEvent }
    }

    @Test("client messages encode to what the server decodes")
    func clientRoundTrip() throws {
        let messages: [ClientMessage] = [
            .playbackProgress(turnID: 4, playedSamples: 99), .playbackCleared(turnID: 4, playedSamples: 0), .ping(["a": 1]),
        ]
        for message in messages {
            #expect(try WireProtocol.decodeClientText(WireProtocol.encode(message)!) == message)
        }
    }

    @Test("JSON strings escape control characters and keep Unicode")
    func escaping() {
        #expect(JSONValue.string("a\u{1}b\té😀").serialized == "\"a\\u0001b\\té😀\"")
        #expect(JSONValue.parse(#"{"a":[true,null,1.5,"x"]}"#) == ["a": [true, nil, 1.5, "x"]])
        #expect(JSONValue.parse("{") == nil)
    }
}
