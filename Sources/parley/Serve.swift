import ArgumentParser
import Foundation
import Logging
import ParleyCore
import ParleyProviders
import ParleyServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the voice WebSocket, the web client and /health.")

    @Option(help: "Address to listen on (default: $HOST, else 127.0.0.1; 0.0.0.0 for every interface).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (default: $PORT, else 8080).")
    var port: Int?

    @Option(
        help:
            "Speech-to-text: local, deepgram, deepgram-flux (Deepgram's Flux, which ends turns itself), groq-whisper, smallest (smallest.ai's Pulse, SMALLEST_API_KEY), a fallback chain such as deepgram,local, or auto (deepgram when DEEPGRAM_API_KEY is set, else local)."
    )
    var stt = "auto"

    @Option(
        help:
            "LLM: local, groq, smallest (smallest.ai's Electron, SMALLEST_API_KEY), a fallback chain such as groq,local, or auto (groq when GROQ_API_KEY is set, else local)."
    )
    var llm = "auto"

    @Option(
        help:
            "Text-to-speech: local (hibari-tts, espeak-ng behind it), espeak, openai (OPENAI_API_KEY, OPENAI_BASE_URL), elevenlabs, elevenlabs-http, smallest (smallest.ai's Lightning, SMALLEST_API_KEY), a fallback chain such as elevenlabs,local, or auto (elevenlabs when ELEVENLABS_API_KEY is set, else local)."
    )
    var tts = "auto"

    @Option(
        name: .customLong("local-llm"),
        help:
            "The local LLM: large (Qwen2.5-Coder-1.5B, right more often) or small (0.5B, about twice as fast, wrong more often; install it with `make setup LOCAL_LLM=small`)."
    )
    var localLLM = LocalLanguageModel.large.rawValue

    @Option(
        name: .customLong("llm-timeout"),
        help: "Milliseconds an LLM in a chain may take to its first text (or pause mid-reply) before the next takes over.")
    var llmTimeout = 5000

    @Option(
        name: .customLong("tts-timeout"),
        help: "Milliseconds text-to-speech in a chain may take to answer text with audio before the next takes over.")
    var ttsTimeout = 3000

    @Option(
        name: .customLong("connect-timeout"),
        help: "Milliseconds to connect to a cloud provider (TCP, TLS, the WebSocket upgrade) before it counts as failed.")
    var connectTimeout = 3000

    @Option(
        name: .customLong("llm-url"), help: "Use this running OpenAI-compatible chat server (base URL ending in /v1) instead of starting llama.cpp.")
    var llmURL: String?

    @Option(
        name: .customLong("stt-url"),
        help: "Use this running OpenAI-compatible transcription server (base URL ending in /v1) instead of starting faster-whisper.")
    var sttURL: String?

    @Option(name: .customLong("system-prompt"), help: "The LLM's system prompt, or @FILE to read it from a file.")
    var systemPrompt: String?

    @Option(name: .customLong("greeting"), help: "Spoken to the caller when a session starts (turn 0).")
    var greeting: String?

    @Option(
        name: .customLong("agent"),
        help:
            "An agent file (JSON): system_prompt, greeting, voice, webhook tools and MCP servers (docs/agents.md); --system-prompt and --greeting override its own."
    )
    var agent: String?

    @Option(
        name: .customLong("filler-after"),
        help:
            "Milliseconds a tool call may run before the agent says a short filler (\"One moment.\"), also said as soon as the model starts a call when the reply has said nothing yet; 0: never."
    )
    var fillerAfter = 700

    @Flag(
        name: .customLong("log-tool-payloads"),
        help:
            "Put tool call arguments and results in the tool.call/tool.result events and the log (names, ids, durations and outcomes only by default)."
    )
    var logToolPayloads = false

    @Option(name: .customLong("history-tokens"), help: "History kept for the LLM, in estimated tokens; older turns are summarised.")
    var historyTokens = 1500

    @Option(name: .customLong("max-reply-tokens"), help: "The longest reply, in LLM tokens (default 80 local, 400 Groq).")
    var maxReplyTokens: Int?

    @Option(
        name: .customLong("max-reply-words"),
        help:
            "The most words in a reply; past 60 % of it the reply ends at a sentence end (default 40 with the local LLM, else no limit; 0: no limit)."
    )
    var maxReplyWords: Int?

    @Option(
        name: .customLong("first-chunk-words"),
        help:
            "Words a reply's first clause (ending at a comma, colon, semicolon or dash) needs to go to text-to-speech before its sentence ends; 0: wait for the sentence end."
    )
    var firstChunkWords = SentenceChunker.defaultFirstClauseWords

    @Option(
        name: .customLong("output-batch"),
        help:
            "Reply audio due this many milliseconds after a frame being sent goes out with it, in one wake and one write: less CPU, up to this much more audio buffered at the client (0: every frame on its own deadline)."
    )
    var outputBatch = 100

    @Option(
        name: .customLong("vad"),
        help:
            "Voice activity detector: silero (the Silero VAD model, in process), energy (loudness above the noise floor), or auto (silero when installed, else energy)."
    )
    var vad = ParleyServer.VoiceActivityChoice.auto.rawValue

    @Option(
        name: .customLong("vad-threshold"), help: "Silero's speech probability that starts speech (0.1–0.95); speech goes on down to 0.15 below it.")
    var vadThreshold: Float = 0.5

    @Option(name: .customLong("vad-silence"), help: "Silence that ends the user's turn when no end-of-turn model judges it, in milliseconds.")
    var vadSilence = 300

    @Option(
        name: .customLong("turn-model"),
        help:
            "End of turn: smart-turn (the smart-turn v3 model judges each pause, in process), off (a fixed silence, --vad-silence), or auto (smart-turn when installed, else off)."
    )
    var turnModel = ParleyServer.TurnModelChoice.auto.rawValue

    @Option(
        name: .customLong("turn-threshold"), help: "The end-of-turn model's probability at or above which a paused turn ends at once (0.05–0.95).")
    var turnThreshold: Float = 0.5

    @Option(name: .customLong("turn-pause"), help: "Silence after which the end-of-turn model judges the turn, in milliseconds.")
    var turnPause = 200

    @Option(
        name: .customLong("turn-max-silence"),
        help: "Silence that ends the turn when the end-of-turn model judged it unfinished, in milliseconds.")
    var turnMaxSilence = 1200

    @Option(
        name: .customLong("vad-pause"),
        help:
            "Silence after which utterance-at-a-time speech-to-text (local Whisper, Groq) starts on the words so far, in milliseconds; used if the turn then ends (0: off)."
    )
    var vadPause = 100

    @Option(name: .customLong("vad-margin"), help: "How far above the noise floor a frame must be to count as voice, in dB.")
    var vadMargin: Float = 10

    @Option(name: .customLong("barge-in-min-speech"), help: "Voice over a reply that interrupts it without words, in milliseconds.")
    var bargeInMinSpeech = 200

    @Option(name: .customLong("barge-in-echo-margin"), help: "While the agent plays, dB above the VAD threshold that voice needs to count.")
    var bargeInEchoMargin: Float = 6

    @Option(name: .customLong("resume-after"), help: "Milliseconds after a false start without words before a paused reply resumes.")
    var resumeAfter = 1500

    @Flag(
        name: .customLong("early-llm"),
        help: "Start the LLM on a final transcript before the turn ends; its answer is spoken only if the user said no more.")
    var earlyLLM = false

    @Option(
        name: .customLong("web-root"), help: "Directory of the browser client served at / (default: web/ beside the executable's bin/, else ./web).")
    var webRoot: String?

    @Option(
        name: .customLong("max-sessions"), help: "Most concurrent sessions, browser and Twilio together; more are refused with 503 at the handshake.")
    var maxSessions = ServerConfiguration.defaultMaximumSessions

    @Option(
        name: .customLong("allowed-origins"),
        help:
            "Comma-separated origins whose pages may open /ws, e.g. https://app.example.com (default: $PARLEY_ALLOWED_ORIGINS, else same-origin pages only; * admits all)."
    )
    var allowedOrigins: String?

    @Option(name: .customLong("drain-timeout"), help: "On SIGTERM or SIGINT, seconds sessions get to finish their replies before they are closed.")
    var drainTimeout = 30

    @Option(
        name: .customLong("token-ttl"), help: "Seconds a session token lives when its request names no ttl_seconds (PARLEY_API_KEY turns tokens on).")
    var tokenTTL = 300

    @Option(
        name: .customLong("token-overrides"),
        help: "Comma-separated session settings a token may carry: system_prompt, greeting, voice (all by default; 'none' for none).")
    var tokenOverrides = "system_prompt,greeting,voice"

    @Option(
        name: .customLong("metrics-token"), help: "Bearer token GET /metrics requires (default: $PARLEY_METRICS_TOKEN; unset leaves /metrics open).")
    var metricsToken: String?

    @Option(name: .customLong("max-message-bytes"), help: "Largest WebSocket message a client may send; bigger ones close the connection (1009).")
    var maxMessageBytes = ConnectionLimits().maximumMessageBytes

    @Option(
        name: .customLong("max-messages-per-second"),
        help: "Sustained messages a second per connection (twice as many may burst); more close it (1008).")
    var maxMessagesPerSecond = ConnectionLimits().maximumMessagesPerSecond

    @Option(name: .customLong("idle-timeout"), help: "Seconds without audio from the client before its session is closed.")
    var idleTimeout = 60

    @Option(name: .customLong("max-session-duration"), help: "Longest session, in seconds.")
    var maxSessionDuration = 3600

    @Option(name: .customLong("max-connections-per-address"), help: "Concurrent /ws connections from one client address; more get HTTP 429.")
    var maxConnectionsPerAddress = ConnectionLimits().maximumConnectionsPerAddress

    @Flag(
        name: .customLong("trust-forwarded-for"),
        help: "Take the client address from the last X-Forwarded-For entry (behind a load balancer or proxy that sets it).")
    var trustForwardedFor = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        _ = try listenAddress()
        _ = try originPolicy()
        guard (0...3600).contains(drainTimeout) else { throw ValidationError("--drain-timeout must be 0…3600 seconds") }
        if let webRoot {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: webRoot, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--web-root \(webRoot) is not a directory")
            }
        }
        guard (200...60_000).contains(llmTimeout) else { throw ValidationError("--llm-timeout must be 200…60000 ms") }
        guard (200...60_000).contains(ttsTimeout) else { throw ValidationError("--tts-timeout must be 200…60000 ms") }
        guard (200...60_000).contains(connectTimeout) else { throw ValidationError("--connect-timeout must be 200…60000 ms") }
        guard (100...5000).contains(vadSilence) else { throw ValidationError("--vad-silence must be 100…5000 ms") }
        guard ParleyServer.TurnModelChoice(rawValue: turnModel) != nil else {
            throw ValidationError("--turn-model \(turnModel.prefix(40)): choose auto, smart-turn or off")
        }
        guard (0.05...0.95).contains(turnThreshold) else { throw ValidationError("--turn-threshold must be 0.05…0.95") }
        guard (60...2000).contains(turnPause) else { throw ValidationError("--turn-pause must be 60…2000 ms") }
        guard (turnPause + 20...10_000).contains(turnMaxSilence) else {
            throw ValidationError("--turn-max-silence must be more than --turn-pause (\(turnPause) ms) and at most 10000 ms")
        }
        guard maxReplyTokens.map({ (1...4096).contains($0) }) ?? true else { throw ValidationError("--max-reply-tokens must be 1…4096") }
        guard (3...40).contains(vadMargin) else { throw ValidationError("--vad-margin must be 3…40 dB") }
        guard (40...2000).contains(bargeInMinSpeech) else { throw ValidationError("--barge-in-min-speech must be 40…2000 ms") }
        guard (0...40).contains(bargeInEchoMargin) else { throw ValidationError("--barge-in-echo-margin must be 0…40 dB") }
        guard (200...10000).contains(resumeAfter) else { throw ValidationError("--resume-after must be 200…10000 ms") }
        guard (100...100_000).contains(historyTokens) else { throw ValidationError("--history-tokens must be 100…100000") }
        guard (0...60_000).contains(fillerAfter) else { throw ValidationError("--filler-after must be 0 (never) … 60000 ms") }
        guard maxSessions > 0 else { throw ValidationError("--max-sessions must be positive") }
        _ = try accessControl()
        _ = try connectionLimits()
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a log level") }
    }

    /// The address to bind: the flags, else `HOST` and `PORT` (platforms such as Modal, Heroku
    /// and Cloud Run set them), else 127.0.0.1:8080.
    func listenAddress() throws -> (host: String, port: Int) {
        var port = self.port
        if port == nil, let value = Self.environment("PORT") {
            guard let number = Int(value) else { throw ValidationError("PORT=\(value.prefix(20)) is not a port number") }
            port = number
        }
        let resolved = port ?? 8080
        guard (0...65535).contains(resolved) else { throw ValidationError("the port must be between 0 and 65535, not \(resolved)") }
        return (host ?? Self.environment("HOST") ?? "127.0.0.1", resolved)
    }

    /// `--allowed-origins`, else `PARLEY_ALLOWED_ORIGINS`.
    func originPolicy() throws -> OriginPolicy {
        let list = allowedOrigins ?? Self.environment("PARLEY_ALLOWED_ORIGINS")
        do {
            return try OriginPolicy(list: list)
        } catch {
            throw ValidationError("\(allowedOrigins == nil ? "PARLEY_ALLOWED_ORIGINS" : "--allowed-origins"): \(error)")
        }
    }

    /// `PARLEY_API_KEY`, the token flags and the metrics token.
    func accessControl() throws -> AccessControl {
        let longest = Int(AccessControl.longestTokenLifetime.components.seconds)
        guard (1...longest).contains(tokenTTL) else { throw ValidationError("--token-ttl must be 1…\(longest) seconds") }
        var permitted = Set<AccessControl.Override>()
        if tokenOverrides.trimmingCharacters(in: .whitespaces) != "none" {
            for name in tokenOverrides.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                guard let override = AccessControl.Override(rawValue: name) else {
                    throw ValidationError("--token-overrides: \(name.prefix(40)) is not one of system_prompt, greeting, voice (or none)")
                }
                permitted.insert(override)
            }
        }
        let apiKey = Self.environment("PARLEY_API_KEY")
        if let apiKey, apiKey.count < 16 {
            throw ValidationError("PARLEY_API_KEY is shorter than 16 characters; use a long random key (e.g. openssl rand -hex 32)")
        }
        return AccessControl(
            apiKey: apiKey, tokenLifetime: .seconds(tokenTTL), permittedOverrides: permitted,
            metricsToken: metricsToken ?? Self.environment("PARLEY_METRICS_TOKEN"))
    }

    /// The per-connection limits.
    func connectionLimits() throws -> ConnectionLimits {
        var limits = ConnectionLimits()
        guard (1024...ConnectionLimits.hardMessageCeiling).contains(maxMessageBytes) else {
            throw ValidationError("--max-message-bytes must be 1024…\(ConnectionLimits.hardMessageCeiling)")
        }
        guard (60...10_000).contains(maxMessagesPerSecond) else {
            throw ValidationError("--max-messages-per-second must be 60…10000 (audio alone is 50 a second)")
        }
        guard (5...86_400).contains(idleTimeout) else { throw ValidationError("--idle-timeout must be 5…86400 seconds") }
        guard (10...86_400).contains(maxSessionDuration) else { throw ValidationError("--max-session-duration must be 10…86400 seconds") }
        guard maxConnectionsPerAddress > 0 else { throw ValidationError("--max-connections-per-address must be positive") }
        limits.maximumMessageBytes = maxMessageBytes
        limits.maximumMessagesPerSecond = maxMessagesPerSecond
        limits.idleTimeout = .seconds(idleTimeout)
        limits.maximumSessionDuration = .seconds(maxSessionDuration)
        limits.maximumConnectionsPerAddress = maxConnectionsPerAddress
        limits.trustForwardedFor = trustForwardedFor
        return limits
    }

    func run() async throws {
        ParleyLogging.bootstrap(Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "parley")
        var session = SessionConfiguration()
        var agentFile: AgentFile?
        if let agent {
            do {
                agentFile = try AgentFile.load(path: agent, environment: ProcessInfo.processInfo.environment)
            } catch {
                throw ValidationError(error.description)
            }
            if let prompt = agentFile?.systemPrompt { session.systemPrompt = prompt }
            session.greeting = agentFile?.greeting
        }
        if let prompt = systemPrompt {
            session.systemPrompt = try Self.readPrompt(prompt)
        }
        session.fillerAfter = fillerAfter > 0 ? .milliseconds(fillerAfter) : nil
        session.vad.silenceTimeout = .milliseconds(vadSilence)
        guard (0...200).contains(outputBatch) else { throw ValidationError("--output-batch must be 0…200 ms") }
        session.outputBatch = .milliseconds(outputBatch)
        guard (0..<vadSilence).contains(vadPause) else {
            throw ValidationError("--vad-pause must be 0 (off) or less than --vad-silence (\(vadSilence) ms)")
        }
        session.vad.pauseTimeout = vadPause > 0 ? .milliseconds(vadPause) : nil
        session.vad.margin = vadMargin
        session.earlyLLM = earlyLLM
        session.bargeIn = .init(
            minimumSpeech: .milliseconds(bargeInMinSpeech), echoMargin: bargeInEchoMargin, resumeAfter: .milliseconds(resumeAfter))
        if let greeting { session.greeting = greeting.trimmingWhitespace().isEmpty ? nil : greeting.trimmingWhitespace() }
        session.historyTokenBudget = historyTokens
        var options = ParleyServer.Options()
        options.speechToText = stt
        options.languageModel = llm
        options.textToSpeech = tts
        guard let size = LocalLanguageModel(rawValue: localLLM) else {
            throw ValidationError("--local-llm \(localLLM.prefix(40)): choose small or large")
        }
        options.localLanguageModel = size
        options.agent = agentFile
        options.logToolPayloads = logToolPayloads
        options.languageModelURL = llmURL
        options.speechToTextURL = sttURL
        options.maximumReplyTokens = maxReplyTokens
        if let maxReplyWords, !(0...1000).contains(maxReplyWords) {
            throw ValidationError("--max-reply-words must be 0…1000 (0: no limit)")
        }
        options.maximumReplyWords = maxReplyWords
        guard (0...50).contains(firstChunkWords) else { throw ValidationError("--first-chunk-words must be 0…50 (0: whole sentences)") }
        options.firstChunkWords = firstChunkWords
        guard (0.1...0.95).contains(vadThreshold) else { throw ValidationError("--vad-threshold must be 0.1…0.95") }
        guard let voiceActivity = ParleyServer.VoiceActivityChoice(rawValue: vad) else {
            throw ValidationError("--vad \(vad.prefix(40)): choose auto, silero or energy")
        }
        options.voiceActivity = voiceActivity
        options.vadThreshold = vadThreshold
        options.turnModel = ParleyServer.TurnModelChoice(rawValue: turnModel) ?? .auto
        options.turnThreshold = turnThreshold
        options.turnPause = .milliseconds(turnPause)
        options.turnMaximumSilence = .milliseconds(turnMaxSilence)
        options.timeouts.languageModelFirstText = .milliseconds(llmTimeout)
        options.timeouts.textToSpeechFirstAudio = .milliseconds(ttsTimeout)
        options.timeouts.connect = .milliseconds(connectTimeout)
        let address = try listenAddress()
        let web = webRoot ?? BundleDirectory.locate("web")
        if web == nil { logger.warning("no web/ directory beside the executable or here: the browser client is not served") }
        var configuration = ServerConfiguration(
            host: address.host, port: address.port, webRoot: web, session: session, maximumSessions: maxSessions,
            origins: try originPolicy(), publicURL: Self.environment("PUBLIC_URL"), twilioAuthToken: Self.environment("TWILIO_AUTH_TOKEN"))
        configuration.drainTimeout = .seconds(drainTimeout)
        configuration.access = try accessControl()
        configuration.limits = try connectionLimits()
        if configuration.access.isEnabled {
            logger.notice("PARLEY_API_KEY is set: /ws needs a session token (POST /v1/session-tokens) or the key")
        }
        do {
            try await ParleyServer(configuration: configuration, options: options, logger: logger).run()
        } catch let error as ParleyServer.ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    static func readPrompt(_ value: String) throws -> String {
        guard value.hasPrefix("@") else { return value }
        let path = String(value.dropFirst())
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--system-prompt: cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self).trimmingWhitespace()
    }
}
