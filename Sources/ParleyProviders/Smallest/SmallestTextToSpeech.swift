import Foundation
public import Logging
public import ParleyCore

/// Text-to-speech over smallest.ai's Lightning WebSocket (`/waves/v1/tts/live`,
/// docs/providers.md): one socket per reply, opened as soon as the reply starts so the handshake
/// overlaps the LLM's first token (Lightning closes the socket after each `complete`).
///
/// Each sentence goes out as the request body (`text`, `voice_id`, `model`, `sample_rate`,
/// `speed`, `language`) with `continue: true` (more text is coming) and `flush: true`
/// (synthesise it now). When the text ends, an empty `text` with `continue: false` and
/// `complete_backoff_ms: 0` says nothing more is coming, so `complete` follows the last audio at
/// once instead of after Lightning's default 4 s wait. Audio comes back as base64 PCM16LE
/// `chunk`s at the requested rate and is handed on in order, from the caller's task, while later
/// sentences are still being sent; `complete` ends the reply. Lightning speaks 8, 16, 24 and
/// 44.1 kHz: another session rate asks for the next one up and the session converts. Cancelling
/// the task closes the socket at once and delivers no more audio.
public struct SmallestTextToSpeech: TextToSpeech {
    /// `https://api.smallest.ai` (`SMALLEST_URL`), or `http(s)://`/`ws(s)://` for a gateway or a fake.
    public var baseURL: String
    /// `SMALLEST_API_KEY`; never logged.
    public var apiKey: String
    /// The voice (`voice_id`; ids are per model); a session's voice override (``ProviderContext/voice``) wins.
    public var voiceID: String
    /// `lightning_v3.1` or `lightning_v3.1_pro`.
    public var model: String
    /// The language, or nil for Lightning's mixed English and Hindi.
    public var language: String?
    /// Speaking rate, 0.5–2.0.
    public var speed: Double
    /// Time allowed for the WebSocket handshake.
    public var connectTimeout: Duration
    /// Time Lightning may leave text unanswered by audio (or the end unanswered by `complete`).
    public var responseTimeout: Duration
    /// Where connection attempts are recorded, for `/health`.
    public var health: ConnectionHealth
    /// Where the message flow is logged (debug).
    public var logger: Logger
    /// The clock the response watchdog runs on.
    public var clock: SessionClock

    /// The rates Lightning synthesises.
    public static let sampleRates = [8000, 16000, 24000, 44100]

    /// `smallest`, for logs, errors and `/health`.
    public var name: String { "smallest" }

    /// Creates a client.
    public init(
        apiKey: String, baseURL: String = "https://api.smallest.ai", voiceID: String = "magnus", model: String = "lightning_v3.1",
        language: String? = "en", speed: Double = 1.0, connectTimeout: Duration = .seconds(10), responseTimeout: Duration = .seconds(10),
        health: ConnectionHealth = ConnectionHealth(), logger: Logger = Logger(label: "parley.smallest"),
        clock: some Clock<Duration> = ContinuousClock()
    ) {
        self.apiKey = apiKey
        self.baseURL = baseURL
        self.voiceID = voiceID
        self.model = model
        self.language = language
        self.speed = speed
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.health = health
        self.logger = logger
        self.clock = .erasing(clock)
    }

    var api: SmallestAPI { SmallestAPI(baseURL: baseURL, apiKey: apiKey, provider: name, service: "Lightning") }

    /// The rate to ask for: the session's when Lightning has it, else the next one up (at most 44.1 kHz).
    public static func outputSampleRate(for sampleRate: Int) -> Int {
        sampleRates.first { $0 >= sampleRate } ?? sampleRates.last!
    }

    /// One request message: the body with the streaming controls.
    func message(text: String, sampleRate: Int, more: Bool, voice: String? = nil) -> String {
        var fields: [String: JSONValue] = [
            "text": .string(text), "voice_id": .string(voice ?? voiceID), "model": .string(model), "sample_rate": .number(Double(sampleRate)),
            "speed": .number(speed), "continue": .bool(more), "flush": .bool(true),
        ]
        if let language { fields["language"] = .string(language) }
        if !more { fields["complete_backoff_ms"] = .number(0) }
        return JSONValue.object(fields).serialized
    }

    public func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        let api = api
        let outputRate = Self.outputSampleRate(for: sampleRate)
        let address = try api.webSocketAddress(path: "/waves/v1/tts/live")
        let progress = StreamProgress(clock: clock)
        var connected = false
        do {
            try await ProviderWebSocket.connect(to: address, headers: api.headers, timeout: connectTimeout) { connection in
                connected = true
                health.succeeded()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Sending and the watchdog must not outlive the reply, however it ends.
                    defer { group.cancelAll() }
                    let voice = ProviderContext.voice
                    group.addTask { try await send(text, sampleRate: outputRate, voice: voice, over: connection, progress: progress) }
                    group.addTask { try await watch(connection, progress: progress) }
                    try await receive(from: connection, sampleRate: outputRate, progress: progress, onAudio: onAudio)
                }
            }
        } catch  where !connected {
            try Task.checkCancellation()
            let failure = api.connectionError(error, timeout: connectTimeout)
            health.failed(failure)
            throw failure
        }
    }

    /// Sends each piece of text as it comes, then the end.
    private func send(
        _ text: AsyncStream<String>, sampleRate: Int, voice: String?, over connection: ProviderWebSocketConnection, progress: StreamProgress
    ) async throws {
        for await piece in text {
            let trimmed = piece.trimmingWhitespace()
            guard !trimmed.isEmpty else { continue }
            try await connection.send(text: message(text: trimmed, sampleRate: sampleRate, more: true, voice: voice))
            progress.sent(.flush)
        }
        try Task.checkCancellation()
        try await connection.send(text: message(text: "", sampleRate: sampleRate, more: false, voice: voice))
        progress.sent(.endOfStream)
    }

    /// Closes the socket when Lightning leaves text (or the end) unanswered for ``responseTimeout``.
    private func watch(_ connection: ProviderWebSocketConnection, progress: StreamProgress) async throws {
        while true {
            let deadline = (progress.awaitingSince ?? clock.now) + responseTimeout
            try await clock.sleep(until: deadline)
            guard let stalled = progress.awaitingSince, clock.now - stalled >= responseTimeout, !progress.finalReceived else { continue }
            progress.markTimedOut()
            try await connection.close(code: 1000, reason: "no audio in time")
            return
        }
    }

    /// Reads Lightning's messages until `complete`, handing audio to `onAudio`.
    private func receive(
        from connection: ProviderWebSocketConnection, sampleRate: Int, progress: StreamProgress, onAudio: (AudioChunk) async throws -> Void
    ) async throws {
        let api = api
        var assembler = PCM16Assembler()
        var messages = connection.messages.makeAsyncIterator()
        while true {
            let message: ProviderWebSocket.Message?
            do {
                message = try await messages.next()
            } catch {
                try Task.checkCancellation()
                throw api.error(.streamEnded, "the connection to smallest.ai Lightning failed: \(error)")
            }
            try Task.checkCancellation()
            switch message {
            case .text(let text)?:
                guard let json = JSONValue.parse(text), let status = json["status"]?.stringValue else {
                    throw api.error(.badResponse, "smallest.ai Lightning sent a message that is not a JSON object with a status: \(text.prefix(120))")
                }
                switch status {
                case "chunk":
                    guard let encoded = json["data"]?["audio"]?.stringValue, let bytes = Data(base64Encoded: encoded) else {
                        throw api.error(.badResponse, "smallest.ai Lightning sent a chunk whose audio is not base64")
                    }
                    progress.received(audio: !bytes.isEmpty, isFinal: false)
                    let samples = assembler.push([UInt8](bytes))
                    guard !samples.isEmpty else { continue }
                    // Barge-in: no audio may reach the caller once the reply is cancelled.
                    try Task.checkCancellation()
                    try await onAudio(AudioChunk(samples: samples, sampleRate: sampleRate))
                case "complete":
                    progress.received(audio: false, isFinal: true)
                    try? await connection.close(code: 1000)
                    return
                case "error":
                    let said = json["message"]?.stringValue ?? json["error"]?["message"]?.stringValue ?? "no details"
                    let code = json["error"]?["code"]?.stringValue.map { " (\($0))" } ?? ""
                    throw api.error(.rejected, "smallest.ai Lightning reported an error\(code): \(said.prefix(300))")
                default:
                    // `word_timestamp` and anything newer.
                    logger.trace("smallest.ai Lightning message", metadata: ["parley.smallest.status": "\(status.prefix(40))"])
                }
            case .binary?:
                continue
            case .closed(let code, let reason)?:
                if progress.timedOut {
                    throw api.error(.timeout, "smallest.ai Lightning sent no audio within \(responseTimeout) of being asked for speech")
                }
                let said = reason.isEmpty ? "" : ": \(reason)"
                throw api.error(
                    .streamEnded, "smallest.ai Lightning closed the stream before it was complete (\(code.map { "\($0)" } ?? "no close code")\(said))"
                )
            case nil:
                throw api.error(.streamEnded, "the connection to smallest.ai Lightning ended before the reply was complete")
            }
        }
    }
}
