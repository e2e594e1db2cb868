import ArgumentParser
import Foundation
import Logging
import ParleyCore
import ParleyServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the voice WebSocket, the web client and /health.")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port = 8080

    @Option(help: "Speech-to-text: local, deepgram, groq-whisper or auto (deepgram when DEEPGRAM_API_KEY is set, else local).")
    var stt = "auto"

    @Option(help: "LLM: local, groq or auto (groq when GROQ_API_KEY is set, else local).")
    var llm = "auto"

    @Option(help: "Text-to-speech: local, elevenlabs, elevenlabs-http or auto (elevenlabs when ELEVENLABS_API_KEY is set, else local).")
    var tts = "auto"

    @Option(name: .customLong("llm-url"), help: "Use this running OpenAI-compatible chat server (base URL ending in /v1) instead of starting llama.cpp.")
    var llmURL: String?

    @Option(name: .customLong("stt-url"), help: "Use this running OpenAI-compatible transcription server (base URL ending in /v1) instead of starting faster-whisper.")
    var sttURL: String?

    @Option(name: .customLong("system-prompt"), help: "The LLM's system prompt, or @FILE to read it from a file.")
    var systemPrompt: String?

    @Option(name: .customLong("greeting"), help: "Spoken to the caller when a session starts (turn 0).")
    var greeting: String?

    @Option(name: .customLong("history-tokens"), help: "History kept for the LLM, in estimated tokens; older turns are summarised.")
    var historyTokens = 1500

    @Option(name: .customLong("max-reply-tokens"), help: "The longest reply, in LLM tokens (default 100 local, 400 Groq).")
    var maxReplyTokens: Int?

    @Option(name: .customLong("vad-silence"), help: "Silence that ends the user's turn, in milliseconds.")
    var vadSilence = 300

    @Option(name: .customLong("vad-margin"), help: "How far above the noise floor a frame must be to count as voice, in dB.")
    var vadMargin: Float = 10

    @Option(name: .customLong("barge-in-min-speech"), help: "Voice over a reply that interrupts it without words, in milliseconds.")
    var bargeInMinSpeech = 200

    @Option(name: .customLong("barge-in-echo-margin"), help: "While the agent plays, dB above the VAD threshold that voice needs to count.")
    var bargeInEchoMargin: Float = 6

    @Option(name: .customLong("resume-after"), help: "Milliseconds after a false start without words before a paused reply resumes.")
    var resumeAfter = 1500

    @Flag(name: .customLong("early-llm"), help: "Start the LLM on a final transcript before the turn ends; its answer is spoken only if the user said no more.")
    var earlyLLM = false

    @Option(name: .customLong("web-root"), help: "Directory of the browser client served at /.")
    var webRoot = "web"

    @Option(name: .customLong("max-sessions"), help: "Most concurrent sessions.")
    var maxSessions = 1000

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard (100...5000).contains(vadSilence) else { throw ValidationError("--vad-silence must be 100…5000 ms") }
        guard maxReplyTokens.map({ (1...4096).contains($0) }) ?? true else { throw ValidationError("--max-reply-tokens must be 1…4096") }
        guard (3...40).contains(vadMargin) else { throw ValidationError("--vad-margin must be 3…40 dB") }
        guard (40...2000).contains(bargeInMinSpeech) else { throw ValidationError("--barge-in-min-speech must be 40…2000 ms") }
        guard (0...40).contains(bargeInEchoMargin) else { throw ValidationError("--barge-in-echo-margin must be 0…40 dB") }
        guard (200...10000).contains(resumeAfter) else { throw ValidationError("--resume-after must be 200…10000 ms") }
        guard (100...100_000).contains(historyTokens) else { throw ValidationError("--history-tokens must be 100…100000") }
        guard maxSessions > 0 else { throw ValidationError("--max-sessions must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a log level") }
    }

    /// An environment variable, nil when unset or blank.
    static func environment(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    func run() async throws {
        bootstrapLogging(Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "parley")
        var session = SessionConfiguration()
        if let prompt = systemPrompt {
            session.systemPrompt = try Self.readPrompt(prompt)
        }
        session.vad.silenceTimeout = .milliseconds(vadSilence)
        session.vad.margin = vadMargin
        session.earlyLLM = earlyLLM
        session.bargeIn = .init(
            minimumSpeech: .milliseconds(bargeInMinSpeech), echoMargin: bargeInEchoMargin, resumeAfter: .milliseconds(resumeAfter))
        session.greeting = greeting.map { $0.trimmingWhitespace() }.flatMap { $0.isEmpty ? nil : $0 }
        session.historyTokenBudget = historyTokens
        var options = ParleyServer.Options()
        options.speechToText = stt
        options.languageModel = llm
        options.textToSpeech = tts
        options.languageModelURL = llmURL
        options.speechToTextURL = sttURL
        options.maximumReplyTokens = maxReplyTokens
        let configuration = ServerConfiguration(
            host: host, port: port, webRoot: webRoot, session: session, maximumSessions: maxSessions,
            publicURL: Self.environment("PUBLIC_URL"), twilioAuthToken: Self.environment("TWILIO_AUTH_TOKEN"))
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
