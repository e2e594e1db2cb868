/// Hears what a session measures, for the server's metrics: each turn's end and each provider failure.
///
/// Sessions call it from their own tasks, several at once; implementations must be cheap,
/// thread-safe and never block. It gets timelines and provider names, never transcripts or audio.
public protocol SessionObserver: Sendable {
    /// A turn ended (spoken to the end, interrupted or failed); `summary.timeline` holds its stages.
    func turnEnded(_ summary: TurnSummary)

    /// A provider failed during a session; `stage` is `stt`, `llm` or `tts`.
    func providerFailed(_ error: ProviderError, stage: String)
}
