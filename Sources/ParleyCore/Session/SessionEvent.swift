/// Everything a session tells its client, in order. Audio travels as ``agentAudio(turnID:samples:)``.
public enum SessionEvent: Sendable, Equatable {
    /// The session is ready; the client may send audio.
    case ready(SessionDescription)
    /// The VAD heard the user start speaking.
    case speechStarted
    /// The VAD decided the user stopped speaking.
    case speechStopped
    /// Interim transcript of the utterance in progress.
    case transcriptPartial(String)
    /// The user's final text, opening turn `turnID`.
    case transcriptFinal(turnID: Int, text: String)
    /// A piece of the agent's reply text.
    case agentText(turnID: Int, delta: String)
    /// The agent's audio for `turnID` begins, at `sampleRate` Hz.
    case agentAudioStart(turnID: Int, sampleRate: Int)
    /// One frame of the agent's audio.
    case agentAudio(turnID: Int, samples: [Int16])
    /// The agent's audio for `turnID` is complete; `samples` were sent in all.
    case agentAudioEnd(turnID: Int, samples: Int)
    /// The user may be talking over the agent: the client pauses playback, keeping its buffer;
    /// no audio of `turnID` follows until ``agentResumed(turnID:)`` or ``agentInterrupted(turnID:)``.
    case agentPaused(turnID: Int)
    /// It was not an interruption (a cough, "mm-hm"): playback continues where it paused.
    case agentResumed(turnID: Int)
    /// The reply was cancelled by barge-in, or replaced by a newer turn; the client must flush playback.
    case agentInterrupted(turnID: Int)
    /// The reply called a tool (`tool.call`).
    case toolCall(ToolCallEvent)
    /// A tool call ended (`tool.result`).
    case toolResult(ToolResultEvent)
    /// The turn is over.
    case turnEnd(TurnSummary)
    /// The session ends (the agent ended the call); the server closes the socket after it.
    case sessionEnd(reason: String)
    /// Answer to a client ping, echoing its id.
    case pong(JSONValue)
    /// Something went wrong.
    case error(SessionError)
}

/// What the server announces when a session opens.
public struct SessionDescription: Sendable, Equatable {
    /// The wire protocol version.
    public var protocolVersion: Int
    /// The session's id, as logged.
    public var sessionID: String
    /// Caller audio rate in Hz.
    public var inputSampleRate: Int
    /// Agent audio rate in Hz.
    public var outputSampleRate: Int
    /// Provider names by stage: `stt`, `llm`, `tts`.
    public var providers: [String: String]
    /// Largest binary frame accepted, in bytes.
    public var maxAudioFrameBytes: Int
    /// Largest text frame accepted, in bytes.
    public var maxTextFrameBytes: Int

    /// Creates a description.
    public init(
        protocolVersion: Int = WireProtocol.version,
        sessionID: String,
        inputSampleRate: Int,
        outputSampleRate: Int,
        providers: [String: String],
        maxAudioFrameBytes: Int = WireProtocol.maxAudioFrameBytes,
        maxTextFrameBytes: Int = WireProtocol.maxTextFrameBytes
    ) {
        self.protocolVersion = protocolVersion
        self.sessionID = sessionID
        self.inputSampleRate = inputSampleRate
        self.outputSampleRate = outputSampleRate
        self.providers = providers
        self.maxAudioFrameBytes = maxAudioFrameBytes
        self.maxTextFrameBytes = maxTextFrameBytes
    }
}

/// How a turn ended.
public struct TurnSummary: Sendable, Equatable {
    /// The turn.
    public var turnID: Int
    /// The reply text generated (all of it, or up to the interruption).
    public var text: String
    /// Whether barge-in cut the reply short.
    public var interrupted: Bool
    /// When each stage happened.
    public var timeline: TurnTimeline
    /// What the end-of-turn model said before the user's turn ended, when one judged it.
    public var endOfTurn: EndOfTurnVerdict?

    /// Creates a summary.
    public init(turnID: Int, text: String, interrupted: Bool, timeline: TurnTimeline, endOfTurn: EndOfTurnVerdict? = nil) {
        self.turnID = turnID
        self.text = text
        self.interrupted = interrupted
        self.timeline = timeline
        self.endOfTurn = endOfTurn
    }
}

/// An error reported to the client: a stable code, a message for people, and whether the session ends.
public struct SessionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable machine-readable error code (see `docs/protocol.md`).
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let badAudioFrame = Code(rawValue: "bad_audio_frame")
        public static let frameTooLarge = Code(rawValue: "frame_too_large")
        public static let invalidJSON = Code(rawValue: "invalid_json")
        public static let unknownEvent = Code(rawValue: "unknown_event")
        public static let invalidEvent = Code(rawValue: "invalid_event")
        public static let sttFailed = Code(rawValue: "stt_failed")
        public static let llmFailed = Code(rawValue: "llm_failed")
        public static let ttsFailed = Code(rawValue: "tts_failed")
        public static let inputOverflow = Code(rawValue: "input_overflow")
        public static let notReady = Code(rawValue: "not_ready")
        public static let serverBusy = Code(rawValue: "server_busy")
        public static let goingAway = Code(rawValue: "going_away")
        public static let `internal` = Code(rawValue: "internal")
        public static let messageTooLarge = Code(rawValue: "message_too_large")
        public static let rateLimited = Code(rawValue: "rate_limited")
        public static let idleTimeout = Code(rawValue: "idle_timeout")
        public static let sessionTooLong = Code(rawValue: "session_too_long")
        public static let providerFailed = Code(rawValue: "provider_failed")
    }

    /// The code.
    public var code: Code
    /// What happened, for a person.
    public var message: String
    /// Whether the server closes the session after this error.
    public var fatal: Bool

    /// Creates an error.
    public init(_ code: Code, _ message: String, fatal: Bool = false) {
        self.code = code
        self.message = message
        self.fatal = fatal
    }

    public var description: String { "\(code): \(message)" }
}

/// Everything a client tells a session.
public enum ClientMessage: Sendable, Equatable {
    /// Caller audio, mono PCM16 at the input rate.
    case audio([Int16])
    /// How many samples of `turnID` have been played to the listener.
    case playbackProgress(turnID: Int, playedSamples: Int)
    /// The client flushed its playback after an interruption.
    case playbackCleared(turnID: Int, playedSamples: Int)
    /// A ping to answer with `pong`.
    case ping(JSONValue)
}

/// A tool call the reply made, as `tool.call` reports it.
public struct ToolCallEvent: Sendable, Equatable {
    /// The turn whose reply made the call.
    public var turnID: Int
    /// The model's call id.
    public var callID: String
    /// The tool's name.
    public var name: String
    /// The arguments as the model wrote them; only with `--log-tool-payloads`.
    public var arguments: String?

    /// Creates an event.
    public init(turnID: Int, callID: String, name: String, arguments: String? = nil) {
        self.turnID = turnID
        self.callID = callID
        self.name = name
        self.arguments = arguments
    }
}

/// The end of a tool call, as `tool.result` reports it.
public struct ToolResultEvent: Sendable, Equatable {
    /// The turn whose reply made the call.
    public var turnID: Int
    /// The model's call id.
    public var callID: String
    /// The tool's name.
    public var name: String
    /// Whether the tool answered without error (false: failed, timed out or cancelled).
    public var ok: Bool
    /// How long the call took.
    public var duration: Duration
    /// What the tool returned; only with `--log-tool-payloads`.
    public var result: String?

    /// Creates an event.
    public init(turnID: Int, callID: String, name: String, ok: Bool, duration: Duration, result: String? = nil) {
        self.turnID = turnID
        self.callID = callID
        self.name = name
        self.ok = ok
        self.duration = duration
        self.result = result
    }
}
