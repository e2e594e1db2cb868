/// What the session tells a recogniser: the caller's audio and its own voice-activity decisions.
public enum SpeechInput: Sendable, Equatable {
    /// The next block of caller audio, mono PCM16 at the session's input rate.
    case audio([Int16])
    /// Parley's VAD heard speech begin.
    case speechStarted
    /// Parley's VAD decided the utterance is over; recognisers that need cut utterances
    /// transcribe now, streaming ones may finalise early.
    case speechEnded
    /// The VAD heard a short silence within speech (`--vad-pause`): the utterance may be over.
    /// A recogniser that transcribes whole utterances may start on the audio so far and use that
    /// transcript if ``speechEnded`` follows with no more voice in between.
    case paused
    /// Voice came back after ``paused``: a transcript started then is out of date.
    case resumed
}

/// What a recogniser reports.
public enum TranscriptEvent: Sendable, Equatable {
    /// Interim text of the utterance in progress; may still change.
    case partial(String)
    /// Final text of a stretch of speech. `endsTurn` is true when the recogniser considers the
    /// user's turn over (the session then replies to everything final so far).
    case final(String, endsTurn: Bool)
    /// What ``final(_:endsTurn:)`` will say if the turn ends now (a transcript made at a pause,
    /// ``SpeechInput/paused``): the session may start the LLM on it, speaking nothing until the
    /// turn ends with the same words.
    case tentative(String)
    /// The recogniser's own voice-activity detection heard speech begin (Deepgram
    /// `SpeechStarted`); an early hint, not yet words.
    case speechStarted
    /// The recogniser's own turn detector heard a turn begin (Deepgram Flux `StartOfTurn`): it
    /// counts as words for barge-in.
    case turnStarted
    /// The recogniser's own turn detector judges the turn probably over, with the whole turn's
    /// text (Deepgram Flux `EagerEndOfTurn`): the session starts the LLM on it now, speaking
    /// nothing until ``final(_:endsTurn:)`` ends the turn with the same words. Unlike
    /// ``tentative(_:)`` it does not depend on Parley's own VAD having heard a pause.
    case likelyEndOfTurn(String)
    /// The speaker went on after ``likelyEndOfTurn(_:)`` (Deepgram Flux `TurnResumed`): the early
    /// LLM request started on it is discarded.
    case turnResumed
    /// An utterance was heard but held no words (noise, a cough).
    case noSpeech
    /// One utterance could not be transcribed; the session reports it and goes on.
    case failed(ProviderError)
}

/// Streams caller audio to a recogniser and reports transcripts.
///
/// The implementation runs in the caller's task until `input` finishes or the task is cancelled,
/// calling `onEvent` from that same task. Cancellation must end every request it has in flight.
/// Errors that end recognition for good are thrown; a failure of one utterance is reported as
/// ``TranscriptEvent/failed(_:)``.
public protocol SpeechToText: Sendable {
    /// A short name for logs and `/health`, such as `local-whisper`.
    var name: String { get }

    /// Recognises `input` until it ends.
    func transcribe(
        _ input: AsyncStream<SpeechInput>,
        onEvent: (TranscriptEvent) async throws -> Void
    ) async throws

    /// The most caller audio the recogniser takes in one ``SpeechInput/audio(_:)`` block while
    /// Parley's VAD hears no speech, or nil for every frame as it comes (the default).
    ///
    /// A recogniser that sends quiet audio on in larger messages anyway (Deepgram) says so here:
    /// the session then holds quiet frames and hands them over in blocks of this length, saving
    /// the hand-offs between the session's task and the recogniser's per 20 ms frame. The start of
    /// speech, any other VAD event and the end of the input flush what is held first, so speech
    /// and the end of a turn are never held back.
    var quietInputDuration: Duration? { get }

    /// The most caller audio the recogniser takes in one ``SpeechInput/audio(_:)`` block while
    /// Parley's VAD hears speech, or nil for every frame as it comes (the default).
    ///
    /// A recogniser that sends speech on in messages longer than a frame anyway (Deepgram: 40 ms)
    /// says so here, and the session hands speech over in blocks of that length: the recogniser
    /// gets each message's audio at the moment it would have sent it, with one hand-off instead
    /// of one per frame. As with quiet audio, every VAD event flushes what is held first.
    var speechInputDuration: Duration? { get }
}

extension SpeechToText {
    public var quietInputDuration: Duration? { nil }
    public var speechInputDuration: Duration? { nil }
}
