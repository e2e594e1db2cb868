import Foundation
import ParleyCore

/// Percentiles of STT final → first agent audio byte sent, and where that time goes.
struct OverheadReport {
    /// The segments between consecutive timeline stages, in pipeline order.
    static let segments: [(name: String, from: TurnTimeline.Stage, to: TurnTimeline.Stage)] = [
        ("turn commit → LLM request", .sttFinal, .llmRequest),
        ("LLM request → first token (fake Groq over HTTP)", .llmRequest, .llmFirstToken),
        ("first token → first complete sentence (the rest of it streaming in)", .llmFirstToken, .firstSentence),
        ("first sentence → TTS first audio (fake ElevenLabs over WebSocket)", .firstSentence, .ttsFirstAudio),
        ("TTS first audio → first frame sent", .ttsFirstAudio, .firstAudioSent),
    ]

    let overheads: [Double]
    let segmentMeans: [(name: String, milliseconds: Double)]

    init(timelines: [TurnTimeline]) {
        func milliseconds(_ timeline: TurnTimeline, _ from: TurnTimeline.Stage, _ to: TurnTimeline.Stage) -> Double? {
            guard let start = timeline[from], let end = timeline[to] else { return nil }
            return (end - start).milliseconds
        }
        overheads = timelines.compactMap { milliseconds($0, .sttFinal, .firstAudioSent) }.sorted()
        segmentMeans = Self.segments.map { segment in
            let values = timelines.compactMap { milliseconds($0, segment.from, segment.to) }
            return (segment.name, values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count))
        }
    }

    /// The value below which `fraction` of the samples lie (nearest rank).
    func percentile(_ fraction: Double) -> Double {
        Percentiles(overheads)(fraction)
    }

    var json: JSONValue {
        [
            "turns": .number(Double(overheads.count)),
            "stt_final_to_first_audio_ms": [
                "p50": .number(percentile(0.5)), "p95": .number(percentile(0.95)), "p99": .number(percentile(0.99)),
                "max": .number(overheads.last ?? .nan),
            ],
            "segments_mean_ms": .object(Dictionary(uniqueKeysWithValues: segmentMeans.map { ($0.name, JSONValue.number($0.milliseconds)) })),
        ]
    }

    var table: String {
        func format(_ value: Double) -> String { String(format: "%8.2f ms", value) }
        var lines = [
            "STT final → first agent audio byte sent, \(overheads.count) turns (fake providers on loopback, answering at once)",
            "  p50 \(format(percentile(0.5)))   p95 \(format(percentile(0.95)))   p99 \(format(percentile(0.99)))   max \(format(overheads.last ?? .nan))",
            "where the time goes (mean per turn):",
        ]
        let total = segmentMeans.reduce(0) { $0 + $1.milliseconds }
        for segment in segmentMeans {
            let share = total > 0 ? segment.milliseconds / total * 100 : 0
            lines.append("  \(format(segment.milliseconds))  \(String(format: "%5.1f", share)) %  \(segment.name)")
        }
        return lines.joined(separator: "\n")
    }
}
