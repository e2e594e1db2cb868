import ParleyCore
import ParleyTesting
import Synchronization
import Testing

/// ``AudioPacer`` on a manual clock: frames in bursts of `batch`, the lead kept, and a pause that
/// ends the sleep between bursts at once.
@Suite("Audio pacer")
struct AudioPacerTests {
    /// What the pacer handed out, with the clock's time in ms: one item per 20 ms frame (a
    /// message of several frames gives several), and the messages' times.
    final class Sent: Sendable {
        let items = Mutex<[(output: String, at: Int)]>([])
        let messages = Mutex<[Int]>([])
        /// Frames per message.
        let sizes = Mutex<[Int]>([])
        var frames: Int { items.withLock { $0.filter { $0.output == "frame" }.count } }
        func add(_ output: AudioPacer.Output, at instant: SessionClock.Instant) {
            let at = Int(instant.offset.milliseconds.rounded())
            switch output {
            case .frames(let samples):
                messages.withLock { $0.append(at) }
                sizes.withLock { $0.append((samples.count + 159) / 160) }
                // 160 samples per 20 ms frame at 8 kHz.
                items.withLock { $0.append(contentsOf: repeatElement((output: "frame", at: at), count: (samples.count + 159) / 160)) }
            case .paused: items.withLock { $0.append(("paused", at)) }
            case .resumed: items.withLock { $0.append(("resumed", at)) }
            }
        }
    }

    /// One second of audio at 8 kHz: 50 frames of 20 ms.
    static let second = AudioChunk(samples: [Int16](repeating: 100, count: 8000), sampleRate: 8000)

    /// Plays `second` through a pacer on `clock`, in a task that records what it sends.
    static func play(batch: Duration, gate: PlaybackGate? = nil, clock: ManualClock, into sent: Sent) -> Task<Void, any Error> {
        let session = SessionClock(clock)
        return Task {
            var pacer = AudioPacer(outputRate: 8000, lead: .milliseconds(100), batch: batch, gate: gate, clock: session)
            try await pacer.play(Self.second) { sent.add($0, at: session.now) }
            try await pacer.finish { sent.add($0, at: session.now) }
        }
    }

    /// Advances the clock to each deadline the pacer sleeps to until it is done.
    static func drive(_ clock: ManualClock, until task: Task<Void, any Error>, sent: Sent) async throws {
        while sent.frames < 50 {
            _ = await poll(timeout: .seconds(5)) { clock.sleeperCount >= 1 || sent.frames >= 50 }
            guard sent.frames < 50, let next = clock.nextDeadline else { break }
            clock.advance(by: next.offset - clock.now.offset)
        }
        try await task.value
    }

    @Test("with a 40 ms batch, frames go out three at a time every 60 ms after the first burst; without, one per 20 ms")
    func bursts() async throws {
        for (batch, perWake) in [(Duration.milliseconds(40), 3), (.zero, 1)] {
            let clock = ManualClock()
            let sent = Sent()
            let task = Self.play(batch: batch, clock: clock, into: sent)
            try await Self.drive(clock, until: task, sent: sent)
            let times = sent.items.withLock { $0.map(\.at) }
            #expect(times.count == 50)
            // A first burst at once (the lead, as the pacer anchors it, and the batch), then wakes
            // `20 × perWake` ms apart with `perWake` frames each.
            let first = times.prefix { $0 == 0 }.count
            #expect(first == 2 + Int(batch.milliseconds / 20), "\(times)")
            let wakes = Dictionary(grouping: times.dropFirst(first), by: { $0 }).sorted { $0.key < $1.key }
            #expect(wakes.dropLast().allSatisfy { $0.value.count == perWake }, "\(times)")
            #expect(zip(wakes, wakes.dropFirst()).allSatisfy { $1.key - $0.key == 20 * perWake }, "\(times)")
            // Each later wake writes its frames as one message.
            let messages = sent.messages.withLock { $0 }
            #expect(messages.filter { $0 > 0 }.count == wakes.count, "\(messages)")
            // Frame k is never sent after 20 × (k − 1) ms (its deadline as anchored), nor before
            // the batch allows.
            for (index, at) in times.enumerated() where index > 0 {
                let deadline = (index - 1) * 20
                #expect(at <= deadline && at >= deadline - Int(batch.milliseconds), "frame \(index) at \(at)")
            }
        }
    }

    @Test("a pause while the pacer sleeps between bursts is announced at once, and playback resumes after")
    func pauseWakes() async throws {
        let clock = ManualClock()
        let session = SessionClock(clock)
        let gate = PlaybackGate(clock: session)
        let sent = Sent()
        let task = Self.play(batch: .milliseconds(40), gate: gate, clock: clock, into: sent)
        #expect(await clock.waitForSleepers(1))
        #expect(sent.frames == 4)
        clock.advance(by: .milliseconds(10))
        gate.pause()
        // No clock advance: the sleep until 60 ms ends because of the pause.
        #expect(await poll(timeout: .seconds(5)) { sent.items.withLock { $0.last?.output == "paused" } })
        #expect(sent.items.withLock { $0.last?.at } == 10)
        clock.advance(by: .milliseconds(490))
        gate.resume()
        try await Self.drive(clock, until: task, sent: sent)
        let items = sent.items.withLock { $0 }
        #expect(items.filter { $0.output == "resumed" }.map(\.at) == [500])
        #expect(sent.frames == 50)
        // Frame 4 was due at 60 ms; 490 ms paused moves it to 550.
        let next = items.filter { $0.output == "frame" }[4]
        #expect(next.at == 550)
    }

    @Test("chunks that came while the pacer slept join its bursts; without them a burst holds only the chunk in hand")
    func burstsAcrossChunks() async throws {
        // The second in 25 chunks of 40 ms (two frames each), all there from the start.
        let chunks = stride(from: 0, to: 8000, by: 320).map { AudioChunk(samples: Array(Self.second.samples[$0..<$0 + 320]), sampleRate: 8000) }
        for refills in [true, false] {
            let clock = ManualClock()
            let session = SessionClock(clock)
            let sent = Sent()
            let rest = Mutex(Array(chunks.dropFirst()))
            let task = Task {
                var pacer = AudioPacer(outputRate: 8000, lead: .milliseconds(100), batch: .milliseconds(40), clock: session)
                if refills {
                    // As the reply's audio queue gives them: everything that has come.
                    try await pacer.play(
                        chunks[0],
                        refill: {
                            rest.withLock { chunks in
                                defer { chunks.removeAll() }
                                return chunks
                            }
                        }
                    ) {
                        sent.add($0, at: session.now)
                    }
                } else {
                    for chunk in chunks { try await pacer.play(chunk) { sent.add($0, at: session.now) } }
                }
                try await pacer.finish { sent.add($0, at: session.now) }
            }
            try await Self.drive(clock, until: task, sent: sent)
            let times = sent.items.withLock { $0.map(\.at) }
            #expect(times.count == 50)
            let wakes = Dictionary(grouping: times.filter { $0 > 0 }, by: { $0 }).sorted { $0.key < $1.key }
            if refills {
                // As with one long chunk: the lead and the batch at once, then three frames per wake.
                #expect(times.prefix { $0 == 0 }.count == 4, "\(times)")
                #expect(wakes.dropLast().allSatisfy { $0.value.count == 3 }, "\(times)")
            } else {
                #expect(sent.sizes.withLock { $0.max() } == 2, "\(times)")
            }
        }
    }
}
