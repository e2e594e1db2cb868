import ParleyCore
import ParleyProviders
import Prometheus
import Synchronization

/// One application's Prometheus metrics, served at `GET /metrics`: turn stage latencies,
/// sessions, turns, interruptions, provider errors and local-engine restarts.
///
/// Each application owns its registry (no process-global `MetricsSystem`), so several servers
/// in one process (the tests) keep apart. Sessions report through ``SessionObserver``; the
/// session slots through ``sessionOpened()``/``sessionClosed()``; engine restarts are read from
/// each ``EngineStatus`` when scraped.
final class ServerMetrics: Sendable {
    /// The registry all of this application's metrics live in.
    let registry = PrometheusCollectorRegistry()
    /// Stage histograms by timeline stage (all but `speech_end`, their origin).
    private let stages: [TurnTimeline.Stage: DurationHistogram]
    private let overhead: DurationHistogram
    /// Segment histograms (``TurnTimeline/Segment``): contiguous, summing to voice to voice.
    private let segments: [TurnTimeline.Segment: DurationHistogram]
    private let voiceToVoice: DurationHistogram
    /// The end-of-turn model's time per verdict that ended a turn's judging.
    private let endOfTurnWait: DurationHistogram
    private let sessionsActive: Gauge
    private let sessionsTotal: Counter
    private let turnsTotal: Counter
    private let interruptionsTotal: Counter
    private let engines: [(name: String, status: EngineStatus, restarts: Counter)]
    /// Restarts already added to each engine's counter, by engine name.
    private let restartsCounted = Mutex<[String: Int]>([:])

    /// Bucket bounds for turn latencies: 1 ms (orchestration overhead) to 5 s (a slow LLM).
    static let latencyBuckets: [Duration] = [
        1, 2, 5, 10, 25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000,
    ].map { .milliseconds($0) }

    static var providerErrors: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "parley_provider_errors", unitName: "total", helpText: "Provider failures during sessions, by provider and stage.")
    }

    /// Creates the metrics; `health`'s local engines get a restart counter each.
    init(health: HealthMonitor) {
        let registry = self.registry
        var stages: [TurnTimeline.Stage: DurationHistogram] = [:]
        let stageName = MetricNameDescriptor(
            metricName: "parley_turn_stage", unitName: "seconds",
            helpText: "When each stage of a turn happened, after the end of the user's speech.")
        for stage in TurnTimeline.Stage.allCases where stage != .speechEnd {
            stages[stage] = registry.makeDurationHistogram(
                descriptor: stageName, labels: [("stage", stage.rawValue)], buckets: Self.latencyBuckets)
        }
        self.stages = stages
        let segmentName = MetricNameDescriptor(
            metricName: "parley_turn_segment", unitName: "seconds",
            helpText:
                "Contiguous segments of a turn from the end of the user's speech to the reply's playback start; they sum to parley_voice_to_voice_seconds."
        )
        var segments: [TurnTimeline.Segment: DurationHistogram] = [:]
        for segment in TurnTimeline.Segment.allCases {
            segments[segment] = registry.makeDurationHistogram(
                descriptor: segmentName, labels: [("segment", segment.rawValue)], buckets: Self.latencyBuckets)
        }
        self.segments = segments
        voiceToVoice = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                metricName: "parley_voice_to_voice", unitName: "seconds",
                helpText:
                    "From the end of the user's speech to the client playing the reply (playback_start), for turns whose playback the client reported."
            ),
            buckets: Self.latencyBuckets)
        endOfTurnWait = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                metricName: "parley_end_of_turn_wait", unitName: "seconds",
                helpText: "How long the end-of-turn model (smart-turn) took for the last verdict on each user turn it judged."),
            buckets: Self.latencyBuckets)
        overhead = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                metricName: "parley_turn_overhead", unitName: "seconds",
                helpText: "From the final transcript to the first reply audio sent (first_audio_sent - stt_final)."),
            buckets: Self.latencyBuckets)
        sessionsActive = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "parley_sessions_active", unitName: "", helpText: "Voice sessions open now (browser and Twilio)."))
        sessionsTotal = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "parley_sessions", unitName: "total", helpText: "Voice sessions accepted (browser and Twilio)."))
        turnsTotal = registry.makeCounter(
            descriptor: MetricNameDescriptor(metricName: "parley_turns", unitName: "total", helpText: "Turns ended."))
        interruptionsTotal = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "parley_interruptions", unitName: "total", helpText: "Turns whose reply was interrupted."))
        let restartName = MetricNameDescriptor(
            metricName: "parley_engine_restarts", unitName: "total", helpText: "Restarts of a local engine.")
        // The configured providers' error counters show from the start, at 0.
        for stage in health.stages {
            _ = registry.makeCounter(descriptor: Self.providerErrors, labels: [("provider", stage.provider), ("stage", stage.stage)])
        }
        for stage in ["stt", "llm", "tts"] {
            _ = registry.makeCounter(descriptor: Self.apologies, labels: [("stage", stage)])
        }
        for limit in ["message_size", "message_rate", "idle", "duration", "address"] {
            _ = registry.makeCounter(descriptor: Self.limitClosures, labels: [("limit", limit)])
        }
        for reason in ["unauthorized", "twilio_signature", "origin"] {
            _ = registry.makeCounter(descriptor: Self.handshakeRefusals, labels: [("reason", reason)])
        }
        engines = health.stages.compactMap { stage in
            guard let status = stage.status else { return nil }
            return (stage.provider, status, registry.makeCounter(descriptor: restartName, labels: [("engine", stage.provider)]))
        }
    }

    /// A session took a slot.
    func sessionOpened() {
        sessionsActive.increment()
        sessionsTotal.increment()
    }

    /// A session gave its slot back.
    func sessionClosed() {
        sessionsActive.decrement()
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, engine restarts brought up to date.
    func exposition() -> [UInt8] {
        restartsCounted.withLock { counted in
            for engine in engines {
                let restarts = engine.status.snapshot.restarts
                let added = restarts - counted[engine.name, default: 0]
                if added > 0 { engine.restarts.increment(by: Int64(added)) }
                counted[engine.name] = max(restarts, counted[engine.name, default: 0])
            }
        }
        return registry.emitToBuffer()
    }

    /// Records one ended turn: a sample per stage that happened, the overhead, the counts.
    func record(_ summary: TurnSummary) {
        turnsTotal.increment()
        if summary.interrupted { interruptionsTotal.increment() }
        let timeline = summary.timeline
        for (stage, offset) in timeline.offsets {
            // Clamped: an early LLM request may have been sent just before the speech's end.
            stages[stage]?.record(max(offset, .zero))
        }
        for (segment, duration) in timeline.segments { segments[segment]?.record(duration) }
        if let total = timeline.voiceToVoice { voiceToVoice.record(total) }
        if let verdict = summary.endOfTurn {
            let outcome = verdict.probability == nil ? "unjudged" : verdict.complete ? "complete" : "unfinished"
            registry.makeCounter(descriptor: Self.endOfTurnVerdicts, labels: [("verdict", outcome)]).increment()
            if verdict.probability != nil { endOfTurnWait.record(verdict.wait) }
        }
        if let final = timeline[.sttFinal], let sent = timeline[.firstAudioSent] {
            overhead.record(max(sent - final, .zero))
        }
    }

    static var endOfTurnVerdicts: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "parley_end_of_turn_verdicts", unitName: "total",
            helpText:
                "User turns the end-of-turn model judged, by its last verdict: complete (ended at once), unfinished (ended on the longer silence), unjudged (it failed or was busy)."
        )
    }

    static var fallbacks: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "parley_provider_fallbacks", unitName: "total",
            helpText: "Turns a provider chain moved from a failed provider to the next, by stage, from and to.")
    }

    static var apologies: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "parley_apologies", unitName: "total",
            helpText: "Apologies spoken in the local voice because a stage had no provider left, by stage.")
    }

    static var limitClosures: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "parley_limit_closures", unitName: "total",
            helpText: "Connections closed or refused by a limit: message_size, message_rate, idle, duration, address.")
    }

    static var handshakeRefusals: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "parley_handshake_refusals", unitName: "total",
            helpText: "Refused requests by reason: unauthorized (no, forged or expired credential), twilio_signature, origin.")
    }

    /// Counts a connection closed (or refused) by `limit`.
    func recordLimitClosure(_ limit: String) {
        registry.makeCounter(descriptor: Self.limitClosures, labels: [("limit", limit)]).increment()
    }

    /// Counts a request refused for `reason`.
    func recordRefusal(_ reason: String) {
        registry.makeCounter(descriptor: Self.handshakeRefusals, labels: [("reason", reason)]).increment()
    }

    /// Counts one provider failure, labelled with the provider's name and stage.
    func recordFailure(provider: String, stage: String) {
        registry.makeCounter(descriptor: Self.providerErrors, labels: [("provider", provider), ("stage", stage)]).increment()
    }
}
