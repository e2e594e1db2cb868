/// Decides whether speech heard during a reply is a real interruption, from instants — pure and
/// synchronous, so tests drive it without a clock.
///
/// Speech starting during a reply *pauses* it at once (the audio stops within one frame). It
/// becomes an *interruption* (the reply is cancelled and flushed) when either the recogniser
/// reports words, or ``Configuration/minimumSpeech`` of voiced audio has been heard — counting,
/// while the agent's audio is playing, only frames loud enough to be the user rather than the
/// echo of the agent's own voice (``Configuration/echoMargin``). If the speech stops short of
/// that and no words follow within ``Configuration/resumeAfter``, the reply *resumes* where it
/// paused: a cough, a door or an "mm-hm" does not silence the agent.
public struct BargeInPolicy: Sendable {
    /// Tuning.
    public struct Configuration: Sendable, Equatable {
        /// Voiced audio that makes speech over a reply an interruption even without words.
        public var minimumSpeech: Duration
        /// While the agent's audio plays, a frame counts toward ``minimumSpeech`` only if its level
        /// is this many dB above the VAD's threshold (the echo the browser's canceller leaves is
        /// quieter than a person talking into the microphone).
        public var echoMargin: Float
        /// How long after a false start without words the reply resumes.
        public var resumeAfter: Duration

        /// Creates a configuration.
        public init(minimumSpeech: Duration = .milliseconds(200), echoMargin: Float = 6, resumeAfter: Duration = .milliseconds(1500)) {
            self.minimumSpeech = minimumSpeech
            self.echoMargin = echoMargin
            self.resumeAfter = resumeAfter
        }
    }

    /// What the session should do.
    public enum Action: Sendable, Equatable {
        case none
        /// Hold the reply's audio and tell the client to pause.
        case pause
        /// Cancel the reply: a real interruption.
        case interrupt
        /// Release the reply's audio: it was not an interruption.
        case resume
    }

    /// Speech heard over a reply, not yet judged.
    struct Candidate: Equatable {
        var voiced: Duration = .zero
        var speechEnded: SessionClock.Instant?
    }

    /// The tuning.
    public let configuration: Configuration
    private(set) var candidate: Candidate?

    /// Creates a policy with no speech pending.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Whether speech over the reply is being judged (the reply is paused).
    public var isJudging: Bool { candidate != nil }

    /// The VAD heard speech start while a reply is in flight; `voiced` is the voice the VAD
    /// needed to decide (it counts toward ``Configuration/minimumSpeech``).
    public mutating func speechStarted(voiced: Duration = .zero) -> Action {
        if candidate != nil {
            // Speech again before the resume deadline: still the same judgement, not over yet.
            candidate?.speechEnded = nil
            return .none
        }
        candidate = Candidate(voiced: voiced)
        return .pause
    }

    /// One frame of audio during the judgement; `counts` is whether it is voiced (and, while the
    /// agent plays, loud enough to be the user).
    public mutating func frame(counts: Bool, duration: Duration) -> Action {
        guard var current = candidate, counts else { return .none }
        current.voiced += duration
        candidate = current
        return current.voiced >= configuration.minimumSpeech ? interrupt() : .none
    }

    /// The recogniser reported words.
    public mutating func words() -> Action {
        candidate == nil ? .none : interrupt()
    }

    /// The VAD heard the speech end.
    public mutating func speechEnded(at instant: SessionClock.Instant) -> Action {
        candidate?.speechEnded = instant
        return .none
    }

    /// Time passed; resumes the reply once the speech has been over for ``Configuration/resumeAfter``.
    public mutating func tick(at instant: SessionClock.Instant) -> Action {
        guard let ended = candidate?.speechEnded, instant - ended >= configuration.resumeAfter else { return .none }
        candidate = nil
        return .resume
    }

    /// Forgets pending speech (the reply ended or was replaced).
    public mutating func reset() {
        candidate = nil
    }

    private mutating func interrupt() -> Action {
        candidate = nil
        return .interrupt
    }
}
