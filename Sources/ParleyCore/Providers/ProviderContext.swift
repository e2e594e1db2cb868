/// What a provider client may know about the session it serves, without it being passed through
/// every call: set by ``VoiceSession`` for the session's whole task tree.
public enum ProviderContext {
    /// The session's id, for the provider's per-session usage attribution (Deepgram's `tag`).
    @TaskLocal public static var sessionID: String?
    /// The voice this session asked for (a session token's `voice`), which text-to-speech
    /// clients use in place of their configured one: an ElevenLabs voice id, an espeak-ng voice.
    @TaskLocal public static var voice: String?
    /// The session's observer (the server's metrics), told of fallbacks by provider chains.
    @TaskLocal public static var observer: (any SessionObserver)?
    /// Told by an LLM client as soon as the model starts calling the tool `name` — before the
    /// call's arguments are complete — so the session can say a filler instead of leaving the
    /// caller in silence while the call is written and run. Set only around a reply's requests.
    @TaskLocal public static var toolCallStarted: ToolCallAnnouncer?
}

/// What ``ProviderContext/toolCallStarted`` holds: a function told the name of a tool the model
/// started calling.
///
/// A struct rather than the bare optional closure: binding a task-local of optional
/// `@Sendable (String) async -> Void` type crashed optimised (release) builds with Swift 6.3.1 in
/// `swift_task_localValuePush` (a null type metadata), on the first reply; a nominal type does not.
public struct ToolCallAnnouncer: Sendable {
    private let announce: @Sendable (_ name: String) async -> Void

    /// Wraps `announce`.
    public init(_ announce: @escaping @Sendable (_ name: String) async -> Void) {
        self.announce = announce
    }

    /// Tells of the tool `name`.
    public func callAsFunction(_ name: String) async {
        await announce(name)
    }
}
