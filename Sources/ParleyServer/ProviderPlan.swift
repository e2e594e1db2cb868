import Foundation

/// Which provider serves each stage, decided from the command line and the environment.
///
/// A stage left on automatic uses its cloud provider when that provider's key is set
/// (`DEEPGRAM_API_KEY`, `GROQ_API_KEY`, `ELEVENLABS_API_KEY`) and the embedded engine otherwise;
/// a cloud provider chosen explicitly without its key is a configuration error naming the variable.
public struct ProviderPlan: Sendable, Equatable {
    /// Speech-to-text choices: `deepgram-flux` is Deepgram's Flux model (`/v2/listen`), which
    /// ends turns itself; `smallest` is smallest.ai's Pulse. Neither is chosen automatically.
    public enum SpeechToText: String, Sendable, CaseIterable {
        case local, deepgram
        case deepgramFlux = "deepgram-flux"
        case groqWhisper = "groq-whisper"
        case smallest
    }

    /// LLM choices: `smallest` is smallest.ai's Electron, never chosen automatically.
    public enum LanguageModel: String, Sendable, CaseIterable {
        case local, groq, smallest
    }

    /// Text-to-speech choices: `local` is the natural local voice (hibari-tts, with espeak-ng as
    /// its fallback), `espeak` espeak-ng alone, `openai` any OpenAI-compatible speech endpoint,
    /// `smallest` smallest.ai's Lightning (never chosen automatically).
    public enum TextToSpeech: String, Sendable, CaseIterable {
        case local, espeak, openai, elevenlabs
        case elevenlabsHTTP = "elevenlabs-http"
        case smallest
    }

    /// The speech-to-text providers, in order: the first serves, the others take over when it fails.
    public var speechToTextChain: [SpeechToText]
    /// The LLM providers, in order.
    public var languageModelChain: [LanguageModel]
    /// The text-to-speech providers, in order.
    public var textToSpeechChain: [TextToSpeech]
    /// The first speech-to-text provider.
    public var speechToText: SpeechToText { speechToTextChain[0] }
    /// The first LLM provider.
    public var languageModel: LanguageModel { languageModelChain[0] }
    /// The first text-to-speech provider.
    public var textToSpeech: TextToSpeech { textToSpeechChain[0] }
    /// Cloud settings read from the environment.
    public var cloud: CloudSettings

    /// Resolves the choices against `environment`: each is `nil` or `auto` (automatic), one
    /// provider, or a comma-separated fallback chain such as `elevenlabs,local`.
    public static func resolve(
        speechToText: String?, languageModel: String?, textToSpeech: String?, environment: [String: String]
    ) throws(ParleyServer.ConfigurationError) -> ProviderPlan {
        let cloud = try CloudSettings(environment: environment)
        let stt = try chain(
            "--stt", speechToText, automatic: cloud.deepgramKey != nil ? .deepgram : SpeechToText.local)
        let llm = try chain("--llm", languageModel, automatic: cloud.groqKey != nil ? .groq : LanguageModel.local)
        let tts = try chain(
            "--tts", textToSpeech, automatic: cloud.elevenLabsKey != nil ? .elevenlabs : TextToSpeech.local)
        for choice in stt {
            switch choice {
            case .deepgram, .deepgramFlux: try require(cloud.deepgramKey, "DEEPGRAM_API_KEY", for: "--stt \(choice.rawValue)")
            case .smallest: try require(cloud.smallestKey, "SMALLEST_API_KEY", for: "--stt smallest")
            case .groqWhisper: try require(cloud.groqKey, "GROQ_API_KEY", for: "--stt groq-whisper")
            case .local: break
            }
        }
        if llm.contains(.groq) { try require(cloud.groqKey, "GROQ_API_KEY", for: "--llm groq") }
        if llm.contains(.smallest) { try require(cloud.smallestKey, "SMALLEST_API_KEY", for: "--llm smallest") }
        for choice in tts {
            switch choice {
            case .elevenlabs, .elevenlabsHTTP: try require(cloud.elevenLabsKey, "ELEVENLABS_API_KEY", for: "--tts \(choice.rawValue)")
            // A self-hosted server may need no key; OpenAI's own does.
            case .openai where cloud.openAIBaseURL == CloudSettings.defaultOpenAIBaseURL:
                try require(cloud.openAIKey, "OPENAI_API_KEY", for: "--tts openai")
            case .smallest: try require(cloud.smallestKey, "SMALLEST_API_KEY", for: "--tts smallest")
            case .openai, .local, .espeak: break
            }
        }
        return ProviderPlan(speechToTextChain: stt, languageModelChain: llm, textToSpeechChain: tts, cloud: cloud)
    }

    /// The providers a flag names: `auto`, one, or a comma-separated chain (no repeats, no `auto` in it).
    private static func chain<Choice: RawRepresentable & CaseIterable & Equatable>(
        _ flag: String, _ value: String?, automatic: Choice
    ) throws(ParleyServer.ConfigurationError) -> [Choice] where Choice.RawValue == String {
        guard let value, value != "auto" else { return [automatic] }
        let names = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard names.count <= 4 else { throw ParleyServer.ConfigurationError("\(flag) \(value.prefix(80)): at most 4 providers in a chain") }
        var choices: [Choice] = []
        for name in names {
            guard let choice = Choice(rawValue: name) else {
                let known = (Choice.allCases.map(\.rawValue) + ["auto"]).joined(separator: ", ")
                throw ParleyServer.ConfigurationError(
                    "\(flag) \(value.prefix(80)): unknown provider \"\(name.prefix(40))\"; choose one of \(known), or a comma-separated chain such as local,\(Choice.allCases.first!.rawValue)"
                )
            }
            guard !choices.contains(choice) else {
                throw ParleyServer.ConfigurationError("\(flag) \(value.prefix(80)): \(name) appears twice in the chain")
            }
            choices.append(choice)
        }
        return choices
    }

    private static func require(_ key: String?, _ variable: String, for choice: String) throws(ParleyServer.ConfigurationError) {
        guard key == nil else { return }
        throw ParleyServer.ConfigurationError("\(choice) needs \(variable): set it in the environment (or choose another provider)")
    }
}

/// Keys, base URLs and models of the cloud providers, from the environment. Empty variables count
/// as unset. Keys are kept only to be sent to their provider; nothing here prints them.
public struct CloudSettings: Sendable, Equatable {
    /// `DEEPGRAM_API_KEY`.
    public var deepgramKey: String?
    /// `GROQ_API_KEY`.
    public var groqKey: String?
    /// `ELEVENLABS_API_KEY`.
    public var elevenLabsKey: String?
    /// `DEEPGRAM_URL`, default `wss://api.deepgram.com`.
    public var deepgramURL: String
    /// `GROQ_BASE_URL`, default `https://api.groq.com/openai/v1`.
    public var groqBaseURL: String
    /// `ELEVENLABS_URL`, default `https://api.elevenlabs.io`.
    public var elevenLabsURL: String
    /// `LLM_MODEL`: the chat model id (default: Groq's `openai/gpt-oss-20b`, or the local model).
    public var languageModel: String?
    /// `DEEPGRAM_MODEL`, default `nova-3`.
    public var deepgramModel: String
    /// `GROQ_STT_MODEL`, default `whisper-large-v3-turbo`.
    public var groqSpeechModel: String
    /// `ELEVENLABS_VOICE_ID`, default Rachel (`21m00Tcm4TlvDq8ikWAM`).
    public var elevenLabsVoice: String
    /// `ELEVENLABS_MODEL_ID`, default `eleven_flash_v2_5`.
    public var elevenLabsModel: String
    /// `ELEVENLABS_WEBSOCKET`: `multi-stream-input` (the default: one socket per session, each
    /// reply a context) or `stream-input` (one socket per reply), for `--tts elevenlabs`.
    public var elevenLabsMultiContext: Bool
    /// `DEEPGRAM_FLUX_MODEL`, default `flux-general-en` (`--stt deepgram-flux`).
    public var fluxModel: String
    /// `DEEPGRAM_EOT_THRESHOLD` (Flux's `eot_threshold`, 0.5–1.0); nil keeps Deepgram's default, 0.7.
    public var fluxEndOfTurnThreshold: Double?
    /// `DEEPGRAM_EAGER_EOT_THRESHOLD` (Flux's `eager_eot_threshold`, 0.3–0.9), default 0.5; `off`
    /// (nil) turns eager end of turn off.
    public var fluxEagerEndOfTurnThreshold: Double?
    /// `DEEPGRAM_EOT_TIMEOUT_MS` (Flux's `eot_timeout_ms`, 500–60000); nil keeps Deepgram's default, 5000.
    public var fluxEndOfTurnTimeout: Int?
    /// `SMALLEST_API_KEY`, for smallest.ai (`--stt smallest`, `--tts smallest`, `--llm smallest`).
    public var smallestKey: String?
    /// `SMALLEST_URL`, default `https://api.smallest.ai`: Pulse at `/waves/v1/stt/live`, Lightning
    /// at `/waves/v1/tts/live`, Electron at `/waves/v1/chat/completions`.
    public var smallestURL: String
    /// `SMALLEST_LANGUAGE`, default `en`: Pulse's `language` and Lightning's.
    public var smallestLanguage: String
    /// `SMALLEST_VOICE_ID`, default `magnus`.
    public var smallestVoice: String
    /// `SMALLEST_TTS_MODEL`, default `lightning_v3.1`.
    public var smallestSpeechModel: String
    /// `OPENAI_API_KEY`, for `--tts openai`.
    public var openAIKey: String?
    /// `OPENAI_BASE_URL`, default `https://api.openai.com/v1`; any server with `POST /audio/speech`.
    public var openAIBaseURL: String
    /// `OPENAI_TTS_MODEL`, default `gpt-4o-mini-tts`.
    public var openAISpeechModel: String
    /// `OPENAI_TTS_VOICE`, default `alloy`.
    public var openAIVoice: String

    /// OpenAI's own API.
    public static let defaultOpenAIBaseURL = "https://api.openai.com/v1"

    /// Reads and checks the variables.
    public init(environment: [String: String]) throws(ParleyServer.ConfigurationError) {
        func value(_ name: String) -> String? {
            guard let value = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
            return value
        }
        func url(_ name: String, default fallback: String, schemes: Set<String>) throws(ParleyServer.ConfigurationError) -> String {
            guard let text = value(name) else { return fallback }
            guard let parsed = URL(string: text), let scheme = parsed.scheme?.lowercased(), schemes.contains(scheme),
                parsed.host?.isEmpty == false
            else {
                throw ParleyServer.ConfigurationError(
                    "\(name)=\(text) is not a URL; expected \(schemes.sorted().map { "\($0)://" }.joined(separator: " or "))host[:port][/path]")
            }
            return text.hasSuffix("/") ? String(text.dropLast()) : text
        }
        deepgramKey = value("DEEPGRAM_API_KEY")
        groqKey = value("GROQ_API_KEY")
        elevenLabsKey = value("ELEVENLABS_API_KEY")
        deepgramURL = try url("DEEPGRAM_URL", default: "wss://api.deepgram.com", schemes: ["ws", "wss", "http", "https"])
        groqBaseURL = try url("GROQ_BASE_URL", default: "https://api.groq.com/openai/v1", schemes: ["http", "https"])
        elevenLabsURL = try url("ELEVENLABS_URL", default: "https://api.elevenlabs.io", schemes: ["http", "https", "ws", "wss"])
        languageModel = value("LLM_MODEL")
        deepgramModel = value("DEEPGRAM_MODEL") ?? "nova-3"
        groqSpeechModel = value("GROQ_STT_MODEL") ?? "whisper-large-v3-turbo"
        elevenLabsVoice = value("ELEVENLABS_VOICE_ID") ?? "21m00Tcm4TlvDq8ikWAM"
        elevenLabsModel = value("ELEVENLABS_MODEL_ID") ?? "eleven_flash_v2_5"
        switch value("ELEVENLABS_WEBSOCKET") {
        case nil, "multi-stream-input": elevenLabsMultiContext = true
        case "stream-input": elevenLabsMultiContext = false
        case let other?:
            throw ParleyServer.ConfigurationError(
                "ELEVENLABS_WEBSOCKET=\(other.prefix(40)) is not an ElevenLabs socket; expected multi-stream-input or stream-input")
        }
        func number(_ name: String, in range: ClosedRange<Double>) throws(ParleyServer.ConfigurationError) -> Double? {
            guard let text = value(name) else { return nil }
            guard let number = Double(text), range.contains(number) else {
                func plain(_ bound: Double) -> String { bound == bound.rounded() ? "\(Int(bound))" : "\(bound)" }
                throw ParleyServer.ConfigurationError(
                    "\(name)=\(text.prefix(40)) must be a number from \(plain(range.lowerBound)) to \(plain(range.upperBound))")
            }
            return number
        }
        fluxModel = value("DEEPGRAM_FLUX_MODEL") ?? "flux-general-en"
        fluxEndOfTurnThreshold = try number("DEEPGRAM_EOT_THRESHOLD", in: 0.5...1.0)
        if value("DEEPGRAM_EAGER_EOT_THRESHOLD")?.lowercased() == "off" {
            fluxEagerEndOfTurnThreshold = nil
        } else {
            fluxEagerEndOfTurnThreshold = try number("DEEPGRAM_EAGER_EOT_THRESHOLD", in: 0.3...0.9) ?? 0.5
        }
        if let eager = fluxEagerEndOfTurnThreshold, eager > (fluxEndOfTurnThreshold ?? 0.7) {
            throw ParleyServer.ConfigurationError(
                "DEEPGRAM_EAGER_EOT_THRESHOLD=\(eager) is above the end-of-turn threshold \(fluxEndOfTurnThreshold ?? 0.7): the eager end must come first (or set it to off)"
            )
        }
        fluxEndOfTurnTimeout = try number("DEEPGRAM_EOT_TIMEOUT_MS", in: 500...60000).map { Int($0) }
        smallestKey = value("SMALLEST_API_KEY")
        smallestURL = try url("SMALLEST_URL", default: "https://api.smallest.ai", schemes: ["http", "https"])
        smallestLanguage = value("SMALLEST_LANGUAGE") ?? "en"
        smallestVoice = value("SMALLEST_VOICE_ID") ?? "magnus"
        smallestSpeechModel = value("SMALLEST_TTS_MODEL") ?? "lightning_v3.1"
        openAIKey = value("OPENAI_API_KEY")
        openAIBaseURL = try url("OPENAI_BASE_URL", default: Self.defaultOpenAIBaseURL, schemes: ["http", "https"])
        openAISpeechModel = value("OPENAI_TTS_MODEL") ?? "gpt-4o-mini-tts"
        openAIVoice = value("OPENAI_TTS_VOICE") ?? "alloy"
    }
}
