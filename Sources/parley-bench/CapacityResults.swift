import ParleyCore
import Synchronization

/// What the simulated callers of one `parley-bench capacity` run observed, gathered from all of
/// them; safe to use from concurrent tasks.
final class CapacityResults: Sendable {
    /// The latency the fake providers add between the final transcript and the first audio: the
    /// LLM's first token plus the TTS's first byte.
    let providerLatency: Duration

    struct Samples {
        var overhead: [Double] = []
        var parleyPart: [Double] = []
        /// The fake LLM's first token beyond its configured delay, as the server saw it.
        var llmWaitExcess: [Double] = []
        /// The fake TTS's first audio beyond its configured delay, as the server saw it.
        var ttsWaitExcess: [Double] = []
        var voiceToVoice: [Double] = []
        var turns = 0
        var interruptedTurns = 0
        var errors: [String: Int] = [:]
        var staleFrames = 0
        var lateFrames = 0
        var maximumLateness: Duration = .zero
    }

    private let samples = Mutex(Samples())

    /// The configured LLM first-token and TTS first-byte delays of the fakes.
    let llmFirstToken: Duration
    let ttsFirstByte: Duration

    init(llmFirstToken: Duration, ttsFirstByte: Duration) {
        self.llmFirstToken = llmFirstToken
        self.ttsFirstByte = ttsFirstByte
        providerLatency = llmFirstToken + ttsFirstByte
    }

    /// Records an ended turn's timeline.
    func turn(_ summary: TurnSummary) {
        let timeline = summary.timeline
        samples.withLock { samples in
            samples.turns += 1
            if summary.interrupted { samples.interruptedTurns += 1 }
            guard let final = timeline[.sttFinal], let sent = timeline[.firstAudioSent] else { return }
            samples.overhead.append((sent - final - providerLatency).milliseconds)
            if let request = timeline[.llmRequest], let ttsFirstAudio = timeline[.ttsFirstAudio] {
                samples.parleyPart.append((request - final + sent - ttsFirstAudio).milliseconds)
            }
            if let request = timeline[.llmRequest], let token = timeline[.llmFirstToken] {
                samples.llmWaitExcess.append((token - request - llmFirstToken).milliseconds)
            }
            if let sentence = timeline[.firstSentence], let audio = timeline[.ttsFirstAudio] {
                samples.ttsWaitExcess.append((audio - sentence - ttsFirstByte).milliseconds)
            }
        }
    }

    /// Records the time from the end of a question to its reply's first audio at the client.
    func voiceToVoice(_ duration: Duration) {
        samples.withLock { $0.voiceToVoice.append(duration.milliseconds) }
    }

    /// Counts an audio frame that arrived while its turn was paused or interrupted.
    func staleFrame() {
        samples.withLock { $0.staleFrames += 1 }
    }

    /// Counts an error of the given kind.
    func error(_ kind: String) {
        samples.withLock { $0.errors[kind, default: 0] += 1 }
    }

    /// Notes how late a client sent a frame (the load generator falling behind real time).
    func lateness(_ late: Duration) {
        guard late > .milliseconds(20) else { return }
        samples.withLock { samples in
            samples.lateFrames += 1
            samples.maximumLateness = max(samples.maximumLateness, late)
        }
    }

    /// Everything recorded so far.
    var snapshot: Samples { samples.withLock { $0 } }
}

/// Nearest-rank percentiles of a sample.
struct Percentiles: Sendable {
    let sorted: [Double]

    init(_ values: [Double]) {
        sorted = values.sorted()
    }

    /// The value below which `fraction` of the samples lie; NaN without samples.
    func callAsFunction(_ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    var json: JSONValue {
        [
            "count": .number(Double(sorted.count)), "p50": number(self(0.5)), "p95": number(self(0.95)), "p99": number(self(0.99)),
            "max": number(sorted.last ?? .nan),
        ]
    }

    private func number(_ value: Double) -> JSONValue { value.isNaN ? .null : .number((value * 100).rounded() / 100) }

    /// `p50 … p95 … p99 … max …` in milliseconds.
    var line: String {
        func format(_ value: Double) -> String { value.isNaN ? "—" : String(format: "%.1f", value) }
        return "p50 \(format(self(0.5)))  p95 \(format(self(0.95)))  p99 \(format(self(0.99)))  max \(format(sorted.last ?? .nan)) ms"
    }
}
