import ParleyCore

extension ServerMetrics: SessionObserver {
    func turnEnded(_ summary: TurnSummary) {
        record(summary)
    }

    func providerFailed(_ error: ProviderError, stage: String) {
        recordFailure(provider: error.provider, stage: stage)
    }
}
