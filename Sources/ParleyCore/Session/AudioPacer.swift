/// Sends reply audio in fixed frames, at real-time pace plus a small lead.
///
/// The optional ``PlaybackGate`` holds the frames while the user may be talking over the agent:
/// the pacer announces ``Output/paused`` before it waits and ``Output/resumed`` after, from the
/// same task that sends the frames, so no frame can slip between the announcement and the pause.
///
/// Frame `k` of a reply is due at `start + k × frameDuration − lead`: deadlines come from one
/// anchor, not from accumulated sleeps, so pacing does not drift. If the source falls behind real
/// time (a slow synthesiser), the anchor moves so the client gets `lead` of audio again instead of
/// a burst. Audio at another rate is resampled to ``outputRate`` first.
///
/// Frames go out in small bursts: waking for a frame, the pacer also sends those due within
/// ``batch`` after it, joined into one ``Output/frames(_:)``, so it wakes, writes one message and
/// the socket flushes once per `batch + frameDuration` rather than once per frame; the client holds
/// between `lead` and `lead + batch` of audio. Between bursts it sleeps on the gate, which wakes it
/// the moment a pause begins.
public struct AudioPacer: Sendable {
    /// What the pacer hands to its sender, in order.
    public enum Output: Sendable, Equatable {
        /// One or more whole frames of audio, due now, joined (the last frame of a reply may be
        /// short).
        case frames([Int16])
        /// The gate closed: no frame follows until ``resumed``.
        case paused
        /// The gate opened again.
        case resumed
    }

    /// Rate of the frames sent, in Hz.
    public let outputRate: Int
    /// Samples per frame.
    public let frameSamples: Int
    /// Length of a frame.
    public let frameDuration: Duration
    /// How far ahead of real time audio may be sent.
    public let lead: Duration
    /// Frames due this soon after the one being sent go out with it.
    public let batch: Duration
    /// The most frames in one message: the frame woken for and those due within ``batch``. A
    /// pacer running late (a busy machine) catches up in messages of this size, back to back.
    public var maximumBurst: Int { 1 + Int(batch / frameDuration) }
    /// Frames sent so far.
    public private(set) var framesSent = 0
    /// Samples sent so far.
    public private(set) var samplesSent = 0

    private var pending: [Int16] = []
    private var start: SessionClock.Instant?
    private var resampler: Resampler?
    private let gate: PlaybackGate?
    private let clock: SessionClock

    /// Creates a pacer that keeps time by `clock` (the session's).
    public init(
        outputRate: Int, frameDuration: Duration = .milliseconds(20), lead: Duration = .milliseconds(100),
        batch: Duration = .zero, gate: PlaybackGate? = nil, clock: SessionClock = .continuous
    ) {
        self.batch = max(.zero, batch)
        self.clock = clock
        self.outputRate = outputRate
        self.frameDuration = frameDuration
        self.frameSamples = max(1, Int(Double(outputRate) * frameDuration.seconds))
        self.lead = lead
        self.gate = gate
    }

    /// Queues a chunk and sends every complete frame when it is due. Before each burst it adds the
    /// chunks `refill` gives (those that came meanwhile), so a burst can hold frames of several
    /// chunks.
    public mutating func play(
        _ chunk: AudioChunk, refill: () -> [AudioChunk] = { [] }, send: (Output) async throws -> Void
    ) async throws {
        append(chunk)
        try await sendFrames(flushing: false, refill: refill, send: send)
    }

    /// Sends what remains, the last frame possibly short.
    public mutating func finish(send: (Output) async throws -> Void) async throws {
        if var resampler {
            pending.append(contentsOf: resampler.finishInt16())
            self.resampler = nil
        }
        try await sendFrames(flushing: true, refill: { [] }, send: send)
    }

    private mutating func append(_ chunk: AudioChunk) {
        if chunk.sampleRate == outputRate {
            pending.append(contentsOf: chunk.samples)
        } else {
            if resampler?.inputRate != chunk.sampleRate {
                if var previous = resampler { pending.append(contentsOf: previous.finishInt16()) }
                resampler = Resampler(from: chunk.sampleRate, to: outputRate)
            }
            pending.append(contentsOf: resampler!.process(chunk.samples))
        }
    }

    private mutating func sendFrames(
        flushing: Bool, refill: () -> [AudioChunk], send: (Output) async throws -> Void
    ) async throws {
        var offset = 0
        defer { pending.removeFirst(offset) }
        func hasFrame(from offset: Int) -> Bool {
            pending.count - offset >= frameSamples || (flushing && offset < pending.count)
        }
        while hasFrame(from: offset) {
            try await waitForDeadline(send: send)
            for chunk in refill() { append(chunk) }
            // This frame and the ones due within the burst after it: one message, one flush.
            var end = min(pending.count, offset + frameSamples)
            var frames = 1
            while frames < maximumBurst, hasFrame(from: end), isDue(frame: framesSent + frames) {
                end = min(pending.count, end + frameSamples)
                frames += 1
            }
            try await send(.frames(Array(pending[offset..<end])))
            framesSent += frames
            samplesSent += end - offset
            offset = end
        }
    }

    /// Whether frame `index` may join the burst being sent: due within ``batch``, and not so late
    /// that ``waitForDeadline(send:)`` must move the anchor first.
    private func isDue(frame index: Int) -> Bool {
        guard let start, gate?.isPaused != true else { return false }
        let now = clock.now
        let deadline = Self.deadline(ofFrame: index, start: start, paused: gate?.pausedTotal ?? .zero, frameDuration: frameDuration, lead: lead)
        return deadline >= now - frameDuration && deadline <= now + batch
    }

    /// When frame `index` is due: from the one anchor, moved by the time spent paused.
    private static func deadline(
        ofFrame index: Int, start: SessionClock.Instant, paused: Duration, frameDuration: Duration, lead: Duration
    ) -> SessionClock.Instant {
        start + paused + frameDuration * index - lead
    }

    private mutating func waitForDeadline(send: (Output) async throws -> Void) async throws {
        while true {
            if let gate, gate.isPaused {
                try await send(.paused)
                await gate.waitUntilOpen()
                try Task.checkCancellation()
                try await send(.resumed)
            }
            let now = clock.now
            guard let start else {
                // Playback starts now; frames up to `lead` ahead go out at once.
                self.start = now
                return
            }
            let paused = gate?.pausedTotal ?? .zero
            var deadline = Self.deadline(ofFrame: framesSent, start: start, paused: paused, frameDuration: frameDuration, lead: lead)
            // Known issue (2026-12-04): this takes a reply's first frames for late (their deadlines
            // are up to `lead` in the past), so the lead settles at one to two frames (plus the
            // batch) rather than `lead`. Comparing the play time (deadline + lead) instead keeps the
            // full lead, but then a pacer waiting for a slow synthesiser's next chunk hears a pause
            // only when that chunk comes; that needs the pacer to wait on the gate between chunks too.
            if deadline < now - frameDuration {
                self.start = now + lead - frameDuration * framesSent - paused
                deadline = now
            }
            // Due within the burst: sent now, with the frame before it.
            if deadline > now + batch {
                if let gate { try await gate.sleep(until: deadline, clock: clock) } else { try await clock.sleep(until: deadline) }
            }
            // A pause that began while waiting holds this frame too.
            if gate?.isPaused != true { return }
        }
    }
}
