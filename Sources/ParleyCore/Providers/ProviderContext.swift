/// What a provider client may know about the session it serves, without it being passed through
/// every call: set by ``VoiceSession`` for the session's whole task tree.
public enum ProviderContext {
    /// The session's id, for the provider's per-session usage attribution (Deepgram's `tag`).
    @TaskLocal public static var sessionID: String?
}
