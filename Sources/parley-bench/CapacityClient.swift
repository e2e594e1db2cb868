import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import ParleyCore
import Synchronization

/// One simulated caller of `parley-bench capacity`, talking to `/ws` as the browser client does.
///
/// It streams a 20 ms frame every 20 ms from connection to hang-up, on deadlines rather than
/// accumulated sleeps, so the audio clock stays on the wall clock. Until its start it streams
/// near-silence (an idle session). Then it repeats a cycle: a spoken question; silence until the
/// reply; 1 s of the reply, then speech over it (a barge-in that becomes the next question); that
/// reply heard out, reporting `playback.progress` every 250 ms as the browser does; a pause.
struct CapacityClient {
    /// What every client sends and how the run is timed.
    struct Plan: Sendable {
        let port: Int
        /// When the cycles may start (each client adds its own offset).
        let activeStart: ContinuousClock.Instant
        /// When measuring starts (turns before it are not counted).
        let measureStart: ContinuousClock.Instant
        /// When every client hangs up.
        let stop: ContinuousClock.Instant
        /// The longest spread of the clients' first questions after `activeStart`.
        let spread: Duration
    }

    static let frame: Duration = .milliseconds(20)
    static let samplesPerFrame = 320
    static let questionFrames = 50  // 1 s
    static let bargeInFrames = 40  // 0.8 s
    static let bargeInAfter: Duration = .seconds(1)
    static let pauseAfterReply: Duration = .milliseconds(1500)
    static let replyTimeout: Duration = .seconds(10)
    static let progressInterval: Duration = .milliseconds(250)

    /// A voiced 20 ms frame: 150, 300 and 450 Hz at about −12 dBFS (whole periods, so frames join
    /// without clicks).
    static let voice: ByteBuffer = {
        let samples = (0..<samplesPerFrame).map { index -> Int16 in
            let t = Double(index) / 16000
            let value = 0.12 * sin(2 * .pi * 150 * t) + 0.08 * sin(2 * .pi * 300 * t) + 0.05 * sin(2 * .pi * 450 * t)
            return Int16(value * 32767)
        }
        return ByteBuffer(bytes: PCM.littleEndianBytes(samples[...]))
    }()

    /// Room noise at about −60 dBFS.
    static let quiet: ByteBuffer = {
        var generator = SplitMix64(seed: 7)
        let samples = (0..<samplesPerFrame).map { _ in Int16(Int(generator.next() % 65) - 32) }
        return ByteBuffer(bytes: PCM.littleEndianBytes(samples[...]))
    }()

    let id: Int
    let plan: Plan
    let results: CapacityResults

    /// Connects, talks until the plan's stop, and hangs up; failures are counted, never thrown.
    func run() async {
        let facts = Facts()
        do {
            try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(plan.port)/ws", configuration: .init(maxFrameSize: WireProtocol.maxFrameBytes),
                logger: Logger(label: "parley.bench.client")
            ) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    defer { group.cancelAll() }
                    group.addTask { try await receive(inbound, facts: facts) }
                    try await speak(outbound, facts: facts)
                    group.cancelAll()
                }
                try? await outbound.close(.normalClosure, reason: "done")
            }
        } catch is CancellationError {
        } catch {
            if ContinuousClock.now < plan.stop { results.error("connection failed or dropped: \(error)") }
        }
    }

    /// The reader's findings, shared with the writer.
    final class Facts: Sendable {
        let state = Mutex(CapacityClientState())
    }

    // MARK: Sending

    private func speak(_ outbound: WebSocketOutboundWriter, facts: Facts) async throws {
        var generator = SplitMix64(seed: UInt64(id) &* 0x9E37_79B9 &+ 1)
        let offset = Duration.milliseconds(Int64(generator.next() % UInt64(max(1, plan.spread / .milliseconds(1)))))
        var phase = Phase.idle(until: plan.activeStart + offset)
        var lastProgress = ContinuousClock.now
        var tick = ContinuousClock.now
        while tick < plan.stop {
            try await Task.sleep(until: tick, tolerance: .milliseconds(1), clock: .continuous)
            let now = ContinuousClock.now
            results.lateness(now - tick)
            if let cleared = facts.state.withLock({ $0.takeClearedReport() }) {
                try await send(.playbackCleared(turnID: cleared.turn, playedSamples: cleared.played), outbound)
            }
            let voiced = phase.isSpeaking
            try await outbound.write(.binary(voiced ? Self.voice : Self.quiet))
            phase = try await advance(phase, at: now, facts: facts, lastProgress: &lastProgress, outbound: outbound)
            tick += Self.frame
        }
    }

    /// What the caller is doing.
    enum Phase {
        /// Quiet until the instant, then a question whose reply gets barged into.
        case idle(until: ContinuousClock.Instant)
        /// Speaking for this many more frames; `bargeIn` says whether to talk over the reply.
        case speaking(framesLeft: Int, bargeIn: Bool)
        /// Quiet, waiting for the reply's first audio since the instant.
        case waiting(since: ContinuousClock.Instant, bargeIn: Bool)
        /// The reply is playing; at `bargeAt` the caller talks over it.
        case listening(turn: Int, bargeAt: ContinuousClock.Instant?, since: ContinuousClock.Instant)

        var isSpeaking: Bool {
            if case .speaking = self { return true }
            return false
        }
    }

    private func advance(
        _ phase: Phase, at now: ContinuousClock.Instant, facts: Facts, lastProgress: inout ContinuousClock.Instant,
        outbound: WebSocketOutboundWriter
    ) async throws -> Phase {
        switch phase {
        case .idle(let until):
            return now >= until ? .speaking(framesLeft: Self.questionFrames, bargeIn: true) : phase
        case .speaking(let framesLeft, let bargeIn):
            guard framesLeft <= 1 else { return .speaking(framesLeft: framesLeft - 1, bargeIn: bargeIn) }
            facts.state.withLock { $0.questionEnded(at: now) }
            return .waiting(since: now, bargeIn: bargeIn)
        case .waiting(let since, let bargeIn):
            if let reply = facts.state.withLock({ $0.replyStarted }) {
                lastProgress = now
                return .listening(turn: reply.turn, bargeAt: bargeIn ? reply.at + Self.bargeInAfter : nil, since: now)
            }
            if now - since > Self.replyTimeout {
                if now < plan.stop - Self.replyTimeout { results.error("no reply audio within \(Self.replyTimeout) of the question") }
                facts.state.withLock { $0.abandonReply() }
                return .idle(until: now + Self.pauseAfterReply)
            }
            return phase
        case .listening(let turn, let bargeAt, let since):
            let playback = facts.state.withLock { $0.playback(at: now) }
            if now - lastProgress >= Self.progressInterval, let playback, playback.turn == turn {
                lastProgress = now
                try await send(.playbackProgress(turnID: turn, playedSamples: playback.played), outbound)
            }
            if let bargeAt, now >= bargeAt {
                return .speaking(framesLeft: Self.bargeInFrames, bargeIn: false)
            }
            let heardOut = playback.map { $0.turn == turn && $0.ended && $0.played >= $0.received } ?? true
            if heardOut || now - since > .seconds(30) {
                if let playback, playback.turn == turn {
                    try await send(.playbackProgress(turnID: turn, playedSamples: playback.played), outbound)
                }
                return .idle(until: now + Self.pauseAfterReply)
            }
            return phase
        }
    }

    private func send(_ message: ClientMessage, _ outbound: WebSocketOutboundWriter) async throws {
        guard let text = WireProtocol.encode(message) else { return }
        try await outbound.write(.text(text))
    }

    // MARK: Receiving

    private func receive(_ inbound: WebSocketInboundStream, facts: Facts) async throws {
        for try await message in inbound.messages(maxSize: WireProtocol.maxFrameBytes) {
            let now = ContinuousClock.now
            switch message {
            case .binary(let buffer):
                let outcome = facts.state.withLock { $0.audio(samples: buffer.readableBytes / 2, at: now) }
                switch outcome {
                case .firstOfReply(let voiceToVoice?) where now >= plan.measureStart: results.voiceToVoice(voiceToVoice)
                case .stale: results.staleFrame()
                default: break
                }
            case .text(let text):
                guard let event = try? WireProtocol.decodeServerText(text) else {
                    results.error("undecodable server event")
                    continue
                }
                switch event {
                case .agentAudioStart(let turn, _): facts.state.withLock { $0.audioStarted(turn: turn) }
                case .agentAudioEnd(let turn, _): facts.state.withLock { $0.audioEnded(turn: turn) }
                case .agentPaused(let turn): facts.state.withLock { $0.paused(turn: turn) }
                case .agentResumed(let turn): facts.state.withLock { $0.resumed(turn: turn) }
                case .agentInterrupted(let turn): facts.state.withLock { $0.interrupted(turn: turn, at: now) }
                case .turnEnd(let summary) where now >= plan.measureStart && now < plan.stop: results.turn(summary)
                case .error(let error): results.error("server error \(error.code)")
                default: break
                }
            }
        }
        if ContinuousClock.now < plan.stop { results.error("the server closed the connection") }
    }
}

/// A client's view of the reply now playing, updated by its reader and read by its writer.
struct CapacityClientState: Sendable {
    /// What a received audio frame was.
    enum AudioOutcome {
        /// The first frame of a reply, with the time since the question ended when it answers one.
        case firstOfReply(Duration?)
        case more
        /// Audio after `agent.paused` or `agent.interrupted` of its turn: a bug.
        case stale
    }

    /// The reply being played.
    struct Playback {
        var turn: Int
        var received = 0
        var firstAudio: ContinuousClock.Instant?
        var ended = false
        var silenced = false
        var played = 0
    }

    private var current: Playback?
    private var questionEnd: ContinuousClock.Instant?
    private var pendingReply: (turn: Int, at: ContinuousClock.Instant)?
    private var clearedReport: (turn: Int, played: Int)?

    /// The question's last frame was sent; the next reply's first audio answers it.
    mutating func questionEnded(at instant: ContinuousClock.Instant) {
        questionEnd = instant
        pendingReply = nil
    }

    /// The question got no reply in time.
    mutating func abandonReply() {
        questionEnd = nil
    }

    /// The reply that started since the question ended, once its first audio arrived.
    var replyStarted: (turn: Int, at: ContinuousClock.Instant)? { pendingReply }

    mutating func audioStarted(turn: Int) {
        current = Playback(turn: turn)
    }

    mutating func audio(samples: Int, at instant: ContinuousClock.Instant) -> AudioOutcome {
        guard var playback = current, !playback.silenced else { return .stale }
        defer { current = playback }
        playback.received += samples
        guard playback.firstAudio == nil else { return .more }
        playback.firstAudio = instant
        guard let questionEnd else { return .firstOfReply(nil) }
        self.questionEnd = nil
        pendingReply = (playback.turn, instant)
        return .firstOfReply(questionEnd.duration(to: instant))
    }

    mutating func audioEnded(turn: Int) {
        if current?.turn == turn { current?.ended = true }
    }

    mutating func paused(turn: Int) {
        if current?.turn == turn { current?.silenced = true }
    }

    mutating func resumed(turn: Int) {
        if current?.turn == turn { current?.silenced = false }
    }

    /// The client flushes its playback and owes the server a `playback.cleared`.
    mutating func interrupted(turn: Int, at instant: ContinuousClock.Instant) {
        guard current?.turn == turn else { return }
        let played = playback(at: instant)?.played ?? 0
        current?.silenced = true
        current?.ended = true
        clearedReport = (turn, played)
    }

    mutating func takeClearedReport() -> (turn: Int, played: Int)? {
        defer { clearedReport = nil }
        return clearedReport
    }

    /// The reply as the simulated speaker plays it: real time from its first audio, never ahead
    /// of what arrived.
    mutating func playback(at instant: ContinuousClock.Instant) -> Playback? {
        guard var playback = current else { return nil }
        if let first = playback.firstAudio, !playback.silenced {
            let due = Int(first.duration(to: instant).seconds * 16000)
            playback.played = min(playback.received, max(playback.played, due))
        }
        current = playback
        return playback
    }
}

/// A small deterministic random number generator, so that every run staggers clients alike.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
