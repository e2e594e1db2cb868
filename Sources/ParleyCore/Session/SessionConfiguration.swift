/// How a voice session behaves.
public struct SessionConfiguration: Sendable {
    /// Caller audio rate in Hz.
    public var inputSampleRate: Int
    /// Agent audio rate in Hz.
    public var outputSampleRate: Int
    /// The system prompt for the LLM.
    public var systemPrompt: String
    /// Voice activity detection tuning.
    public var vad: EnergyVoiceActivityDetector.Configuration
    /// The speech model that judges the VAD's frames (Silero VAD), or nil for energy alone.
    public var speechClassifier: SpeechClassifierFactory?
    /// The learned end of turn (smart-turn), or nil to end a turn after ``vad``'s fixed
    /// ``EnergyVoiceActivityDetector/Configuration/silenceTimeout``. With one, the VAD judges at
    /// its ``EndOfTurnConfiguration/pause`` and ends speech by its
    /// ``EndOfTurnConfiguration/maximumSilence`` instead.
    public var endOfTurn: EndOfTurnConfiguration?
    /// The most conversation turns sent to the LLM.
    public var maximumTurns: Int
    /// How far ahead of real time agent audio is sent (the client's jitter buffer).
    public var outputLead: Duration
    /// Frames of agent audio due this soon after one being sent go out with it, in one wake of
    /// the pacer: fewer wake-ups and socket flushes per session, at up to this much more audio
    /// buffered at the client. Zero sends each frame on its own deadline.
    public var outputBatch: Duration = .milliseconds(100)
    /// When speech over a reply pauses, interrupts or resumes it.
    public var bargeIn: BargeInPolicy.Configuration
    /// Start the LLM on a final transcript before the turn is committed, keeping its answer
    /// unspoken until the turn ends with the same words (discarded if the user goes on).
    public var earlyLLM = false
    /// The most history kept for the LLM, in estimated tokens (characters / 4); older turns are
    /// folded into a summary written in the background.
    public var historyTokenBudget: Int
    /// The most words a reply may have; past 60 % of it the reply ends at the next sentence end
    /// (``ReplyLength``). Nil: no limit.
    public var maximumReplyWords: Int?
    /// Words the first piece of a reply sent to text-to-speech needs when it ends at a clause
    /// boundary (a comma, colon, semicolon or dash), so the voice starts before the first sentence
    /// is written; later pieces are whole sentences. Nil: the first piece is a whole sentence too.
    public var firstChunkWords: Int? = SentenceChunker.defaultFirstClauseWords
    /// Spoken as turn 0 when the session starts, if set.
    public var greeting: String?
    /// The text-to-speech voice for this session, in place of the provider's configured one
    /// (see ``ProviderContext/voice``); nil keeps the provider's.
    public var voice: String?
    /// Spoken in the local voice (``SessionProviders/apologyVoice``) when a turn's LLM or
    /// text-to-speech failed with no fallback left, instead of silence.
    public var apology = "Sorry, I'm having trouble answering right now. Could you say that again?"
    /// Spoken when speech-to-text failed with no fallback left.
    public var notHeard = "Sorry, I didn't catch that. Could you say it again?"
    /// Said when a tool has not answered after ``fillerAfter`` (once per round of calls).
    public var filler = "One moment."
    /// How long tools may run before ``filler`` is said; nil: never.
    public var fillerAfter: Duration? = .milliseconds(700)
    /// Whether `tool.call`/`tool.result` events and logs carry arguments and results
    /// (`--log-tool-payloads`); by default they carry names, ids, durations and outcomes only.
    public var logToolPayloads = false
    /// The most rounds of tool calls in one reply; the request after the last offers no tools,
    /// so the model must answer in words.
    public var maximumToolRounds = 5
    /// Told of each turn's end and each provider failure (the server's metrics), if set.
    public var observer: (any SessionObserver)?

    /// The default system prompt: short, direct spoken answers, warm replies to what the person says
    /// (with the local 1.5B model, every plain question it heard right was answered right; BENCHMARKS.md).
    public static let defaultSystemPrompt = """
        You are Parley, a friendly voice assistant in a spoken conversation. Answer questions directly and \
        correctly, and when the person tells you something, respond to them warmly. Keep every reply to one or \
        two short sentences, without lists, markdown or emoji. Remember what the person tells you.
        """

    /// Creates a configuration.
    public init(
        inputSampleRate: Int = 16000,
        outputSampleRate: Int = 16000,
        systemPrompt: String = SessionConfiguration.defaultSystemPrompt,
        vad: EnergyVoiceActivityDetector.Configuration? = nil,
        maximumTurns: Int = 20,
        outputLead: Duration = .milliseconds(100),
        bargeIn: BargeInPolicy.Configuration = BargeInPolicy.Configuration(),
        historyTokenBudget: Int = 1500,
        greeting: String? = nil
    ) {
        self.inputSampleRate = inputSampleRate
        self.outputSampleRate = outputSampleRate
        self.systemPrompt = systemPrompt
        self.vad = vad ?? EnergyVoiceActivityDetector.Configuration(sampleRate: inputSampleRate)
        self.maximumTurns = maximumTurns
        self.outputLead = outputLead
        self.bargeIn = bargeIn
        self.historyTokenBudget = historyTokenBudget
        self.greeting = greeting
    }
}

/// Where a session writes its events; the server's implementation writes WebSocket frames.
///
/// It is called from several tasks of one session; each call must deliver the event in call order.
public protocol SessionOutput: Sendable {
    /// Delivers one event to the client.
    func send(_ event: SessionEvent) async throws
}

/// The three providers a session talks to.
public struct SessionProviders: Sendable {
    /// Speech-to-text.
    public var speechToText: any SpeechToText
    /// The LLM.
    public var languageModel: any LanguageModel
    /// Text-to-speech.
    public var textToSpeech: any TextToSpeech
    /// The voice that apologises when a stage failed with no fallback left (the server's is the
    /// local espeak-ng, in process); nil: failures are reported as errors only.
    public var apologyVoice: (any TextToSpeech)?
    /// The tools the agent may call (`--agent`); nil: none are offered.
    public var tools: Toolbox?

    /// Groups three providers.
    public init(
        speechToText: any SpeechToText, languageModel: any LanguageModel, textToSpeech: any TextToSpeech,
        apologyVoice: (any TextToSpeech)? = nil, tools: Toolbox? = nil
    ) {
        self.speechToText = speechToText
        self.languageModel = languageModel
        self.textToSpeech = textToSpeech
        self.apologyVoice = apologyVoice
        self.tools = tools
    }

    /// Provider names by stage, as announced in `session.ready`.
    public var names: [String: String] {
        ["stt": speechToText.name, "llm": languageModel.name, "tts": textToSpeech.name]
    }
}
