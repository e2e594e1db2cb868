import ParleyCore
import Testing

/// A turn's contiguous segments: pipeline order, clamping where a stage came early, and the sum
/// that is the voice-to-voice time, in the timeline and on the wire.
@Suite("Turn segments")
struct TurnSegmentsTests {
    static func timeline(_ milliseconds: [TurnTimeline.Stage: Double]) -> TurnTimeline {
        TurnTimeline(offsets: milliseconds.mapValues { .nanoseconds(Int64($0 * 1_000_000)) }.merging([.speechEnd: .zero]) { $1 })
    }

    static func milliseconds(_ segments: [(segment: TurnTimeline.Segment, duration: Duration)]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: segments.map { ($0.segment.rawValue, ($0.duration.milliseconds * 1000).rounded() / 1000) })
    }

    @Test("each segment runs from the previous one's end; they add up to playback start")
    func contiguous() throws {
        let timeline = Self.timeline([
            .vadEnd: 300, .sttFinal: 304, .llmRequest: 304.5, .llmFirstToken: 455, .firstSentence: 515, .ttsFirstAudio: 667,
            .firstAudioSent: 668, .playbackStart: 700, .lastAudioSent: 3000,
        ])
        #expect(timeline.segments.map(\.segment) == [.endpointing, .stt, .llm, .firstChunk, .tts, .send, .playback])
        #expect(
            Self.milliseconds(timeline.segments) == [
                "endpointing": 300, "stt": 4, "llm": 151, "first_chunk": 60, "tts": 152, "send": 1, "playback": 32,
            ])
        #expect(timeline.voiceToVoice == .milliseconds(700))
    }

    @Test("a stage earlier than the one before it (an early LLM request) is a zero segment; tools count when called")
    func clamped() throws {
        let early = Self.timeline([
            .vadEnd: 300, .sttFinal: 310, .llmRequest: 120, .llmFirstToken: 280, .firstSentence: 330, .ttsFirstAudio: 480,
            .firstAudioSent: 481, .playbackStart: 500,
        ])
        #expect(Self.milliseconds(early.segments)["llm"] == 0)
        #expect(Self.milliseconds(early.segments)["first_chunk"] == 20)
        #expect(early.voiceToVoice == .milliseconds(500))

        let tools = Self.timeline([.vadEnd: 300, .sttFinal: 305, .toolStart: 400, .toolEnd: 900, .llmFirstToken: 1000, .firstSentence: 1050])
        #expect(Self.milliseconds(tools.segments) == ["endpointing": 300, "stt": 5, "tools": 595, "llm": 100, "first_chunk": 50])
        #expect(tools.voiceToVoice == nil, "no playback reported yet")
        #expect(Self.timeline([:]).segments.isEmpty)
    }

    @Test("turn.end carries the segments and voice_to_voice, whose sum is exact in the rounded figures")
    func wire() throws {
        let timeline = Self.timeline([
            .vadEnd: 300.04, .sttFinal: 304.06, .llmFirstToken: 455.55, .firstSentence: 515.549, .ttsFirstAudio: 667.25,
            .firstAudioSent: 668.31, .playbackStart: 700.96,
        ])
        let json = try #require(WireProtocol.json(for: .turnEnd(TurnSummary(turnID: 3, text: "Hi.", interrupted: false, timeline: timeline))))
        guard case .object(let segments)? = json["segments"] else {
            Issue.record("no segments object in \(json.serialized)")
            return
        }
        #expect(Set(segments.keys) == ["endpointing", "stt", "llm", "first_chunk", "tts", "send", "playback"])
        let total = try #require(json["voice_to_voice"]?.doubleValue)
        #expect(total == 701)
        #expect(json["timeline"]?["playback_start"]?.doubleValue == 701)
        let sum = segments.values.compactMap { $0.doubleValue }.reduce(0, +)
        #expect(abs(sum - total) < 1e-9)
        #expect(segments["endpointing"]?.doubleValue == 300 && segments["stt"]?.doubleValue == 4.1)

        let unheard = try #require(
            WireProtocol.json(for: .turnEnd(TurnSummary(turnID: 4, text: "", interrupted: true, timeline: Self.timeline([.vadEnd: 300])))))
        #expect(unheard["voice_to_voice"] == .null)
        guard case .object(let reached)? = unheard["segments"] else {
            Issue.record("no segments object in \(unheard.serialized)")
            return
        }
        #expect(reached.count == 1)
    }
}
