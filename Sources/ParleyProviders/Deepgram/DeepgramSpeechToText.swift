public import Logging
public import ParleyCore

/// Streams caller audio to Deepgram's live transcription API (`/v1/listen`, docs/providers.md) and
/// reports interim and final transcripts, with Deepgram's endpointing deciding when the turn ends.
///
/// One WebSocket per ``transcribe(_:onEvent:)``: each block of audio is one binary message;
/// `KeepAlive` is sent while no audio flows; Parley's own end of speech sends `Finalize`; the end
/// of input sends `CloseStream` and waits (bounded by ``closeTimeout``) for the last results.
/// When the connection drops mid-session, the client reconnects once per drop (at most
/// ``maximumReconnects`` times) and sends again the audio no final result has covered yet.
public struct DeepgramSpeechToText: SpeechToText {
    /// How audio is put on the wire.
    public enum Encoding: String, Sendable, Equatable {
        /// 16-bit little-endian PCM, two bytes a sample.
        case linear16
        /// G.711 μ-law, one byte a sample (telephony, at 8000 Hz).
        case mulaw
    }

    /// Where Deepgram is: `wss://api.deepgram.com`, or `ws://`, `http://` (read as `ws://`) or
    /// `https://` (read as `wss://`) for a proxy or a fake; `/v1/listen` is appended.
    public var baseURL: String
    /// The API key, sent as `Authorization: Token <key>`; never logged.
    public var apiKey: String
    /// The model, such as `nova-3`.
    public var model: String
    /// The language as BCP-47, such as `en-US`, or `multi`.
    public var language: String
    /// The wire encoding.
    public var encoding: Encoding
    /// Rate of the audio the session sends, in Hz (8000 for μ-law telephony).
    public var sampleRate: Int
    /// Whether Deepgram sends interim results (reported as ``TranscriptEvent/partial(_:)``).
    public var interimResults: Bool
    /// Silence that makes Deepgram end an utterance (`speech_final`), sent in whole milliseconds;
    /// nil turns endpointing off.
    public var endpointing: Duration?
    /// Gap after the last finalized word that makes Deepgram send `UtteranceEnd` (the fallback end
    /// of turn in noise), at least 1000 ms and only with interim results; nil to not ask for it.
    public var utteranceEnd: Duration?
    /// Whether Deepgram reports `SpeechStarted` (reported as ``TranscriptEvent/speechStarted``).
    public var vadEvents: Bool
    /// Whether Deepgram formats and punctuates the text.
    public var smartFormat: Bool
    /// Whether Deepgram finalizes without waiting to format numbers and dates.
    public var noDelay: Bool
    /// Terms to boost recognition of (Nova-3 `keyterm`), one query parameter each.
    public var keyterms: [String]
    /// Time without audio after which a `KeepAlive` is sent (Deepgram closes after 10 s idle).
    public var keepAliveInterval: Duration
    /// Time allowed for the WebSocket handshake.
    public var connectTimeout: Duration
    /// Time allowed, after `CloseStream`, for the last results before the socket is closed.
    public var closeTimeout: Duration
    /// Reconnects allowed per session after the connection drops.
    public var maximumReconnects: Int
    /// Most audio kept for sending again after a drop; older audio is dropped.
    public var maximumReplay: Duration
    /// Audio per binary message: callers' 20 ms frames are sent in pairs, halving the messages
    /// (and the server's writes) at no cost to the end of a turn, which flushes first.
    public var audioMessageDuration: Duration = .milliseconds(40)
    /// Audio per binary message while Parley's VAD hears no speech: Deepgram needs the audio to
    /// keep time, but nothing is waiting for words, so the messages (and writes) are five times
    /// fewer. The start of speech flushes what is held, so Deepgram gets a voice onset at the VAD's
    /// decision; the stream's tick (250 ms) flushes it too.
    public var quietMessageDuration: Duration = .milliseconds(200)
    /// Where connection attempts are recorded, for `/health`.
    public var health: ConnectionHealth
    /// Where reconnects (warning), Deepgram's errors and message flow (debug) are logged.
    public var logger: Logger
    /// The clock the keep-alive tick, the close timeout and the send-failure grace run on.
    public var clock: SessionClock

    /// `deepgram`, for logs, errors and `/health`.
    public var name: String { "deepgram" }

    /// Audio per message in silence as sent: ``quietMessageDuration``, at most half the keep-alive
    /// interval, so held silence never looks like no audio.
    var quietMessageLength: Duration { min(quietMessageDuration, keepAliveInterval / 2) }

    /// Quiet audio goes to Deepgram in ``quietMessageLength`` messages, so the session may hand it
    /// over in blocks of that length.
    public var quietInputDuration: Duration? { quietMessageLength }

    /// Speech goes to Deepgram in ``audioMessageDuration`` messages, so the session may hand it
    /// over in blocks of that length.
    public var speechInputDuration: Duration? { audioMessageDuration }

    /// Creates a client; the defaults are Deepgram's recommended settings for a voice agent (docs/providers.md).
    public init(
        apiKey: String, baseURL: String = "wss://api.deepgram.com", model: String = "nova-3", language: String = "en-US",
        encoding: Encoding = .linear16, sampleRate: Int = 16000, interimResults: Bool = true,
        endpointing: Duration? = .milliseconds(300), utteranceEnd: Duration? = .milliseconds(1000), vadEvents: Bool = true,
        smartFormat: Bool = true, noDelay: Bool = true, keyterms: [String] = [], keepAliveInterval: Duration = .seconds(4),
        connectTimeout: Duration = .seconds(10), closeTimeout: Duration = .seconds(5), maximumReconnects: Int = 3,
        maximumReplay: Duration = .seconds(30), health: ConnectionHealth = ConnectionHealth(),
        logger: Logger = Logger(label: "parley.deepgram"), clock: some Clock<Duration> = ContinuousClock()
    ) {
        self.clock = .erasing(clock)
        self.apiKey = apiKey
        self.baseURL = baseURL
        self.model = model
        self.language = language
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.interimResults = interimResults
        self.endpointing = endpointing
        self.utteranceEnd = utteranceEnd
        self.vadEvents = vadEvents
        self.smartFormat = smartFormat
        self.noDelay = noDelay
        self.keyterms = keyterms
        self.keepAliveInterval = keepAliveInterval
        self.connectTimeout = connectTimeout
        self.closeTimeout = closeTimeout
        self.maximumReconnects = maximumReconnects
        self.maximumReplay = maximumReplay
        self.health = health
        self.logger = logger
    }

    /// Streams `input` to Deepgram until it ends, reporting transcripts through `onEvent`.
    ///
    /// Throws ``ProviderError`` when Deepgram refuses the connection, cannot be reached, or drops
    /// the stream and a reconnect fails or the reconnects are used up.
    public func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        let address = try listenAddress(tag: ProviderContext.sessionID)
        var logger = logger
        logger[metadataKey: "parley.provider"] = "deepgram"
        // One queue carries caller input, server messages and clock ticks to this task, which
        // alone keeps the stream's state and calls `onEvent`.
        let tick = max(.milliseconds(10), min(keepAliveInterval / 4, .milliseconds(250)))
        let queue = RecognitionQueue<DeepgramStream.Event>(clock: clock, tick: tick, tickEvent: .tick)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            // The input is read by one task for the whole session: cancelling a reader of an
            // AsyncStream ends the stream, so it must outlive every connection.
            group.addTask { try await queue.feed(input, wrap: { .input($0) }, ended: .inputFinished) }
            var stream = DeepgramStream(client: self, logger: logger, queue: queue)
            var iterator = queue.makeIterator()
            try await run(address: address, stream: &stream, events: &iterator, logger: logger, onEvent: onEvent)
        }
    }

    /// Connects, serves the connection, and reconnects after drops until the input is done.
    ///
    /// A drop after the input ended (while Deepgram finishes the last results) that cannot be
    /// recovered is logged, not thrown: recognition is over and the session is ending anyway.
    private func run(
        address: String, stream: inout DeepgramStream, events: inout RecognitionQueue<DeepgramStream.Event>.Iterator,
        logger: Logger, onEvent: (TranscriptEvent) async throws -> Void
    ) async throws {
        var reconnects = 0
        var lastDrop: DeepgramStream.Drop?
        while true {
            var connected = false
            let outcome: DeepgramStream.Outcome
            do {
                outcome = try await ProviderWebSocket.connect(
                    to: address, headers: [("Authorization", "Token \(apiKey)")], timeout: connectTimeout
                ) { connection in
                    connected = true
                    health.succeeded()
                    return try await stream.serve(connection, events: &events, onEvent: onEvent)
                }
            } catch  where !connected {
                try Task.checkCancellation()
                let failure = connectionError(error)
                health.failed(failure)
                guard let lastDrop else { throw failure }
                let error = ProviderError(
                    provider: name, kind: .streamEnded,
                    message: redacted("\(lastDrop.message); reconnecting failed: \(failure.message)"), status: failure.status)
                guard stream.inputFinished else { throw error }
                logger.warning("the last Deepgram results are lost", metadata: ["parley.error": "\(error.message)"])
                return
            }
            switch outcome {
            case .finished:
                return
            case .dropped(let drop):
                guard reconnects < maximumReconnects else {
                    let error = ProviderError(
                        provider: name, kind: .streamEnded,
                        message: redacted("\(drop.message) (gave up after \(reconnects) reconnects)"))
                    guard stream.inputFinished else { throw error }
                    logger.warning("the last Deepgram results are lost", metadata: ["parley.error": "\(error.message)"])
                    return
                }
                reconnects += 1
                lastDrop = drop
                logger.warning(
                    "Deepgram stream dropped; reconnecting",
                    metadata: [
                        "parley.deepgram.close": "\(redacted(drop.message))", "parley.deepgram.reconnect": "\(reconnects)",
                        "parley.deepgram.replay_seconds": "\(stream.replaySeconds)",
                    ])
            }
        }
    }
}
