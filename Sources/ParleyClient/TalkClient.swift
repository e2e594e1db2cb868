import Foundation
import HummingbirdWSClient
public import Logging
import NIOCore
public import ParleyCore
import Synchronization

/// Talks to a Parley server the way the browser does: streams speech in real time in 20 ms
/// frames, then silence, and collects each turn's transcript, reply text, audio and timings.
///
/// `parley talk` is a thin wrapper around this; tests use it as their WebSocket client.
public struct TalkClient: Sendable {
    /// What to do.
    public struct Options: Sendable {
        /// The server's voice WebSocket, such as `ws://127.0.0.1:8080/ws`.
        public var url: String
        /// How many times to speak the question (one turn each, each after the previous reply).
        public var turns: Int
        /// Silence sent before the speech, as a microphone would.
        public var leadingSilence: Duration
        /// How long to wait for a turn to end after the speech was sent.
        public var replyTimeout: Duration
        /// A session token (or the server's API key), sent as `Authorization: Bearer`; never logged.
        public var token: String?

        /// Creates options.
        public init(
            url: String, turns: Int = 1, leadingSilence: Duration = .milliseconds(500), replyTimeout: Duration = .seconds(60),
            token: String? = nil
        ) {
            self.url = url
            self.token = token
            self.turns = turns
            self.leadingSilence = leadingSilence
            self.replyTimeout = replyTimeout
        }
    }

    /// One finished turn as the client saw it.
    public struct Turn: Sendable {
        /// The server's turn id.
        public var turnID: Int
        /// The final transcript of the user's speech.
        public var transcript: String
        /// The reply text.
        public var reply: String
        /// Whether the reply was interrupted.
        public var interrupted: Bool
        /// Client-side milliseconds from the end of the speech sent to: `final_transcript`,
        /// `first_token`, `first_audio`.
        public var timeline: [String: Double]
        /// The server's timeline from `turn.end`.
        public var serverTimeline: TurnTimeline
        /// Reply audio samples received.
        public var audioSamples: Int
        /// The end-of-turn model's verdict on the user's turn, from `turn.end`, if it judged it.
        public var endOfTurn: EndOfTurnVerdict? = nil

        /// The turn as one JSON object, as `parley talk` prints it.
        public var json: JSONValue {
            var server: [String: JSONValue] = [:]
            for stage in TurnTimeline.Stage.allCases {
                server[stage.rawValue] = serverTimeline[stage].map { .number(($0.milliseconds * 10).rounded() / 10) } ?? .null
            }
            return [
                "turn": .number(Double(turnID)),
                "transcript": .string(transcript),
                "reply": .string(reply),
                "interrupted": .bool(interrupted),
                "timeline": .object(timeline.mapValues { .number(($0 * 10).rounded() / 10) }),
                "server_timeline": .object(server),
                "audio_samples": .number(Double(audioSamples)),
                "end_of_turn": endOfTurn.map(WireProtocol.json(for:)) ?? .null,
            ]
        }
    }

    /// What the conversation produced.
    public struct Result: Sendable {
        /// The session's description.
        public var session: SessionDescription
        /// The turns, in order.
        public var turns: [Turn]
        /// All reply audio received, mono PCM16.
        public var audio: [Int16]
        /// Its sample rate in Hz.
        public var sampleRate: Int
        /// Every event received, in order (audio frames excluded).
        public var events: [SessionEvent]
    }

    /// Why talking failed; the message is meant for the person at the terminal.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The options.
    public var options: Options
    /// The logger.
    public var logger: Logger

    /// Creates a client.
    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Speaks `speech` (mono floats at `sampleRate` Hz) `options.turns` times, each time waiting for
    /// the reply to the last thing it says (speech in it that talks over a reply makes turns of its
    /// own), and returns what happened; `onTurn` is called as each turn ends.
    public func run(speech: [Float], sampleRate: Int, onTurn: @escaping @Sendable (Turn) -> Void = { _ in }) async throws -> Result {
        let state = TalkState()
        let options = self.options
        do {
            try await WebSocketClient.connect(
                url: options.url,
                configuration: .init(
                    maxFrameSize: WireProtocol.maxFrameBytes,
                    additionalHeaders: options.token.map { [.authorization: "Bearer \($0)"] } ?? [:]),
                logger: logger
            ) { inbound, outbound, _ in
                // Done when the receiver has every answer; a sender that fails (no reply in time)
                // ends the talk at once rather than leaving the receiver waiting on the server.
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    defer { group.cancelAll() }
                    group.addTask {
                        try await Self.send(speech: speech, sampleRate: sampleRate, options: options, state: state, outbound: outbound)
                        return false
                    }
                    group.addTask {
                        try await Self.receive(inbound: inbound, state: state, options: options, onTurn: onTurn)
                        return true
                    }
                    while let receiverDone = try await group.next(), !receiverDone {}
                }
                try? await outbound.close(.normalClosure, reason: "done")
            }
        } catch let failure as Failure {
            throw failure
        } catch let error as SessionError {
            throw Failure("server error \(error.code): \(error.message)")
        } catch {
            throw Failure("cannot talk to \(options.url): \(Self.describe(error))")
        }
        let snapshot = state.snapshot
        guard let session = snapshot.session else {
            throw Failure("\(options.url) closed the connection before the session was ready")
        }
        let endedByAgent = snapshot.events.contains { if case .sessionEnd = $0 { true } else { false } }
        guard snapshot.passesAnswered >= options.turns || endedByAgent else {
            throw Failure("the server closed the connection after answering \(snapshot.passesAnswered) of \(options.turns) turns")
        }
        return Result(
            session: session, turns: snapshot.turns, audio: snapshot.audio, sampleRate: session.outputSampleRate,
            events: snapshot.events)
    }

    private static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused (is `parley serve` running?)" }
        if text.contains("UpgradeFailed") || text.contains("upgrade failed") {
            // The client library does not expose the refusal's status; the server answers 401 without a
            // valid token, 503 while it starts, drains or is full, 403 to a foreign Origin, 429 to an
            // address over its connection limit.
            return "the server refused the WebSocket upgrade: 401 without a valid --token when PARLEY_API_KEY is set there, "
                + "503 while starting, draining or at --max-sessions (see GET /health/ready), 429 over --max-connections-per-address"
        }
        return text
    }

    /// Streams the speech in real time, once per turn, with silence in between, until all turns ended.
    private static func send(
        speech: [Float], sampleRate: Int, options: Options, state: TalkState, outbound: WebSocketOutboundWriter
    ) async throws {
        let session = try await state.waitForSession(timeout: .seconds(10), url: options.url)
        var resampler = Resampler(from: sampleRate, to: session.inputSampleRate)
        let samples = PCM.int16s(resampler.process(speech) + resampler.finish())
        let frameSamples = session.inputSampleRate / 50
        let lastVoicedFrame = Self.lastVoicedFrame(samples, frameSamples: frameSamples)
        let silence = [Int16](repeating: 0, count: frameSamples)
        let leadFrames = Int(options.leadingSilence.seconds * 50)
        let clock = ContinuousClock()
        let start = clock.now
        var framesSent = 0

        func sendFrame(_ frame: ArraySlice<Int16>) async throws {
            try await clock.sleep(until: start + .milliseconds(20) * framesSent)
            var buffer = ByteBuffer()
            buffer.reserveCapacity(frame.count * 2)
            PCM.withLittleEndianBytes(frame) { buffer.writeBytes($0) }
            try await outbound.write(.binary(buffer))
            framesSent += 1
            if framesSent % 12 == 0, let progress = state.playbackProgress(now: clock.now) {
                try await outbound.write(.text(WireProtocol.encode(progress)!))
            }
        }

        for turn in 1...options.turns {
            for _ in 0..<leadFrames { try await sendFrame(silence[...]) }
            var offset = 0
            var frameIndex = 0
            while offset < samples.count {
                let end = min(samples.count, offset + frameSamples)
                try await sendFrame(samples[offset..<end])
                if frameIndex == lastVoicedFrame { state.speechEnded(turn: turn, at: clock.now) }
                offset = end
                frameIndex += 1
            }
            let deadline = clock.now + options.replyTimeout
            // Until the last thing said is answered: earlier words may have made turns of their own.
            while state.passesAnswered < turn {
                guard clock.now < deadline else {
                    let heard =
                        state.heardSpeech
                        ? "the server heard speech but sent no reply"
                        : "the server never detected speech in the audio"
                    throw Failure("turn \(turn): no reply within \(options.replyTimeout) (\(heard))")
                }
                try await sendFrame(silence[...])
            }
        }
        // Let the last playback progress and the close handshake go out.
        try await sendFrame(silence[...])
    }

    /// Reads server events until the last words of every pass have been answered.
    private static func receive(
        inbound: WebSocketInboundStream, state: TalkState, options: Options, onTurn: @Sendable (Turn) -> Void
    ) async throws {
        for try await message in inbound.messages(maxSize: WireProtocol.maxFrameBytes) {
            let now = ContinuousClock.now
            switch message {
            case .binary(let buffer):
                let samples = buffer.withUnsafeReadableBytes { bytes in
                    (try? WireProtocol.decodeAudio(bytes)) ?? []
                }
                state.receivedAudio(samples, at: now)
            case .text(let text):
                guard let event = try WireProtocol.decodeServerText(text) else { continue }
                if case .ready(let session) = event, session.protocolVersion != WireProtocol.version {
                    throw Failure("server speaks protocol \(session.protocolVersion); this client speaks \(WireProtocol.version)")
                }
                if case .error(let error) = event {
                    throw Failure("server error \(error.code): \(error.message)")
                }
                if let turn = state.received(event, at: now) {
                    onTurn(turn)
                    if state.passesAnswered >= options.turns { return }
                }
                // The agent ended the call: there are no more turns to wait for.
                if case .sessionEnd = event { return }
            }
        }
    }

    /// Index of the last 20 ms frame louder than −45 dBFS (the end of speech in the file).
    static func lastVoicedFrame(_ samples: [Int16], frameSamples: Int) -> Int {
        var last = -1
        var index = 0
        var offset = 0
        while offset < samples.count {
            let end = min(samples.count, offset + frameSamples)
            if EnergyVoiceActivityDetector.decibels(PCM.rms(samples[offset..<end])) > -45 { last = index }
            offset = end
            index += 1
        }
        return last < 0 ? index - 1 : last
    }
}

/// What the sender and the receiver share.
final class TalkState: Sendable {
    struct Snapshot: Sendable {
        var session: SessionDescription?
        var turns: [TalkClient.Turn] = []
        var audio: [Int16] = []
        var events: [SessionEvent] = []
        var heardSpeech = false
        var speechEnd: [Int: ContinuousClock.Instant] = [:]
        var currentTranscript = ""
        var currentTurnID: Int?
        var marks: [String: ContinuousClock.Instant] = [:]
        var turnAudio = 0
        var audioStart: ContinuousClock.Instant?
        /// Times through the speech that have been answered: each pass waits for the reply to the
        /// last thing it said, whatever turns its earlier words made (a reply the speech in the
        /// file talked over ends interrupted, and does not count).
        var passesAnswered = 0
        /// The latest pass whose last voiced frame has been sent.
        var passSpoken = 0
        /// The latest turn committed (`transcript.final`): a pass is answered by a reply heard
        /// out to the newest words, after the pass's speech was all sent.
        var latestCommittedTurn: Int?
    }
    private let state = Mutex(Snapshot())
    private let ready = CancellationSignal()

    var snapshot: Snapshot { state.withLock { $0 } }
    /// Passes through the speech whose last words have been answered.
    var passesAnswered: Int { state.withLock { $0.passesAnswered } }
    var heardSpeech: Bool { state.withLock { $0.heardSpeech } }

    func waitForSession(timeout: Duration, url: String) async throws -> SessionDescription {
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Whichever comes first, the session or the timeout.
            defer { group.cancelAll() }
            group.addTask { [ready] in await ready.wait() }
            group.addTask { try await Task.sleep(for: timeout) }
            try await group.next()
        }
        guard let session = state.withLock({ $0.session }) else {
            throw TalkClient.Failure("\(url) sent no session.ready within \(timeout)")
        }
        return session
    }

    func speechEnded(turn pass: Int, at instant: ContinuousClock.Instant) {
        state.withLock { state in
            state.speechEnd[pass] = instant
            state.passSpoken = pass
        }
    }

    func receivedAudio(_ samples: [Int16], at instant: ContinuousClock.Instant) {
        state.withLock { state in
            if state.marks["first_audio"] == nil { state.marks["first_audio"] = instant }
            if state.audioStart == nil { state.audioStart = instant }
            state.audio.append(contentsOf: samples)
            state.turnAudio += samples.count
        }
    }

    /// A `playback.progress` for the current turn, as if its audio played in real time from arrival.
    func playbackProgress(now: ContinuousClock.Instant) -> ClientMessage? {
        state.withLock { state in
            guard let turnID = state.currentTurnID, let start = state.audioStart, let rate = state.session?.outputSampleRate
            else { return nil }
            let played = min(state.turnAudio, Int(start.duration(to: now).seconds * Double(rate)))
            return .playbackProgress(turnID: turnID, playedSamples: max(0, played))
        }
    }

    /// Records an event; returns the turn it completed, if any.
    func received(_ event: SessionEvent, at instant: ContinuousClock.Instant) -> TalkClient.Turn? {
        let (turn, isReady) = state.withLock { state -> (TalkClient.Turn?, Bool) in
            state.events.append(event)
            switch event {
            case .ready(let session):
                state.session = session
                return (nil, true)
            case .speechStarted:
                state.heardSpeech = true
            case .transcriptFinal(let turnID, let text):
                state.latestCommittedTurn = turnID
                state.currentTurnID = turnID
                state.currentTranscript = text
                state.marks["final_transcript"] = instant
            case .agentText:
                if state.marks["first_token"] == nil { state.marks["first_token"] = instant }
            case .turnEnd(let summary):
                let origin = state.speechEnd[state.passesAnswered + 1]
                var timeline: [String: Double] = [:]
                if let origin {
                    for (key, mark) in state.marks { timeline[key] = origin.duration(to: mark).milliseconds }
                }
                let turn = TalkClient.Turn(
                    turnID: summary.turnID, transcript: state.currentTranscript, reply: summary.text,
                    interrupted: summary.interrupted, timeline: timeline, serverTimeline: summary.timeline,
                    audioSamples: state.turnAudio, endOfTurn: summary.endOfTurn)
                state.turns.append(turn)
                // The newest words' turn, not interrupted, once the pass's speech was all sent (its
                // words may have been committed before the last quiet frames were: a VAD that ends
                // speech sooner than the file's level does).
                if state.passSpoken > state.passesAnswered, summary.turnID == state.latestCommittedTurn, !summary.interrupted {
                    state.passesAnswered += 1
                }
                state.marks.removeAll()
                state.turnAudio = 0
                state.audioStart = nil
                return (turn, false)
            default:
                break
            }
            return (nil, false)
        }
        if isReady { ready.fire() }
        return turn
    }
}
