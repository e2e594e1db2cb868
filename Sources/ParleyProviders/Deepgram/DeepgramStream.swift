import Logging
import ParleyCore

/// The state of one ``DeepgramSpeechToText/transcribe(_:onEvent:)`` across its connections: the
/// turn, the audio not yet covered by a final result, and whether the input has ended.
///
/// ``serve(_:events:onEvent:)`` runs one connection in the caller's task: it sends the caller's
/// audio and control messages, hands Deepgram's messages to the tracker, and returns when the
/// stream is done or the connection dropped.
struct DeepgramStream {
    /// What reaches the stream's task.
    enum Event: Sendable {
        case input(SpeechInput)
        case inputFinished
        /// A message from the connection numbered `generation`.
        case message(generation: Int, ProviderWebSocket.Message)
        /// Reading from the connection numbered `generation` failed.
        case readFailed(generation: Int, description: String)
        case tick
    }

    /// How a connection ended.
    enum Outcome: Sendable {
        /// The input ended and Deepgram delivered its last results (or ran out of time to).
        case finished
        /// The connection dropped; another may carry on.
        case dropped(Drop)
    }

    /// A connection that ended without being asked to.
    struct Drop: Sendable {
        /// The close code, or nil when the connection ended without a close frame.
        var code: Int?
        /// The close reason, or what went wrong.
        var reason: String

        /// The drop in words, naming Deepgram.
        var message: String {
            guard let code else { return "Deepgram's connection dropped (\(reason))" }
            return "Deepgram closed the stream: \(code)\(reason.isEmpty ? "" : " \(reason)")"
        }
    }

    private static let control = (
        keepAlive: #"{"type":"KeepAlive"}"#, finalize: #"{"type":"Finalize"}"#, closeStream: #"{"type":"CloseStream"}"#
    )

    let client: DeepgramSpeechToText
    let logger: Logger
    /// The queue the stream's task reads; each connection's reader sends into it.
    let queue: RecognitionQueue<Event>
    private var tracker = DeepgramTranscriptTracker()
    private var replay: DeepgramReplayBuffer
    /// Whether the caller's input has ended (`CloseStream` is due on every connection from now on).
    private(set) var inputFinished = false
    private var generation = 0
    /// Audio received but not sent yet: frames go out in messages of ``batchSamples`` while the
    /// caller speaks and of ``quietBatchSamples`` otherwise, flushed at the start of speech, before
    /// `Finalize`, `CloseStream` and on each tick, so the end of a turn waits for nothing.
    private var unsent: [Int16] = []
    private let batchSamples: Int
    private let quietBatchSamples: Int
    /// Between Parley's `speechStarted` and `speechEnded`.
    private var speaking = false

    init(client: DeepgramSpeechToText, logger: Logger, queue: RecognitionQueue<Event>) {
        self.client = client
        self.logger = logger
        self.queue = queue
        let capacity = max(1, Int(client.maximumReplay.seconds * Double(client.sampleRate)))
        replay = DeepgramReplayBuffer(capacity: capacity, sampleRate: client.sampleRate)
        batchSamples = max(1, Int(client.audioMessageDuration.seconds * Double(client.sampleRate)))
        quietBatchSamples = max(batchSamples, Int(client.quietMessageLength.seconds * Double(client.sampleRate)))
    }

    /// Seconds of audio a reconnect sends again.
    var replaySeconds: Double { Double(replay.count) / Double(client.sampleRate) }

    /// Per-connection state.
    private struct Connection {
        let socket: ProviderWebSocketConnection
        var lastSent: SessionClock.Instant
        /// Set once `CloseStream` is sent: the time by which the last results must have come.
        var closingDeadline: SessionClock.Instant?
        /// The first failed send: the reader should report the close soon. The tick reports it
        /// two seconds later if the socket never does.
        var sendFailure = SendFailure(grace: .seconds(2))
        /// Whether Deepgram sent its Metadata, which comes after the last result.
        var metadataReceived = false
    }

    /// Runs one connection until the stream finishes or the connection drops.
    mutating func serve(
        _ socket: ProviderWebSocketConnection, events: inout RecognitionQueue<Event>.Iterator,
        onEvent: (TranscriptEvent) async throws -> Void
    ) async throws -> Outcome {
        generation += 1
        let generation = generation
        let queue = queue
        return try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                do {
                    for try await message in socket.messages {
                        queue.send(.message(generation: generation, message))
                    }
                } catch {
                    queue.send(.readFailed(generation: generation, description: "\(error)"))
                }
            }
            return try await loop(Connection(socket: socket, lastSent: client.clock.now), generation: generation, events: &events, onEvent: onEvent)
        }
    }

    private mutating func loop(
        _ initial: Connection, generation: Int, events: inout RecognitionQueue<Event>.Iterator,
        onEvent: (TranscriptEvent) async throws -> Void
    ) async throws -> Outcome {
        var connection = initial
        replay.beginConnection()
        // The replay below covers what was not sent on the last connection.
        unsent.removeAll(keepingCapacity: true)
        if replay.count > 0 {
            // Deepgram's clock on this connection starts at the first replayed sample.
            let chunk = max(1, client.sampleRate / 10)
            let samples = Array(replay.samples)
            for start in stride(from: 0, to: samples.count, by: chunk) {
                await send(audio: Array(samples[start..<min(samples.count, start + chunk)]), on: &connection)
            }
        }
        if inputFinished { await closeStream(&connection) }

        while let event = await events.next() {
            try Task.checkCancellation()
            switch event {
            case .input(.audio(let samples)):
                guard !samples.isEmpty else { continue }
                replay.append(samples)
                guard connection.closingDeadline == nil else { continue }
                unsent.append(contentsOf: samples)
                if unsent.count >= (speaking ? batchSamples : quietBatchSamples) { await flushAudio(on: &connection) }
            case .input(.speechStarted):
                speaking = true
                await flushAudio(on: &connection)
            case .input(.paused), .input(.resumed):
                continue
            case .input(.speechEnded):
                speaking = false
                await flushAudio(on: &connection)
                if tracker.turnOpen && connection.closingDeadline == nil {
                    await send(text: Self.control.finalize, on: &connection)
                }
            case .inputFinished:
                inputFinished = true
                await closeStream(&connection)
            case .tick:
                await flushAudio(on: &connection)
                if let outcome = await tick(&connection) { return outcome }
            case .message(generation, let message):
                if let outcome = try await handle(message, connection: &connection, onEvent: onEvent) { return outcome }
            case .readFailed(generation, let description):
                if connection.closingDeadline != nil && (connection.metadataReceived || replay.count == 0) { return .finished }
                return .dropped(Drop(code: nil, reason: description))
            case .message, .readFailed:
                continue  // from an earlier connection
            }
        }
        // The queue ends when this task is cancelled or it overflowed.
        try Task.checkCancellation()
        throw ProviderError(
            provider: client.name, kind: .engine,
            message: "Parley fell behind Deepgram's stream: \(RecognitionQueue<Event>.capacity) events were waiting")
    }

    private mutating func handle(
        _ message: ProviderWebSocket.Message, connection: inout Connection, onEvent: (TranscriptEvent) async throws -> Void
    ) async throws -> Outcome? {
        switch message {
        case .text(let text):
            let reception = tracker.receive(text)
            if let end = reception.finalizedThrough { replay.finalized(through: end) }
            switch reception.kind {
            case .metadata:
                logger.debug("Deepgram sent its metadata")
                connection.metadataReceived = true
                // Metadata is the last message after CloseStream; say goodbye rather than wait.
                if connection.closingDeadline != nil { try? await connection.socket.close(code: 1000) }
            case .error(let description):
                logger.warning("Deepgram reported an error", metadata: ["parley.deepgram.error": "\(description)"])
            case .unknown(let type):
                logger.debug("ignoring a Deepgram message", metadata: ["parley.deepgram.type": "\(type)"])
            case .unparseable:
                logger.debug("ignoring a Deepgram message that is not a JSON object with a type")
            case .results, .speechStarted, .utteranceEnd:
                logger.trace("Deepgram message", metadata: ["parley.deepgram.message": "\(text)"])
            }
            for event in reception.events { try await onEvent(event) }
            return nil
        case .binary:
            logger.debug("ignoring a binary message from Deepgram")
            return nil
        case .closed(let code, let reason):
            if connection.closingDeadline != nil && (code == 1000 || connection.metadataReceived || replay.count == 0) {
                return .finished
            }
            if code == 1000 {
                throw ProviderError(
                    provider: client.name, kind: .streamEnded,
                    message: client.redacted("Deepgram closed the stream before the session ended: 1000\(reason.isEmpty ? "" : " \(reason)")"))
            }
            return .dropped(Drop(code: code, reason: reason))
        }
    }

    private mutating func tick(_ connection: inout Connection) async -> Outcome? {
        let now = client.clock.now
        if let deadline = connection.closingDeadline {
            guard now >= deadline else { return nil }
            logger.warning("Deepgram sent no Metadata or close after CloseStream; closing")
            return .finished
        }
        if connection.sendFailure.happened {
            guard connection.sendFailure.isOverdue(at: now) else { return nil }
            return .dropped(Drop(code: nil, reason: "sending failed: \(connection.sendFailure.reason ?? "")"))
        }
        if now - connection.lastSent >= client.keepAliveInterval {
            await send(text: Self.control.keepAlive, on: &connection)
        }
        return nil
    }

    private mutating func closeStream(_ connection: inout Connection) async {
        // On a broken connection the drop comes first; the next connection sends CloseStream.
        guard connection.closingDeadline == nil, !connection.sendFailure.happened else { return }
        await flushAudio(on: &connection)
        await send(text: Self.control.closeStream, on: &connection)
        connection.closingDeadline = client.clock.now + client.closeTimeout
    }

    /// Sends the audio held back, if any.
    private mutating func flushAudio(on connection: inout Connection) async {
        guard !unsent.isEmpty else { return }
        if connection.closingDeadline == nil { await send(audio: unsent, on: &connection) }
        // After the send, so the storage is no longer shared and is reused rather than copied.
        unsent.removeAll(keepingCapacity: true)
    }

    private func send(audio samples: [Int16], on connection: inout Connection) async {
        guard !connection.sendFailure.happened else { return }
        let bytes = client.encoding == .mulaw ? MuLaw.encode(samples) : PCM.littleEndianBytes(samples)
        do {
            try await connection.socket.send(binary: bytes)
            connection.lastSent = client.clock.now
        } catch {
            broken(&connection, error)
        }
    }

    private func send(text: String, on connection: inout Connection) async {
        guard !connection.sendFailure.happened else { return }
        do {
            try await connection.socket.send(text: text)
            connection.lastSent = client.clock.now
        } catch {
            broken(&connection, error)
        }
    }

    private func broken(_ connection: inout Connection, _ error: any Error) {
        // The audio stays in the replay buffer; the reader's close (or the tick) ends the connection.
        connection.sendFailure.record(error, at: client.clock.now)
        logger.debug("sending to Deepgram failed", metadata: ["parley.error": "\(error)"])
    }
}
