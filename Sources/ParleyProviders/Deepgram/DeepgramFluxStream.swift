import Logging
import ParleyCore

/// One Flux connection's state and loop: sends the caller's audio and control messages, hands
/// Flux's messages to the turn tracker, keeps the stream alive, watches for a stalled turn, and
/// closes it at the end of input.
struct DeepgramFluxStream {
    typealias Event = LiveRecognitionEvent

    private static let control = (forceEndTurn: #"{"type":"ForceEndTurn"}"#, closeStream: #"{"type":"CloseStream"}"#)

    let client: DeepgramFluxSpeechToText
    let socket: ProviderWebSocketConnection
    let logger: Logger
    private var tracker = DeepgramFluxTurnTracker()
    /// Audio received but not sent yet, sent in messages of ``batchSamples``.
    private var unsent: [Int16] = []
    private let batchSamples: Int
    /// When audio was last sent.
    private var lastAudio: SessionClock.Instant
    /// When Flux last sent a `TurnInfo`, or the turn opened.
    private var lastTurnInfo: SessionClock.Instant
    /// Set when the watchdog forced an open turn to end: the time by which Flux must answer.
    private var forcedSince: SessionClock.Instant?
    /// Set once `CloseStream` is sent: the time by which Flux must have closed.
    private var closingDeadline: SessionClock.Instant?
    /// The first failed send: nothing is sent after it.
    private var sendFailure: SendFailure

    /// A stream whose failed send is reported `tick` after it (the queue's tick interval).
    init(client: DeepgramFluxSpeechToText, socket: ProviderWebSocketConnection, tick: Duration, logger: Logger) {
        self.client = client
        self.socket = socket
        self.logger = logger
        batchSamples = max(1, Int(client.audioMessageDuration.seconds * Double(client.sampleRate)))
        lastAudio = client.clock.now
        lastTurnInfo = client.clock.now
        sendFailure = SendFailure(grace: tick)
    }

    /// Runs until Flux closes after `CloseStream` (or the close times out); throws when the stream
    /// fails before that.
    mutating func run(events queue: RecognitionQueue<Event>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        var events = queue.makeIterator()
        while let event = await events.next() {
            try Task.checkCancellation()
            switch event {
            case .input(.audio(let samples)):
                guard closingDeadline == nil, !samples.isEmpty else { continue }
                unsent.append(contentsOf: samples)
                if unsent.count >= batchSamples { await flushAudio() }
            case .input:
                // Flux's model judges turns; Parley's VAD decisions are not sent.
                continue
            case .inputFinished:
                await closeStream()
            case .tick:
                if try await tick() { return }
            case .message(let message):
                if try await handle(message, onEvent: onEvent) { return }
            case .readFailed(let description):
                if closingDeadline != nil && !sendFailure.happened { return }
                throw failure(.streamEnded, "Deepgram Flux's connection dropped (\(description))")
            }
        }
        try Task.checkCancellation()
        if sendFailure.happened { throw sendError() }
        if queue.overflowed {
            throw failure(.engine, "Parley fell behind Deepgram Flux's stream: \(RecognitionQueue<Event>.capacity) events were waiting")
        }
    }

    /// Handles one message; true when the stream is over.
    private mutating func handle(_ message: ProviderWebSocket.Message, onEvent: (TranscriptEvent) async throws -> Void) async throws -> Bool {
        switch message {
        case .text(let text):
            let reception = tracker.receive(text)
            switch reception.kind {
            case .turnInfo(let event):
                lastTurnInfo = client.clock.now
                if event == "EndOfTurn" { forcedSince = nil }
                logger.trace("Deepgram Flux turn event", metadata: ["parley.flux.event": "\(event)"])
            case .connected(let requestID):
                logger.debug("Deepgram Flux connected", metadata: ["parley.flux.request_id": "\(requestID)"])
            case .configureSuccess, .configureFailure:
                logger.debug("Deepgram Flux answered a Configure", metadata: ["parley.flux.answer": "\(reception.kind)"])
            case .warning(let description) where closingDeadline != nil && description.hasPrefix("FORCE_END_TURN_NO_ACTIVE_TURN"):
                logger.debug("Deepgram Flux had no turn open at the end of input")
            case .warning(let description):
                logger.warning("Deepgram Flux warned", metadata: ["parley.flux.warning": "\(client.redacted(description))"])
            case .error(let description):
                // Flux's errors are fatal: the server closes next.
                throw failure(.badResponse, "Deepgram Flux reported an error: \(client.redacted(description))")
            case .unknown(let type):
                logger.debug("ignoring a Deepgram Flux message", metadata: ["parley.flux.type": "\(type)"])
            case .unparseable:
                logger.debug("ignoring a Deepgram Flux message that is not a JSON object with a type")
            }
            for event in reception.events { try await onEvent(event) }
            return false
        case .binary:
            logger.debug("ignoring a binary message from Deepgram Flux")
            return false
        case .closed(let code, let reason):
            // After CloseStream Flux closes without a status code (seen as none, or 1005).
            if closingDeadline != nil && !sendFailure.happened { return true }
            let detail = code.map { "\($0)\(reason.isEmpty ? "" : " \(reason)")" } ?? "without a close code"
            throw failure(.streamEnded, "Deepgram Flux closed the stream before the session ended: \(detail)")
        }
    }

    /// Keeps the stream alive and watches the turn; true when the close after `CloseStream` is overdue.
    private mutating func tick() async throws -> Bool {
        let now = client.clock.now
        if sendFailure.happened {
            if sendFailure.isOverdue(at: now) { throw sendError() }
            return false
        }
        if let closingDeadline {
            guard now >= closingDeadline else { return false }
            logger.warning("Deepgram Flux did not close after CloseStream; closing")
            return true
        }
        await flushAudio()
        if now - lastAudio >= client.keepAliveInterval {
            // Flux has no KeepAlive message: silence keeps the stream alive.
            await send(audio: [Int16](repeating: 0, count: batchSamples))
        }
        guard tracker.turnOpen, now - lastTurnInfo >= client.effectiveTurnWatchdog else { return false }
        if let forcedSince {
            guard now - forcedSince >= client.effectiveTurnWatchdog else { return false }
            throw failure(
                .timeout,
                "Deepgram Flux sent nothing for \(client.effectiveTurnWatchdog) inside a turn, even after ForceEndTurn; giving up the stream")
        }
        logger.warning("Deepgram Flux sent nothing inside an open turn; forcing its end")
        forcedSince = now
        await send(text: Self.control.forceEndTurn)
        return false
    }

    /// Ends any open turn (so its words are not lost), then asks Flux to finish and close.
    ///
    /// `ForceEndTurn` goes out whether or not this side has seen the turn open: Flux's
    /// `StartOfTurn` may still be on its way. With no turn open Flux only answers with a warning.
    private mutating func closeStream() async {
        guard closingDeadline == nil else { return }
        await flushAudio()
        await send(text: Self.control.forceEndTurn)
        await send(text: Self.control.closeStream)
        closingDeadline = client.clock.now + client.closeTimeout
    }

    private mutating func flushAudio() async {
        guard !unsent.isEmpty else { return }
        await send(audio: unsent)
        // After the send, so the storage is no longer shared and is reused rather than copied.
        unsent.removeAll(keepingCapacity: true)
    }

    /// Sends audio; a failed send is recorded (``SendFailure``), and nothing is sent after it.
    private mutating func send(audio samples: [Int16]) async {
        guard !sendFailure.happened else { return }
        let bytes = client.encoding == .mulaw ? MuLaw.encode(samples) : PCM.littleEndianBytes(samples)
        do {
            try await socket.send(binary: bytes)
        } catch {
            sendFailure.record(error, at: client.clock.now)
            return
        }
        lastAudio = client.clock.now
    }

    /// Sends a control message; a failed send is recorded, as for audio.
    private mutating func send(text: String) async {
        guard !sendFailure.happened else { return }
        do {
            try await socket.send(text: text)
        } catch {
            sendFailure.record(error, at: client.clock.now)
        }
    }

    private func sendError() -> ProviderError {
        failure(.streamEnded, "sending to Deepgram Flux failed: \(client.redacted(sendFailure.reason ?? ""))")
    }

    private func failure(_ kind: ProviderError.Kind, _ message: String) -> ProviderError {
        ProviderError(provider: client.name, kind: kind, message: message)
    }
}
