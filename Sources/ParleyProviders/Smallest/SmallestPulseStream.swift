import Logging
import ParleyCore

/// One Pulse connection's state and loop: sends the caller's audio, `finalize` when Parley's VAD
/// ends the speech first and `close_stream` at the end of input, and turns Pulse's messages into
/// transcript events.
struct SmallestPulseStream {
    typealias Event = LiveRecognitionEvent

    private static let control = (finalize: #"{"type":"finalize"}"#, closeStream: #"{"type":"close_stream"}"#)

    let client: SmallestSpeechToText
    let socket: ProviderWebSocketConnection
    let logger: Logger
    private let api: SmallestAPI
    private var unsent: [Int16] = []
    private let batchSamples: Int
    /// Speech or interim text heard (by Pulse, or by Parley's VAD) since the last final: a turn
    /// a `finalize` would end.
    private var turnOpen = false
    /// A `finalize` was sent and its final has not come yet (one per turn).
    private var finalizing = false
    /// The last partial reported, so repeats are not reported again.
    private var lastPartial = ""
    /// The last `error` message, reported with the close that follows it.
    private var serverError: String?
    /// Set once `close_stream` is sent: the time by which Pulse must have closed.
    private var closingDeadline: SessionClock.Instant?
    /// Whether the final marked `is_last` came.
    private var lastReceived = false
    /// The first failed send: nothing is sent after it.
    private var sendFailure: SendFailure

    /// A stream whose failed send is reported `tick` after it (the queue's tick interval).
    init(client: SmallestSpeechToText, socket: ProviderWebSocketConnection, tick: Duration, logger: Logger) {
        self.client = client
        self.socket = socket
        self.logger = logger
        api = client.api
        batchSamples = max(1, Int(client.audioMessageDuration.seconds * Double(client.sampleRate)))
        sendFailure = SendFailure(grace: tick)
    }

    /// Runs until Pulse closes after `close_stream` (or the close times out).
    mutating func run(events queue: RecognitionQueue<Event>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        var events = queue.makeIterator()
        while let event = await events.next() {
            try Task.checkCancellation()
            switch event {
            case .input(.audio(let samples)):
                guard closingDeadline == nil, !samples.isEmpty else { continue }
                unsent.append(contentsOf: samples)
                if unsent.count >= batchSamples { await flushAudio() }
            case .input(.speechStarted):
                // Pulse's own speech_started may lag the audio; Parley's VAD counts as well.
                turnOpen = true
            case .input(.speechEnded):
                await flushAudio()
                if turnOpen, !finalizing, closingDeadline == nil {
                    finalizing = true
                    await send(text: Self.control.finalize)
                }
            case .input:
                continue
            case .inputFinished:
                guard closingDeadline == nil else { continue }
                await flushAudio()
                await send(text: Self.control.closeStream)
                closingDeadline = client.clock.now + client.closeTimeout
            case .tick:
                if sendFailure.happened {
                    if sendFailure.isOverdue(at: client.clock.now) { throw sendError() }
                    continue
                }
                if let closingDeadline, client.clock.now >= closingDeadline {
                    logger.warning("smallest.ai Pulse did not close after close_stream; closing")
                    return
                }
                if closingDeadline == nil { await flushAudio() }
            case .message(let message):
                if try await handle(message, onEvent: onEvent) { return }
            case .readFailed(let description):
                if closingDeadline != nil { return }
                throw api.error(.streamEnded, "smallest.ai Pulse's connection dropped (\(description))")
            }
        }
        try Task.checkCancellation()
        if sendFailure.happened { throw sendError() }
        if queue.overflowed {
            throw api.error(.engine, "Parley fell behind smallest.ai Pulse's stream: \(RecognitionQueue<Event>.capacity) events were waiting")
        }
    }

    /// Handles one message; true when the stream is over.
    private mutating func handle(_ message: ProviderWebSocket.Message, onEvent: (TranscriptEvent) async throws -> Void) async throws -> Bool {
        switch message {
        case .text(let text):
            for event in receive(text) { try await onEvent(event) }
            guard lastReceived, closingDeadline != nil else { return false }
            // The last transcript came: Pulse closes next; say goodbye rather than wait.
            try? await socket.close(code: 1000)
            return true
        case .binary:
            logger.debug("ignoring a binary message from smallest.ai Pulse")
            return false
        case .closed(let code, let reason):
            if closingDeadline != nil && serverError == nil && !sendFailure.happened { return true }
            throw closeError(code: code, reason: reason)
        }
    }

    /// The events one text message from Pulse makes.
    private mutating func receive(_ text: String) -> [TranscriptEvent] {
        guard let message = JSONValue.parse(text), let type = message["type"]?.stringValue ?? message["status"]?.stringValue else {
            logger.debug("ignoring a smallest.ai Pulse message that is not a JSON object with a type")
            return []
        }
        switch type {
        case "transcription":
            // Both fields carry the same text; `transcript` is the newer name.
            let words = (message["transcript"]?.stringValue ?? message["transcription"]?.stringValue ?? "").trimmingWhitespace()
            let hasWords = words.contains { $0.isLetter || $0.isNumber }
            if message["is_last"]?.boolValue == true { lastReceived = true }
            guard message["is_final"]?.boolValue == true else {
                guard hasWords, words != lastPartial else { return [] }
                turnOpen = true
                lastPartial = words
                return [.partial(words)]
            }
            let wasOpen = turnOpen || finalizing
            turnOpen = false
            finalizing = false
            lastPartial = ""
            if hasWords { return [.final(words, endsTurn: true)] }
            return wasOpen ? [.noSpeech] : []
        case "speech_started":
            turnOpen = true
            return [.speechStarted]
        case "speech_ended":
            logger.trace("smallest.ai Pulse heard the speech end")
            return []
        case "error":
            let description = message["message"]?.stringValue ?? message["error"]?["message"]?.stringValue ?? message["error"]?.stringValue
            serverError = api.redacted(String((description ?? "no details").prefix(300)))
            logger.warning("smallest.ai Pulse reported an error", metadata: ["parley.smallest.error": "\(serverError ?? "")"])
            return []
        default:
            logger.debug("ignoring a smallest.ai Pulse message", metadata: ["parley.smallest.type": "\(type.prefix(64))"])
            return []
        }
    }

    private func closeError(code: Int?, reason: String) -> ProviderError {
        let said = reason.isEmpty ? "" : " \(reason)"
        if let serverError {
            return api.error(
                .streamEnded, "smallest.ai Pulse reported an error and closed the stream (\(code.map { "\($0)" } ?? "no code")): \(serverError)")
        }
        switch code {
        case 1008?:
            return api.error(
                .rejected, "smallest.ai Pulse closed the stream (1008\(said)): too many open sessions for this account", status: nil)
        case let code?:
            return api.error(.streamEnded, "smallest.ai Pulse closed the stream before the session ended: \(code)\(said)")
        case nil:
            return api.error(.streamEnded, "smallest.ai Pulse's connection ended before the session did")
        }
    }

    private mutating func flushAudio() async {
        guard !unsent.isEmpty else { return }
        guard !sendFailure.happened else {
            unsent.removeAll(keepingCapacity: true)
            return
        }
        let bytes = client.encoding == .mulaw ? MuLaw.encode(unsent) : PCM.littleEndianBytes(unsent)
        // Cleared after encoding, so the storage is reused rather than copied.
        unsent.removeAll(keepingCapacity: true)
        do {
            try await socket.send(binary: bytes)
        } catch {
            sendFailure.record(error, at: client.clock.now)
        }
    }

    private mutating func send(text: String) async {
        guard !sendFailure.happened else { return }
        do {
            try await socket.send(text: text)
        } catch {
            sendFailure.record(error, at: client.clock.now)
        }
    }

    private func sendError() -> ProviderError {
        api.error(.streamEnded, "sending to smallest.ai Pulse failed: \(sendFailure.reason ?? "")")
    }
}
