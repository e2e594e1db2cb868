import Foundation
import ParleyCore

/// The figures of one `parley-bench capacity` run, with the verdict against the targets.
struct CapacityMeasurement: Sendable {
    /// The overhead target at p99.
    static let overheadTarget = 50.0

    var sessions: Int
    var duration: Duration
    /// The server with no session.
    var baseline: ServerProcess.Usage
    /// With every caller connected and quiet.
    var idle: ServerProcess.Usage?
    /// At the end of the measured window.
    var active: ServerProcess.Usage?
    /// Once every session had ended.
    var after: ServerProcess.Usage?
    /// Sessions the server counted while they were idle.
    var connected = 0
    var serverCPUSeconds = 0.0
    var generatorCPUSeconds = 0.0
    /// Server CPU while every caller was connected and streaming quiet frames, and for how long.
    var idleCPUSeconds = 0.0
    var idleDuration: Duration = .zero
    /// The cores the server and the generator were pinned to, if they were.
    var cpus = CPUPinning()
    var samples = CapacityResults.Samples()

    init(sessions: Int, duration: Duration, baseline: ServerProcess.Usage) {
        self.sessions = sessions
        self.duration = duration
        self.baseline = baseline
    }

    var overhead: Percentiles { Percentiles(samples.overhead) }
    var errorCount: Int { samples.errors.values.reduce(0, +) + max(0, sessions - connected) }

    /// Server CPU seconds per session per minute of conversation.
    var cpuPerSessionMinute: Double { serverCPUSeconds / (Double(sessions) * duration.seconds / 60) }

    /// Server CPU seconds per session per minute while the callers only streamed quiet frames: the
    /// cost of receiving audio and listening, before any turn.
    var idleCPUPerSessionMinute: Double? {
        idleDuration > .zero ? idleCPUSeconds / (Double(sessions) * idleDuration.seconds / 60) : nil
    }

    /// Memory per idle session beyond the baseline, in bytes.
    var idleBytesPerSession: Double? {
        idle.map { Double($0.residentBytes - baseline.residentBytes) / Double(sessions) }
    }

    /// p99 overhead within the target, no error, no stale audio, and turns measured.
    var passed: Bool {
        !samples.overhead.isEmpty && overhead(0.99) <= Self.overheadTarget && errorCount == 0 && samples.staleFrames == 0
    }

    var json: JSONValue {
        func megabytes(_ usage: ServerProcess.Usage?) -> JSONValue {
            usage.map { .number((Double($0.residentBytes) / 1_048_576 * 10).rounded() / 10) } ?? .null
        }
        return [
            "sessions": .number(Double(sessions)),
            "connected": .number(Double(connected)),
            "measured_seconds": .number(duration.seconds),
            "turns": .number(Double(samples.turns)),
            "interrupted_turns": .number(Double(samples.interruptedTurns)),
            "overhead_ms": overhead.json,
            "parley_part_ms": Percentiles(samples.parleyPart).json,
            "llm_first_token_beyond_fake_delay_ms": Percentiles(samples.llmWaitExcess).json,
            "tts_first_audio_beyond_fake_delay_ms": Percentiles(samples.ttsWaitExcess).json,
            "voice_to_voice_ms": Percentiles(samples.voiceToVoice).json,
            "server_cpu_seconds": .number((serverCPUSeconds * 100).rounded() / 100),
            "server_cpu_seconds_per_session_minute": .number((cpuPerSessionMinute * 10000).rounded() / 10000),
            "idle_server_cpu_seconds_per_session_minute": idleCPUPerSessionMinute.map { .number(($0 * 10000).rounded() / 10000) } ?? .null,
            "generator_cpu_seconds": .number((generatorCPUSeconds * 100).rounded() / 100),
            "server_cpus": cpus.server.map { .string($0) } ?? .null,
            "generator_cpus": cpus.generator.map { .string($0) } ?? .null,
            "rss_mb": ["baseline": megabytes(baseline), "idle": megabytes(idle), "active": megabytes(active), "after": megabytes(after)],
            "idle_kb_per_session": idleBytesPerSession.map { .number(($0 / 1024).rounded()) } ?? .null,
            "errors": .object(samples.errors.mapValues { .number(Double($0)) }),
            "stale_audio_frames": .number(Double(samples.staleFrames)),
            "late_client_frames": .number(Double(samples.lateFrames)),
            "max_client_lateness_ms": .number(samples.maximumLateness.milliseconds.rounded()),
            "passed": .bool(passed),
        ]
    }

    var table: String {
        func megabytes(_ usage: ServerProcess.Usage?) -> String {
            usage.map { String(format: "%.1f MB", Double($0.residentBytes) / 1_048_576) } ?? "—"
        }
        let lines = [
            "\(sessions) sessions (\(connected) connected), \(String(format: "%.0f", duration.seconds)) s measured: "
                + "\(samples.turns) turns, \(samples.interruptedTurns) interrupted by barge-in",
            "  overhead, STT final → first audio sent − \(Int(CapacityRun.llmFirstToken.milliseconds + CapacityRun.ttsFirstByte.milliseconds)) ms of fake provider latency:",
            "      \(overhead.line)",
            "  Parley's part from the timeline (commit → LLM request + TTS first audio → first frame sent):",
            "      \(Percentiles(samples.parleyPart).line)",
            "  the rest: LLM first token beyond the fake's 150 ms (request, loopback, the fake's scheduling, reading the answer):",
            "      \(Percentiles(samples.llmWaitExcess).line)",
            "  and TTS first audio beyond the fake's 150 ms:",
            "      \(Percentiles(samples.ttsWaitExcess).line)",
            "  voice to voice at the client (last question frame sent → first reply audio received):",
            "      \(Percentiles(samples.voiceToVoice).line)",
            String(
                format: "  server CPU: %.1f s in %.0f s (%.0f %% of one core); %.3f s per session-minute",
                serverCPUSeconds, duration.seconds, serverCPUSeconds / duration.seconds * 100, cpuPerSessionMinute)
                + (idleCPUPerSessionMinute.map {
                    String(format: "; idle (quiet callers only, %.1f s): %.3f s per session-minute", idleDuration.seconds, $0)
                } ?? ""),
            "  server memory: baseline \(megabytes(baseline)), \(sessions) idle sessions \(megabytes(idle))"
                + (idleBytesPerSession.map { String(format: " (%.0f KB per session)", $0 / 1024) } ?? "")
                + ", talking \(megabytes(active)), after they ended \(megabytes(after))",
            "  errors: \(errorCount)"
                + (samples.errors.isEmpty
                    ? ""
                    : " — "
                        + samples.errors.sorted { $0.value > $1.value }.prefix(5)
                        .map { "\($0.value)× \($0.key)" }.joined(separator: "; "))
                + (connected < sessions ? "; \(sessions - connected) sessions not connected" : ""),
            "  stale audio frames (after agent.paused/agent.interrupted): \(samples.staleFrames)",
            String(
                format: "  load generator (this process, with the fakes): %.1f s CPU; %d frames sent over 20 ms late (max %.0f ms)",
                generatorCPUSeconds, samples.lateFrames, samples.maximumLateness.milliseconds),
            "  cores: the server \(cpus.server ?? "any"), the generator \(cpus.generator ?? "any")",
            "  \(passed ? "PASS" : "FAIL"): p99 overhead ≤ \(Int(Self.overheadTarget)) ms, no errors, no stale audio",
        ]
        return lines.joined(separator: "\n")
    }
}
