import Foundation
import NIOCore
import ParleyCore

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
    ///
    /// The caller lives on its connection's event loop (``CapacityCaller``): its frames go out
    /// from a timer there and its reads are handled there, with no task, async writer or lock in
    /// between. On Hummingbird's WebSocket client (a task per caller, reading through an async
    /// stream and writing through an async writer) the load generator took about 1.4 times the
    /// server's CPU and, with it, saturated the 2-core machine at 255 sessions.
    func run() async {
        let caller: any Channel
        do {
            caller = try await CapacityCaller.connect(id: id, plan: plan, results: results)
        } catch is CancellationError {
            return
        } catch {
            if ContinuousClock.now < plan.stop { results.error("connection failed or dropped: \(error)") }
            return
        }
        await withTaskCancellationHandler {
            try? await caller.closeFuture.get()
        } onCancel: {
            caller.close(promise: nil)
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
