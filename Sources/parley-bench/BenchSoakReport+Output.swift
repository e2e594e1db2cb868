import Foundation
import ParleyCore
import ParleyTesting

extension BenchSoakReport {
    /// The report for people: the figures, then a one-line verdict.
    var table: String {
        func list<Key: Comparable>(_ counts: [Key: Int], _ name: (Key) -> String) -> String {
            counts.isEmpty ? "none" : counts.sorted { $0.key < $1.key }.map { "\(name($0.key)) \($0.value)" }.joined(separator: ", ")
        }
        func reasons(_ counts: [String: Int]) -> [String] {
            counts.sorted { $0.value > $1.value }.prefix(6).map { "      \($0.value)× \($0.key)" }
        }
        var lines = [
            String(
                format: "soak: %.2f min of new sessions (%.2f min until the last ended), %d at once, seed %llu, fault rate %.2f; ",
                minutes, churned.seconds / 60, sessions, seed, faultRate)
                + "--stt \(chains.stt) --llm \(chains.llm) --tts \(chains.tts)",
            "  sessions: \(counts.sessionCount) (\(list(counts.sessions, \.rawValue))); \(list(counts.ends, \.rawValue))",
        ]
        lines += reasons(counts.endReasons)
        lines.append(
            "  turns: \(counts.turns) — answered \(counts.answered), by an apology \(counts.apologies), cut short by a provider error "
                + "\(counts.cutShort), failed without a fallback answer \(counts.failed); abandoned by the script \(counts.abandoned)")
        lines += reasons(counts.failureReasons)
        lines.append("  end of question → first agent audio: \(Percentiles(counts.answerWaits).line)")
        lines.append("  replies interrupted by barge-in: \(counts.interruptions)")
        lines.append("  error events to clients: \(list(counts.errors) { $0 })")
        lines.append("  stale audio frames (after agent.paused/agent.interrupted): \(counts.staleFrames)")
        lines.append("  faults acted out by the fakes:")
        for (fake, kinds) in faults.sorted(by: { $0.key < $1.key }) {
            lines.append("      \(fake): \(list(kinds, \.rawValue))")
        }
        let increases = counterIncreases
        lines.append("  server counters over the run:" + (increases.isEmpty ? " none" : ""))
        for (series, rise) in increases.sorted(by: { $0.key < $1.key }) {
            lines.append("      \(series) +\(Self.number(rise))")
        }
        lines.append("  server process                before      after")
        func row(_ name: String, _ value: (Snapshot) -> String) {
            let left = before.map(value) ?? "—"
            let right = after.map(value) ?? "—"
            lines.append(
                "    " + name.padding(toLength: max(28, name.count + 2), withPad: " ", startingAt: 0)
                    + left.padding(toLength: 12, withPad: " ", startingAt: 0) + right)
        }
        row("open files (besides pool)") { "\($0.probe.openFilesBesidesPool)" }
        row("keep-alive pool") { "\($0.probe.pooledConnections)" }
        row("threads") { "\($0.probe.threads)" }
        row("child processes") { "\($0.probe.children.count)" }
        row("RSS") { Self.megabytes($0.probe.residentBytes) }
        row("sessions (/health)") { "\($0.sessions)" }
        for series in Set(Self.inFlight(before).keys).union(Self.inFlight(after).keys).sorted() {
            row(series) { Self.number($0.metrics[series] ?? 0) }
        }
        if let before, let after {
            let kinds = Set(before.probe.fileKinds.keys).union(after.probe.fileKinds.keys).sorted()
            let changed = kinds.filter { before.probe.fileKinds[$0, default: 0] != after.probe.fileKinds[$0, default: 0] }
            if !changed.isEmpty {
                lines.append(
                    "    open files that changed: "
                        + changed.map {
                            "\($0) \(before.probe.fileKinds[$0, default: 0]) → \(after.probe.fileKinds[$0, default: 0])"
                        }.joined(separator: ", "))
            }
        }
        lines.append(String(format: "    settled in %.1f s after the churn", settled.seconds))
        lines.append(
            "  crashes: \(crash == nil ? "0" : "1 (\(crash!))"); /health/live: \(watch.probes) probes, \(watch.serverErrors) 5xx, "
                + "\(watch.unanswered) unanswered in 2 s; shutdown: \(shutdown ?? "—")")
        lines.append("  server log: \(logPath) (\(list(logLevels) { $0 }))")
        let problems = problems
        lines.append(
            problems.isEmpty
                ? "PASS: no crash, every turn answered, files, threads and children back to baseline"
                : "FAIL: " + problems.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }

    /// The report as one JSON object.
    var json: JSONValue {
        func counts<Key>(_ counts: [Key: Int], _ name: (Key) -> String) -> JSONValue {
            .object(Dictionary(uniqueKeysWithValues: counts.map { (name($0.key), .number(Double($0.value))) }))
        }
        func snapshot(_ snapshot: Snapshot?) -> JSONValue {
            guard let snapshot else { return .null }
            return [
                "open_files": .number(Double(snapshot.probe.openFiles)),
                "open_files_besides_pool": .number(Double(snapshot.probe.openFilesBesidesPool)),
                "pooled_connections": .number(Double(snapshot.probe.pooledConnections)),
                "threads": .number(Double(snapshot.probe.threads)),
                "child_processes": .number(Double(snapshot.probe.children.count)),
                "rss_mb": .number((Double(snapshot.probe.residentBytes) / 1_048_576 * 10).rounded() / 10),
                "sessions": .number(Double(snapshot.sessions)),
                "in_flight_gauges": .object(Self.inFlight(snapshot).mapValues { .number($0) }),
            ]
        }
        return [
            "minutes": .number(minutes),
            "minutes_until_last_ended": .number((churned.seconds / 60 * 100).rounded() / 100),
            "sessions_at_once": .number(Double(sessions)),
            "seed": .number(Double(seed)),
            "fault_rate": .number(faultRate),
            "chains": ["stt": .string(chains.stt), "llm": .string(chains.llm), "tts": .string(chains.tts)],
            "sessions": counts(self.counts.sessions, \.rawValue),
            "session_ends": counts(self.counts.ends, \.rawValue),
            "session_end_reasons": counts(self.counts.endReasons) { $0 },
            "turns": [
                "total": .number(Double(self.counts.turns)), "answered": .number(Double(self.counts.answered)),
                "apology": .number(Double(self.counts.apologies)), "cut_short": .number(Double(self.counts.cutShort)),
                "failed_without_fallback": .number(Double(self.counts.failed)), "abandoned": .number(Double(self.counts.abandoned)),
            ],
            "turn_failure_reasons": counts(self.counts.failureReasons) { $0 },
            "answer_wait_ms": Percentiles(self.counts.answerWaits).json,
            "error_events": counts(self.counts.errors) { $0 },
            "stale_audio_frames": .number(Double(self.counts.staleFrames)),
            "interruptions": .number(Double(self.counts.interruptions)),
            "faults": .object(faults.mapValues { counts($0, \.rawValue) }),
            "server_counters": .object(counterIncreases.mapValues { .number($0) }),
            "before": snapshot(before),
            "after": snapshot(after),
            "settled_seconds": .number((settled.seconds * 10).rounded() / 10),
            "crashes": .number(crash == nil ? 0 : 1),
            "crash": crash.map { .string($0) } ?? .null,
            "health_live": [
                "probes": .number(Double(watch.probes)), "server_errors": .number(Double(watch.serverErrors)),
                "unanswered": .number(Double(watch.unanswered)),
            ],
            "shutdown": shutdown.map { .string($0) } ?? .null,
            "server_log": .string(logPath),
            "server_log_levels": counts(logLevels) { $0 },
            "problems": .array(problems.map { .string($0) }),
            "passed": .bool(passed),
        ]
    }
}
