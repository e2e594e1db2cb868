public import ParleyCore
public import ParleyProviders

/// What `/health` reports: each stage's provider and whether it can serve now.
public struct HealthMonitor: Sendable {
    /// One pipeline stage.
    public struct Stage: Sendable {
        /// `stt`, `llm` or `tts`.
        public var stage: String
        /// The provider's name.
        public var provider: String
        /// The engine state, for local engines; nil for in-process or external providers,
        /// which are always ready.
        public var status: EngineStatus?
        /// Where a remote provider lives (base URL, never credentials).
        public var address: String?
        /// Whether a remote provider's last connection succeeded.
        public var connection: ConnectionHealth?
        /// The stage's fallbacks, when it is a chain of providers.
        public var fallback: FallbackHealth?

        /// Creates a stage entry.
        public init(
            stage: String, provider: String, status: EngineStatus? = nil, address: String? = nil, connection: ConnectionHealth? = nil
        ) {
            self.stage = stage
            self.provider = provider
            self.status = status
            self.address = address
            self.connection = connection
        }

        var snapshot: EngineStatus.Snapshot {
            status?.snapshot ?? EngineStatus.Snapshot(ready: true)
        }
    }

    /// The stages.
    public var stages: [Stage]

    /// Creates a monitor.
    public init(stages: [Stage]) {
        self.stages = stages
    }

    /// A monitor for providers that are always ready (in-process or tests).
    public init(providers: SessionProviders) {
        self.stages = providers.names.sorted(by: { $0.key < $1.key }).map { Stage(stage: $0.key, provider: $0.value) }
    }

    /// Whether every stage can serve.
    public var isReady: Bool {
        stages.allSatisfy { $0.snapshot.ready }
    }

    /// The `/health` body.
    func report(lifecycle: ServerLifecycle) -> JSONValue {
        var stageReports: [String: JSONValue] = [:]
        var failed = false
        for stage in stages {
            let snapshot = stage.snapshot
            failed = failed || snapshot.failed
            var report: [String: JSONValue] = [
                "provider": .string(stage.provider),
                "ready": .bool(snapshot.ready),
                "restarts": .number(Double(snapshot.restarts)),
                "error": snapshot.lastError.map { .string($0) } ?? .null,
            ]
            if let address = stage.address { report["url"] = .string(address) }
            if let connection = stage.connection?.snapshot {
                // null until the first session has connected.
                report["last_connection_ok"] = connection.lastSucceeded.map { .bool($0) } ?? .null
                report["last_connection_error"] = connection.lastError.map { .string($0) } ?? .null
                report["connections"] = .number(Double(connection.attempts))
                report["failed_connections"] = .number(Double(connection.failures))
            }
            if let fallback = stage.fallback {
                // A chain: `degraded` for a minute after a provider failed and the next took over.
                report["degraded"] = .bool(fallback.isDegraded)
                report["fallbacks"] = .number(Double(fallback.fallbacks))
                if let latest = fallback.snapshot {
                    report["last_fallback"] = [
                        "from": .string(latest.from), "to": .string(latest.to), "error": .string(latest.error),
                        "seconds_ago": .number((ContinuousClock.now - latest.at).seconds.rounded()),
                    ]
                }
            }
            stageReports[stage.stage] = .object(report)
        }
        let status = isReady ? "ok" : failed ? "failed" : "starting"
        return [
            "status": .string(status),
            "version": .string(ParleyVersion.current),
            "protocol": .number(Double(WireProtocol.version)),
            "stages": .object(stageReports),
            "sessions": .number(Double(lifecycle.activeSessions)),
            "max_sessions": .number(Double(lifecycle.maximumSessions)),
            "draining": .bool(lifecycle.isDraining),
        ]
    }

    /// The `/health/ready` body: `ready`, or `not_ready` with the `reason` (`draining`, `full`,
    /// `starting`, `failed`) and a message; `sessions` and `max_sessions` either way, for a load
    /// balancer or an autoscaler.
    func readiness(lifecycle: ServerLifecycle, refusal: SessionError?) -> JSONValue {
        var report: [String: JSONValue] = [
            "status": refusal == nil ? "ready" : "not_ready",
            "sessions": .number(Double(lifecycle.activeSessions)),
            "max_sessions": .number(Double(lifecycle.maximumSessions)),
        ]
        if let refusal {
            let reason: String
            switch refusal.code {
            case .goingAway: reason = "draining"
            case .serverBusy: reason = "full"
            default: reason = stages.contains { $0.snapshot.failed } ? "failed" : "starting"
            }
            report["reason"] = .string(reason)
            report["message"] = .string(refusal.message)
            let waiting = stages.filter { !$0.snapshot.ready }.map { JSONValue.string($0.stage) }
            if !waiting.isEmpty { report["stages_not_ready"] = .array(waiting) }
        }
        return .object(report)
    }
}
