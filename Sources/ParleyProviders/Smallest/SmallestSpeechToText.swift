public import Logging
public import ParleyCore

/// Streams caller audio to smallest.ai's Pulse live transcription (`/waves/v1/stt/live`,
/// docs/providers.md), whose endpointing ends the user's turn.
///
/// One WebSocket per ``transcribe(_:onEvent:)``, with `Authorization: Bearer <key>`. Audio goes
/// out in 40 ms binary messages; interim transcripts are partials; a final (`is_final`) ends the
/// turn. When Parley's VAD hears the speech end before Pulse's endpointing does, `finalize` makes
/// Pulse answer at once (once per turn), so the earlier of the two ends the turn. At the end of
/// input `close_stream` asks for the last final (`is_last`), and the close is awaited, bounded by
/// ``closeTimeout``. A connection that drops mid-session is an error, not reconnected: Pulse
/// keeps no session to resume, and a fallback chain (`--stt smallest,local`) takes over.
public struct SmallestSpeechToText: SpeechToText {
    /// How audio is put on the wire.
    public enum Encoding: String, Sendable, Equatable {
        /// 16-bit little-endian PCM.
        case linear16
        /// G.711 μ-law, one byte a sample (telephony, at 8000 Hz).
        case mulaw
    }

    /// `https://api.smallest.ai` (`SMALLEST_URL`), or `http(s)://`/`ws(s)://` for a gateway or a fake.
    public var baseURL: String
    /// `SMALLEST_API_KEY`; never logged.
    public var apiKey: String
    /// Pulse's `language`, such as `en` (some are served only on the US host).
    public var language: String
    /// The wire encoding.
    public var encoding: Encoding
    /// Rate of the audio the session sends, in Hz (Pulse does not resample: it must be right).
    public var sampleRate: Int
    /// `eou_timeout_ms`: the most trailing silence before Pulse's endpointing finalizes.
    public var endOfUtteranceTimeout: Duration
    /// Audio per binary message.
    public var audioMessageDuration: Duration
    /// Time allowed for the WebSocket handshake.
    public var connectTimeout: Duration
    /// Time allowed, after `close_stream`, for the last transcript and the close.
    public var closeTimeout: Duration
    /// Where connection attempts are recorded, for `/health`.
    public var health: ConnectionHealth
    /// Where Pulse's errors (warning) and message flow (debug) are logged.
    public var logger: Logger
    /// The clock the flush tick and the close timeout run on.
    public var clock: SessionClock

    /// `smallest`, for logs, errors and `/health`.
    public var name: String { "smallest" }

    /// Creates a client.
    public init(
        apiKey: String, baseURL: String = "https://api.smallest.ai", language: String = "en", encoding: Encoding = .linear16,
        sampleRate: Int = 16000, endOfUtteranceTimeout: Duration = .milliseconds(800), audioMessageDuration: Duration = .milliseconds(40),
        connectTimeout: Duration = .seconds(10), closeTimeout: Duration = .seconds(5), health: ConnectionHealth = ConnectionHealth(),
        logger: Logger = Logger(label: "parley.smallest"), clock: some Clock<Duration> = ContinuousClock()
    ) {
        self.apiKey = apiKey
        self.baseURL = baseURL
        self.language = language
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.endOfUtteranceTimeout = endOfUtteranceTimeout
        self.audioMessageDuration = audioMessageDuration
        self.connectTimeout = connectTimeout
        self.closeTimeout = closeTimeout
        self.health = health
        self.logger = logger
        self.clock = .erasing(clock)
    }

    var api: SmallestAPI { SmallestAPI(baseURL: baseURL, apiKey: apiKey, provider: name, service: "Pulse") }

    /// The query: the model and audio format, endpointing on (Pulse's default, stated), its
    /// ceiling, `finalize_on_words=false` (Parley drives finalization with `finalize`, not a word
    /// count), `vad_events` for an early speech start, and the session id for usage reports.
    func queryItems(sessionID: String?) -> [(String, String)] {
        var items: [(String, String)] = [
            ("model", "pulse"), ("language", language), ("encoding", encoding.rawValue), ("sample_rate", "\(sampleRate)"),
            ("endpointing", "true"), ("eou_timeout_ms", "\(DeepgramSpeechToText.wholeMilliseconds(endOfUtteranceTimeout))"),
            ("finalize_on_words", "false"), ("vad_events", "true"),
        ]
        // `external_session_id`: at most 128 of [A-Za-z0-9_.-].
        let allowed = sessionID.map { String($0.filter { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }.prefix(128)) }
        if let allowed, !allowed.isEmpty { items.append(("external_session_id", allowed)) }
        return items
    }

    /// Streams `input` to Pulse until it ends, reporting transcripts through `onEvent`.
    ///
    /// Throws ``ProviderError`` when smallest.ai refuses the connection, cannot be reached, reports
    /// an error, or closes the stream before the input ended.
    public func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        let api = api
        let address = try api.webSocketAddress(path: "/waves/v1/stt/live", query: queryItems(sessionID: ProviderContext.sessionID))
        var logger = logger
        logger[metadataKey: "parley.provider"] = "smallest"
        var connected = false
        do {
            try await ProviderWebSocket.connect(to: address, headers: api.headers, timeout: connectTimeout) { socket in
                connected = true
                health.succeeded()
                let tick = Duration.milliseconds(100)
                try await LiveRecognition.run(input: input, socket: socket, clock: clock, tick: tick) { events in
                    var stream = SmallestPulseStream(client: self, socket: socket, tick: tick, logger: logger)
                    try await stream.run(events: events, onEvent: onEvent)
                }
            }
        } catch  where !connected {
            try Task.checkCancellation()
            let failure = api.connectionError(error, timeout: connectTimeout)
            health.failed(failure)
            throw failure
        }
    }
}
