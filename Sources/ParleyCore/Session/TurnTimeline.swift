import Synchronization

/// When each stage of one turn happened, relative to the end of the user's speech.
///
/// All times are offsets from ``Stage/speechEnd`` (the moment the last voiced frame arrived), so
/// they can be compared across turns and sessions. A stage that did not happen is absent.
public struct TurnTimeline: Sendable, Equatable {
    /// A moment in a turn.
    public enum Stage: String, Sendable, CaseIterable {
        case speechEnd = "speech_end"
        case vadEnd = "vad_end"
        case sttFinal = "stt_final"
        case llmRequest = "llm_request"
        case llmFirstToken = "llm_first_token"
        /// The first tool call of the reply started.
        case toolStart = "tool_start"
        /// The last tool call of the reply ended.
        case toolEnd = "tool_end"
        case firstSentence = "first_sentence"
        case ttsFirstAudio = "tts_first_audio"
        case firstAudioSent = "first_audio_sent"
        case lastAudioSent = "last_audio_sent"
        /// When the client's speaker started playing the reply, as the client reported it: the
        /// arrival of its first `playback.progress` minus the audio it says it had played.
        case playbackStart = "playback_start"
        case interrupted
    }

    /// Offsets from the end of speech, by stage.
    public var offsets: [Stage: Duration]

    /// Creates a timeline from offsets.
    public init(offsets: [Stage: Duration] = [:]) {
        self.offsets = offsets
    }

    /// The offset of `stage`, if it happened.
    public subscript(stage: Stage) -> Duration? {
        get { offsets[stage] }
        set { offsets[stage] = newValue }
    }

    /// A stretch of the time from the end of the user's speech to the reply's first sound: the
    /// segments of a turn are contiguous and, when playback started, sum exactly to
    /// ``voiceToVoice``.
    public enum Segment: String, Sendable, CaseIterable {
        /// Waiting to decide the turn is over: the VAD's silence timeout or the recogniser's
        /// endpointing (to `vad_end`).
        case endpointing
        /// The final transcript after that (to `stt_final`).
        case stt
        /// The agent's tools, when it called any (to `tool_end`).
        case tools
        /// The LLM's first token (to `llm_first_token`).
        case llm
        /// The LLM writing the first piece for text-to-speech (to `first_sentence`).
        case firstChunk = "first_chunk"
        /// Text-to-speech's first audio (to `tts_first_audio`).
        case tts
        /// Pacing and writing the first audio frame (to `first_audio_sent`).
        case send
        /// The network and the client's buffer until its speaker played it (to `playback_start`).
        case playback

        /// The stage this segment ends at.
        public var end: Stage {
            switch self {
            case .endpointing: .vadEnd
            case .stt: .sttFinal
            case .tools: .toolEnd
            case .llm: .llmFirstToken
            case .firstChunk: .firstSentence
            case .tts: .ttsFirstAudio
            case .send: .firstAudioSent
            case .playback: .playbackStart
            }
        }
    }

    /// The segments of this turn in pipeline order: each runs from where the previous one ended
    /// (the end of speech for the first) to its stage, and is zero where its stage came earlier
    /// (an LLM request started before the final transcript, on a tentative one). Stages that did
    /// not happen have no segment, so the segments always add up to the last one's end.
    public var segments: [(segment: Segment, duration: Duration)] {
        var reached = Duration.zero
        var segments: [(segment: Segment, duration: Duration)] = []
        for segment in Segment.allCases {
            guard let offset = offsets[segment.end] else { continue }
            let end = max(offset, reached)
            segments.append((segment, end - reached))
            reached = end
        }
        return segments
    }

    /// End of speech → the client's speaker playing the reply: the sum of ``segments``, when
    /// playback started (nil before the client reported it, or for a reply never heard).
    public var voiceToVoice: Duration? {
        guard offsets[.playbackStart] != nil else { return nil }
        return segments.reduce(.zero) { $0 + $1.duration }
    }

    /// The timeline with every offset rounded to 0.1 ms, as `turn.end` carries it: its segments'
    /// sums stay exact in the rounded figures.
    public var roundedToTenthMillisecond: TurnTimeline {
        TurnTimeline(offsets: offsets.mapValues { .nanoseconds(Int64(($0.milliseconds * 10).rounded()) * 100_000) })
    }

    /// Builds a timeline from absolute instants, measured from `origin`.
    public init<Instant: InstantProtocol>(origin: Instant, instants: [Stage: Instant]) where Instant.Duration == Duration {
        var offsets: [Stage: Duration] = [:]
        for (stage, instant) in instants { offsets[stage] = origin.duration(to: instant) }
        offsets[.speechEnd] = .zero
        self.init(offsets: offsets)
    }
}

/// Records the instants of a turn's stages as they happen; safe to use from concurrent tasks.
public final class TurnRecorder: Sendable {
    private struct State {
        var instants: [TurnTimeline.Stage: SessionClock.Instant] = [:]
        var text = ""
        var audioSamples: Int?
    }
    private let state = Mutex(State())
    /// When the user's speech ended, the timeline's origin.
    public let origin: SessionClock.Instant
    /// The session's clock, which "now" is read from.
    public let clock: SessionClock
    /// What the end-of-turn model said about the user's turn, if one judged it.
    public let endOfTurn: EndOfTurnVerdict?

    /// Creates a recorder whose origin is the end of the user's speech (now, by default).
    public init(
        clock: SessionClock, origin: SessionClock.Instant? = nil, instants: [TurnTimeline.Stage: SessionClock.Instant] = [:],
        endOfTurn: EndOfTurnVerdict? = nil
    ) {
        self.clock = clock
        self.endOfTurn = endOfTurn
        self.origin = origin ?? clock.now
        state.withLock { $0.instants = instants }
    }

    /// Records `stage` at `instant` (now, by default), unless it was already recorded.
    public func mark(_ stage: TurnTimeline.Stage, at instant: SessionClock.Instant? = nil) {
        let instant = instant ?? clock.now
        state.withLock { state in
            if state.instants[stage] == nil { state.instants[stage] = instant }
        }
    }

    /// Records `stage` at `instant` (now, by default), replacing an earlier record.
    public func update(_ stage: TurnTimeline.Stage, at instant: SessionClock.Instant? = nil) {
        let instant = instant ?? clock.now
        state.withLock { $0.instants[stage] = instant }
    }

    /// Appends reply text.
    public func appendText(_ text: String) {
        state.withLock { $0.text += text }
    }

    /// Counts reply audio sent; returns true for the first audio of the turn.
    @discardableResult
    public func addAudio(samples: Int) -> Bool {
        state.withLock { state in
            defer { state.audioSamples = (state.audioSamples ?? 0) + samples }
            return state.audioSamples == nil
        }
    }

    /// Reply audio samples sent so far; nil before any audio was sent.
    public var audioSamples: Int? { state.withLock { $0.audioSamples } }

    /// The reply text so far.
    public var text: String { state.withLock { $0.text } }

    /// The timeline so far.
    public var timeline: TurnTimeline {
        let instants = state.withLock { $0.instants }
        return TurnTimeline(origin: origin, instants: instants)
    }
}
