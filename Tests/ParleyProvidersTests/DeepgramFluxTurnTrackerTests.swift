import ParleyCore
import Testing

@testable import ParleyProviders

/// Flux's turn events, message by message, as the session sees them (docs/providers.md).
@Suite("Deepgram Flux turn tracker")
struct DeepgramFluxTurnTrackerTests {
    static func turnInfo(_ event: String, _ transcript: String, index: Int = 0) -> String {
        #"{"type":"TurnInfo","request_id":"r","sequence_id":3,"event":"\#(event)","turn_index":\#(index),"audio_window_start":0.1,"audio_window_end":1.2,"transcript":"\#(transcript)","words":[],"end_of_turn_confidence":0.8}"#
    }

    @Test("a turn with an eager end: turn start, partials, the likely end once, then the final that ends the turn")
    func eagerTurn() {
        var tracker = DeepgramFluxTurnTracker()
        #expect(tracker.receive(#"{"type":"Connected","request_id":"abc","sequence_id":0}"#).kind == .connected(requestID: "abc"))
        #expect(!tracker.turnOpen)
        #expect(tracker.receive(Self.turnInfo("StartOfTurn", "")).events == [.turnStarted])
        #expect(tracker.turnOpen)
        #expect(tracker.receive(Self.turnInfo("Update", "What is")).events == [.partial("What is")])
        #expect(tracker.receive(Self.turnInfo("Update", "What is")).events == [], "the same words are no news")
        #expect(tracker.receive(Self.turnInfo("Update", "What is the time?")).events == [.partial("What is the time?")])
        #expect(tracker.receive(Self.turnInfo("EagerEndOfTurn", "What is the time?")).events == [.likelyEndOfTurn("What is the time?")])
        #expect(tracker.state == .awaitingEnd)
        // An Update with the same words while awaiting the end must not discard the early reply.
        #expect(tracker.receive(Self.turnInfo("Update", "What is the time?")).events == [])
        #expect(tracker.receive(Self.turnInfo("EndOfTurn", "What is the time?")).events == [.final("What is the time?", endsTurn: true)])
        #expect(!tracker.turnOpen)
    }

    @Test("TurnResumed after an eager end takes it back; then words are news again")
    func resumed() {
        var tracker = DeepgramFluxTurnTracker()
        _ = tracker.receive(Self.turnInfo("StartOfTurn", "Tell"))
        #expect(tracker.receive(Self.turnInfo("EagerEndOfTurn", "Tell me")).events == [.likelyEndOfTurn("Tell me")])
        #expect(tracker.receive(Self.turnInfo("TurnResumed", "Tell me")).events == [.turnResumed])
        #expect(tracker.state == .ongoing)
        #expect(tracker.receive(Self.turnInfo("Update", "Tell me")).events == [.partial("Tell me")])
        #expect(tracker.receive(Self.turnInfo("TurnResumed", "Tell me")).events == [], "TurnResumed only follows an eager end")
        #expect(tracker.receive(Self.turnInfo("EndOfTurn", "Tell me a story.")).events == [.final("Tell me a story.", endsTurn: true)])
    }

    @Test("a start of turn with words reports them; an end of turn without words is no speech")
    func edges() {
        var tracker = DeepgramFluxTurnTracker()
        #expect(tracker.receive(Self.turnInfo("StartOfTurn", "Hello")).events == [.turnStarted, .partial("Hello")])
        #expect(tracker.receive(Self.turnInfo("EndOfTurn", "  ")).events == [.noSpeech])
        #expect(tracker.receive(Self.turnInfo("EagerEndOfTurn", "")).events == [], "an empty eager end starts nothing")
    }

    @Test("errors, warnings, Configure answers, unknown and broken messages")
    func otherMessages() {
        var tracker = DeepgramFluxTurnTracker()
        #expect(
            tracker.receive(#"{"type":"Error","sequence_id":9,"code":"INTERNAL_SERVER_ERROR","description":"boom"}"#).kind
                == .error("INTERNAL_SERVER_ERROR: boom"))
        #expect(
            tracker.receive(#"{"type":"Warning","code":"FORCE_END_TURN_NO_ACTIVE_TURN","description":"no turn"}"#).kind
                == .warning("FORCE_END_TURN_NO_ACTIVE_TURN: no turn"))
        #expect(tracker.receive(#"{"type":"ConfigureSuccess","thresholds":{"eot_threshold":0.8}}"#).kind == .configureSuccess)
        #expect(tracker.receive(#"{"type":"ConfigureFailure","sequence_id":4}"#).kind == .configureFailure)
        #expect(tracker.receive(#"{"type":"SomethingNew","sequence_id":5}"#).kind == .unknown("SomethingNew"))
        #expect(tracker.receive("not json").kind == .unparseable)
        #expect(tracker.receive(#"{"event":"EndOfTurn"}"#).kind == .unparseable)
        #expect(tracker.receive(#"{"type":"TurnInfo","event":"Whatever","transcript":"x"}"#).events == [])
        #expect(!tracker.turnOpen)
    }

    @Test("thresholds go on the query as plain decimals, with model, encoding, rate, keyterms and tag")
    func query() throws {
        let client = DeepgramFluxSpeechToText(
            apiKey: "k", baseURL: "http://127.0.0.1:9/", encoding: .mulaw, sampleRate: 8000, endOfTurnThreshold: 0.75,
            eagerEndOfTurnThreshold: 0.4, endOfTurnTimeout: .milliseconds(3000), keyterms: ["Parley", "smallest ai"])
        let address = try client.listenAddress(tag: "s1")
        #expect(
            address
                == "ws://127.0.0.1:9/v2/listen?model=flux-general-en&encoding=mulaw&sample_rate=8000&eot_threshold=0.75&eager_eot_threshold=0.4&eot_timeout_ms=3000&keyterm=Parley&keyterm=smallest%20ai&tag=s1"
        )
        let plain = DeepgramFluxSpeechToText(apiKey: "k", eagerEndOfTurnThreshold: nil)
        #expect(try plain.listenAddress(tag: nil) == "wss://api.deepgram.com/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000")
        #expect(DeepgramFluxSpeechToText.decimal(1) == "1")
        #expect(DeepgramFluxSpeechToText.decimal(0.5) == "0.5")
        #expect(DeepgramFluxSpeechToText.decimal(0.123456) == "0.123")
    }
}
