/// Hears what a session measures, for the server's metrics: each turn's end and each provider failure.
///
/// Sessions call it from their own tasks, several at once; implementations must be cheap,
/// thread-safe and never block. It gets timelines and provider names, never transcripts or audio.
public protocol SessionObserver: Sendable {
    /// A turn ended (spoken to the end, interrupted or failed); `summary.timeline` holds its stages.
    func turnEnded(_ summary: TurnSummary)

    /// A provider failed during a session; `stage` is `stt`, `llm` or `tts`.
    func providerFailed(_ error: ProviderError, stage: String)

    /// A provider chain moved a session's `stage` from the provider `from`, which failed, to `to`.
    func providerFellBack(stage: String, from: String, to: String)

    /// No provider of `stage` was left: the session apologised in the local voice instead.
    func apologised(stage: String)

    /// A tool call ended after `duration`: `ok` false when it failed, timed out or was cancelled.
    func toolCalled(_ name: String, ok: Bool, duration: Duration)
}

extension SessionObserver {
    public func toolCalled(_ name: String, ok: Bool, duration: Duration) {}
    public func providerFellBack(stage: String, from: String, to: String) {}
    public func apologised(stage: String) {}
}
