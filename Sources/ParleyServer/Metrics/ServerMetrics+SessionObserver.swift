import ParleyCore
import Prometheus

extension ServerMetrics: SessionObserver {
    func turnEnded(_ summary: TurnSummary) {
        record(summary)
    }

    func providerFailed(_ error: ProviderError, stage: String) {
        recordFailure(provider: error.provider, stage: stage)
    }

    func providerFellBack(stage: String, from: String, to: String) {
        registry.makeCounter(descriptor: Self.fallbacks, labels: [("stage", stage), ("from", from), ("to", to)]).increment()
    }

    func apologised(stage: String) {
        registry.makeCounter(descriptor: Self.apologies, labels: [("stage", stage)]).increment()
    }
}

extension ServerMetrics {
    func toolCalled(_ name: String, ok: Bool, duration: Duration) {
        // Tool names come from the agent file and its MCP servers: at most a few hundred label values.
        registry.makeCounter(descriptor: Self.toolCalls, labels: [("tool", name)]).increment()
        if !ok { registry.makeCounter(descriptor: Self.toolErrors, labels: [("tool", name)]).increment() }
        registry.makeDurationHistogram(descriptor: Self.toolDuration, labels: [("tool", name)], buckets: Self.toolBuckets)
            .record(duration)
    }

    /// Bucket bounds for tool calls: 5 ms (a built-in) to 30 s (a slow webhook at its limit).
    static let toolBuckets: [Duration] = [5, 10, 25, 50, 100, 250, 500, 750, 1000, 2000, 3000, 5000, 10000, 30000].map { .milliseconds($0) }

    static var toolCalls: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "parley_tool_calls", unitName: "total", helpText: "Tool calls made by agents, by tool.")
    }

    static var toolErrors: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "parley_tool_errors", unitName: "total",
            helpText: "Tool calls that failed, timed out or were cancelled, by tool.")
    }

    static var toolDuration: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "parley_tool_duration", unitName: "seconds", helpText: "How long tool calls took, by tool.")
    }
}
