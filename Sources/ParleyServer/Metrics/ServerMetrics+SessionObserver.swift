import ParleyCore

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
