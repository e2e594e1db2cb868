public import Logging
public import ParleyCore

/// Streams caller audio to Deepgram Flux (`/v2/listen`, docs/providers.md), whose model decides
/// when the user's turn ends.
///
/// Flux's turn events map onto the session's: `StartOfTurn` counts as words for barge-in
/// (``TranscriptEvent/turnStarted``), `Update`s are partials, `EagerEndOfTurn` starts the LLM
/// early (``TranscriptEvent/likelyEndOfTurn(_:)``, buffered and adopted when `EndOfTurn` confirms
/// the same words), `TurnResumed` discards that early request, and `EndOfTurn` ends the turn.
/// Parley's own VAD does not end turns here: Flux's model judges them.
///
/// One WebSocket per ``transcribe(_:onEvent:)``. Audio goes out in 80 ms messages (Flux's
/// recommended chunk) and, when the caller sends none for ``keepAliveInterval``, as 80 ms of
/// silence: Flux has no `KeepAlive` message (a JSON one closes the socket), so a live stream is
/// kept alive with audio. A turn that stays open with no `TurnInfo` for ``turnWatchdog`` while
/// audio flows (Flux's known stall) gets a `ForceEndTurn`; if nothing answers that either, the
/// stream is given up with an error, so a fallback recogniser can take over. At the end of input
/// an open turn is forced to end (a `CloseStream` alone would lose its words), then `CloseStream`
/// is sent and the close awaited, bounded by ``closeTimeout``. A dropped connection is an error,
/// not reconnected: Flux's turn state cannot be resumed on a new socket.
public struct DeepgramFluxSpeechToText: SpeechToText {
    /// Where Deepgram is: `wss://api.deepgram.com`, or `ws://`, `http://` (read as `ws://`) or
    /// `https://` (read as `wss://`) for a proxy or a fake; `/v2/listen` is appended.
    public var baseURL: String
    /// The API key, sent as `Authorization: Token <key>`; never logged.
    public var apiKey: String
    /// The model: `flux-general-en`, or `flux-general-multi`.
    public var model: String
    /// The wire encoding (μ-law for telephony at 8000 Hz).
    public var encoding: DeepgramSpeechToText.Encoding
    /// Rate of the audio the session sends, in Hz.
    public var sampleRate: Int
    /// Confidence Flux needs to end a turn (`eot_threshold`, 0.5–1.0; 1.0 leaves only the
    /// timeout and forced ends); nil keeps Deepgram's default (0.7).
    public var endOfTurnThreshold: Double?
    /// Confidence at which Flux announces a likely end early (`eager_eot_threshold`, 0.3–0.9, at
    /// most ``endOfTurnThreshold``); nil turns eager end of turn off.
    public var eagerEndOfTurnThreshold: Double?
    /// Silence after which Flux ends a turn whatever its confidence (`eot_timeout_ms`,
    /// 500–60000 ms); nil keeps Deepgram's default (5000 ms).
    public var endOfTurnTimeout: Duration?
    /// Terms to boost recognition of, one `keyterm` parameter each.
    public var keyterms: [String]
    /// Audio per binary message (Flux recommends 80 ms).
    public var audioMessageDuration: Duration
    /// Time without audio from the caller after which 80 ms of silence is sent.
    public var keepAliveInterval: Duration
    /// Time an open turn may go without any `TurnInfo` before it is forced to end; nil is 1 s
    /// past the end-of-turn timeout (6 s with Deepgram's default), so that Flux's own timeout
    /// always has its chance first.
    public var turnWatchdog: Duration?
    /// Time allowed for the WebSocket handshake.
    public var connectTimeout: Duration
    /// Time allowed, after `CloseStream`, for the last messages and the close.
    public var closeTimeout: Duration
    /// Where connection attempts are recorded, for `/health`.
    public var health: ConnectionHealth
    /// Where Flux's errors and warnings (warning) and message flow (debug) are logged.
    public var logger: Logger
    /// The clock the keep-alive, watchdog and close timeout run on.
    public var clock: SessionClock

    /// `deepgram-flux`, for logs, errors and `/health`.
    public var name: String { "deepgram-flux" }

    /// Creates a client. The defaults ask for eager end of turn at 0.5 and keep Deepgram's own
    /// end-of-turn threshold (0.7) and timeout (5 s).
    public init(
        apiKey: String, baseURL: String = "wss://api.deepgram.com", model: String = "flux-general-en",
        encoding: DeepgramSpeechToText.Encoding = .linear16, sampleRate: Int = 16000, endOfTurnThreshold: Double? = nil,
        eagerEndOfTurnThreshold: Double? = 0.5, endOfTurnTimeout: Duration? = nil, keyterms: [String] = [],
        audioMessageDuration: Duration = .milliseconds(80), keepAliveInterval: Duration = .seconds(4),
        turnWatchdog: Duration? = nil, connectTimeout: Duration = .seconds(10), closeTimeout: Duration = .seconds(5),
        health: ConnectionHealth = ConnectionHealth(), logger: Logger = Logger(label: "parley.deepgram-flux"),
        clock: some Clock<Duration> = ContinuousClock()
    ) {
        self.apiKey = apiKey
        self.baseURL = baseURL
        self.model = model
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.endOfTurnThreshold = endOfTurnThreshold
        self.eagerEndOfTurnThreshold = eagerEndOfTurnThreshold
        self.endOfTurnTimeout = endOfTurnTimeout
        self.keyterms = keyterms
        self.audioMessageDuration = audioMessageDuration
        self.keepAliveInterval = keepAliveInterval
        self.turnWatchdog = turnWatchdog
        self.connectTimeout = connectTimeout
        self.closeTimeout = closeTimeout
        self.health = health
        self.logger = logger
        self.clock = .erasing(clock)
    }

    /// The query string: model, encoding and rate, the thresholds that are set, `keyterm`s, `tag`.
    func queryItems(tag: String?) -> [(String, String)] {
        var items: [(String, String)] = [("model", model), ("encoding", encoding.rawValue), ("sample_rate", "\(sampleRate)")]
        if let endOfTurnThreshold { items.append(("eot_threshold", Self.decimal(endOfTurnThreshold))) }
        if let eagerEndOfTurnThreshold { items.append(("eager_eot_threshold", Self.decimal(eagerEndOfTurnThreshold))) }
        if let endOfTurnTimeout { items.append(("eot_timeout_ms", "\(DeepgramSpeechToText.wholeMilliseconds(endOfTurnTimeout))")) }
        items += keyterms.map { ("keyterm", $0) }
        if let tag, !tag.isEmpty { items.append(("tag", tag)) }
        return items
    }

    /// The `/v2/listen` address with the query, as `ws://` or `wss://`.
    func listenAddress(tag: String?) throws -> String {
        let base = try DeepgramSpeechToText.webSocketBase(baseURL)
        let query = queryItems(tag: tag).map {
            "\(DeepgramSpeechToText.percentEncoded($0.0))=\(DeepgramSpeechToText.percentEncoded($0.1))"
        }
        return base + "/v2/listen?" + query.joined(separator: "&")
    }

    /// The watchdog's limit in effect.
    var effectiveTurnWatchdog: Duration {
        turnWatchdog ?? (endOfTurnTimeout ?? .seconds(5)) + .seconds(1)
    }

    /// A threshold as Flux reads it: at most three decimals, no exponent.
    static func decimal(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        let whole = thousandths / 1000
        var fraction = String(thousandths % 1000)
        while fraction.count < 3 { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? "\(whole)" : "\(whole).\(fraction)"
    }

    /// Text with any copy of the API key removed.
    func redacted(_ text: String) -> String {
        DeepgramSpeechToText.redacted(text, apiKey: apiKey)
    }

    /// Streams `input` to Flux until it ends, reporting transcripts and turn events through `onEvent`.
    ///
    /// Throws ``ProviderError`` when Deepgram refuses the connection, cannot be reached, sends an
    /// `Error`, drops the stream, or stops answering inside a turn.
    public func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        let address = try listenAddress(tag: ProviderContext.sessionID)
        var logger = logger
        logger[metadataKey: "parley.provider"] = "deepgram-flux"
        var connected = false
        do {
            try await ProviderWebSocket.connect(
                to: address, headers: [("Authorization", "Token \(apiKey)")], timeout: connectTimeout
            ) { socket in
                connected = true
                health.succeeded()
                let tick = max(.milliseconds(10), min(keepAliveInterval / 4, .milliseconds(250)))
                try await LiveRecognition.run(input: input, socket: socket, clock: clock, tick: tick) { events in
                    var stream = DeepgramFluxStream(client: self, socket: socket, tick: tick, logger: logger)
                    try await stream.run(events: events, onEvent: onEvent)
                }
            }
        } catch  where !connected {
            try Task.checkCancellation()
            let failure = DeepgramSpeechToText.connectionError(
                error, provider: name, apiKey: apiKey, baseURL: baseURL, connectTimeout: connectTimeout)
            health.failed(failure)
            throw failure
        }
    }
}
