import Foundation
import ParleyCore
import ParleyTesting

/// The findings of one `parley-bench soak` run and its verdict.
struct BenchSoakReport: Sendable {
    /// The server at one moment: before the churn (after the warm-up) or after it settled.
    struct Snapshot: Sendable {
        var probe: ServerProcess.Probe
        /// `sessions` from `/health/ready`.
        var sessions: Int
        /// `/metrics` samples by series.
        var metrics: [String: Double]
        /// Metric names declared as gauges.
        var gauges: Set<String>
    }

    /// Open files may stay this many above the baseline (a log file reopened, a socket still in
    /// its last close); keep-alive connections to the HTTP providers are counted apart.
    static let fileTolerance = 4
    /// Threads may stay this many above the baseline: Dispatch's worker threads for timers and
    /// blocking work, which the runtime parks and reaps on its own schedule.
    static let threadTolerance = 8
    /// Words in a gauge's name that mark it as counting things open now (sessions, streams).
    static let inFlightWords = ["active", "open", "in_flight", "inflight", "pending", "streams", "sessions", "connections"]
    /// Counters reported as their increase over the churn.
    static let countedMetrics = ["parley_provider_fallbacks_total", "parley_apologies_total", "parley_provider_errors_total"]

    var minutes: Double
    var sessions: Int
    var seed: UInt64
    var faultRate: Double
    var chains: BenchSoakRun.Chains
    var logPath: String
    var before: Snapshot?
    var after: Snapshot?
    var counts = BenchSoakTally.Counts()
    var watch = BenchSoakWatch.Findings()
    /// How the server ended when the run stopped it (SIGTERM).
    var shutdown: String?
    /// Random faults acted out, by fake and kind.
    var faults: [String: [FakeRandomFaults.Kind: Int]] = [:]
    var churned: Duration = .zero
    var settled: Duration = .zero
    /// Lines of the server's log by level (`warning` for provider failures, `error` for server faults).
    var logLevels: [String: Int] = [:]

    /// Whether `probe` is back within the tolerances of `baseline`.
    static func released(_ probe: ServerProcess.Probe, from baseline: ServerProcess.Probe) -> Bool {
        probe.openFilesBesidesPool <= baseline.openFilesBesidesPool + fileTolerance
            && probe.threads <= baseline.threads + threadTolerance && probe.children.count <= baseline.children.count
    }

    /// The crash, if any: the server ended during the run, or did not exit 0 when stopped.
    var crash: String? {
        if let crash = watch.crash { return "during the run: \(crash)" }
        guard let shutdown, shutdown != "exit status 0" else { return nil }
        return "at shutdown (SIGTERM): \(shutdown)"
    }

    /// The series of in-flight gauges in `snapshot`.
    static func inFlight(_ snapshot: Snapshot?) -> [String: Double] {
        guard let snapshot else { return [:] }
        let names = snapshot.gauges.filter { name in name.hasPrefix("parley_") && inFlightWords.contains { name.contains($0) } }
        return snapshot.metrics.filter { series, _ in
            names.contains { series == $0 || series.hasPrefix($0 + "{") }
        }
    }

    /// How much each reported counter series rose between the snapshots.
    var counterIncreases: [String: Double] {
        guard let after else { return [:] }
        var increases: [String: Double] = [:]
        for (series, value) in after.metrics where Self.countedMetrics.contains(where: { series.hasPrefix($0) }) {
            let rise = value - (before?.metrics[series] ?? 0)
            if rise != 0 { increases[series] = rise }
        }
        return increases
    }

    /// Every check that failed, in words; empty when the run passed.
    var problems: [String] {
        var problems: [String] = []
        if let crash { problems.append("the server crashed \(crash)") }
        if watch.serverErrors > 0 { problems.append("/health/live answered 5xx \(watch.serverErrors) times") }
        if counts.turns == 0 { problems.append("no turn was answered or failed: nothing was measured") }
        if counts.failed > 0 { problems.append("\(counts.failed) turns failed without a fallback answer") }
        if counts.failedSessions > 0 { problems.append("\(counts.failedSessions) sessions were refused, ended by the server or hung") }
        if counts.staleFrames > 0 { problems.append("\(counts.staleFrames) audio frames after agent.paused/agent.interrupted") }
        guard let before, let after else {
            if crash == nil { problems.append("the server was not measured after the churn") }
            return problems
        }
        if after.probe.openFilesBesidesPool > before.probe.openFilesBesidesPool + Self.fileTolerance {
            problems.append("open files did not return to baseline (\(before.probe.openFilesBesidesPool) → \(after.probe.openFilesBesidesPool))")
        }
        if after.probe.threads > before.probe.threads + Self.threadTolerance {
            problems.append("threads did not return to baseline (\(before.probe.threads) → \(after.probe.threads))")
        }
        if after.probe.children.count > before.probe.children.count {
            problems.append("child processes did not return to baseline (\(before.probe.children) → \(after.probe.children))")
        }
        if after.sessions != 0 { problems.append("/health still reports \(after.sessions) sessions") }
        let gaugesBefore = Self.inFlight(before)
        for (series, value) in Self.inFlight(after).sorted(by: { $0.key < $1.key }) where value != gaugesBefore[series] ?? 0 {
            problems.append("\(series) is \(Self.number(value)) after, \(Self.number(gaugesBefore[series] ?? 0)) before")
        }
        return problems
    }

    var passed: Bool { problems.isEmpty }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.3f", value)
    }

    static func megabytes(_ bytes: Int?) -> String {
        bytes.map { String(format: "%.1f MB", Double($0) / 1_048_576) } ?? "—"
    }
}
