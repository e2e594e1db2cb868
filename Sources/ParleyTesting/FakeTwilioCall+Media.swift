import Foundation
import HummingbirdWSClient
import ParleyCore

extension FakeTwilioCall {
    /// Records Parley's messages until the socket closes.
    func read(_ inbound: WebSocketInboundStream) async throws {
        defer { state.withLock { $0.snapshot.closed = true } }
        for try await message in inbound.messages(maxSize: 1 << 20) {
            guard case .text(let text) = message else {
                problem("binary frame from Parley (Twilio rejects these: warning 31950)")
                continue
            }
            guard let json = JSONValue.parse(text), let event = json["event"]?.stringValue else {
                problem("not a JSON event: \(text.prefix(80))")
                continue
            }
            if json["streamSid"]?.stringValue != options.streamSID {
                problem("\(event) with streamSid \(json["streamSid"]?.serialized ?? "missing")")
            }
            let now = ContinuousClock.now
            switch event {
            case "media":
                guard let payload = json["media"]?["payload"]?.stringValue, let bytes = Data(base64Encoded: payload) else {
                    problem("media payload is not base64")
                    continue
                }
                if bytes.starts(with: Array("RIFF".utf8)) { problem("media payload has a WAV header") }
                state.withLock { state in
                    record(.media(bytes: bytes.count), at: now, in: &state)
                    state.snapshot.receivedBytes += bytes.count
                    state.snapshot.audio += bytes
                    if state.snapshot.audio.count > Self.audioKept { state.snapshot.audio.removeFirst(state.snapshot.audio.count - Self.audioKept) }
                    // Audio into an empty buffer starts playing as it arrives.
                    if !state.playQueue.contains(where: \.isAudio) {
                        state.playedThrough = now
                        state.playRemainder = 0
                    }
                    state.playQueue.append(.audio(bytes.count))
                }
            case "mark":
                guard let name = json["mark"]?["name"]?.stringValue else {
                    problem("mark without a name")
                    continue
                }
                state.withLock { state in
                    record(.mark(name), at: now, in: &state)
                    state.playQueue.append(.mark(name))
                }
            case "clear":
                // What played up to the clear's arrival was heard; the rest is dropped.
                let played = state.withLock { Self.play(&$0, through: now) }
                for name in played { try await echo(name) }
                let pending = state.withLock { state in
                    record(.clear, at: now, in: &state)
                    state.playedThrough = nil
                    state.playRemainder = 0
                    let marks = state.playQueue.compactMap { item -> String? in
                        if case .mark(let name) = item { name } else { nil }
                    }
                    state.playQueue.removeAll()
                    if options.returnMarksOnClear { state.snapshot.returnedMarks += marks }
                    return options.returnMarksOnClear ? marks : []
                }
                for name in pending { try await echo(name) }
            default:
                problem("unknown event \(event)")
            }
        }
    }

    /// Logs an event from Parley, keeping at most twice ``Options/eventsKept``.
    private func record(_ event: Received, at instant: ContinuousClock.Instant, in state: inout State) {
        state.snapshot.received.append((event, instant))
        if let kept = options.eventsKept, state.snapshot.received.count > 2 * max(1, kept) {
            state.snapshot.received.removeFirst(state.snapshot.received.count - max(1, kept))
        }
    }

    /// Every 20 ms, on a drift-free schedule: sends a microphone frame and plays what is due.
    func runClock() async throws {
        let start = ContinuousClock.now
        var tick = 0
        while !Task.isCancelled {
            tick += 1
            try await FakeClock.sleep(until: start + .milliseconds(20 * tick))
            try await sendMicrophoneFrame()
            for name in state.withLock({ Self.play(&$0, through: .now) }) { try await echo(name) }
        }
    }

    private func sendMicrophoneFrame() async throws {
        let frame: (bytes: [UInt8], sequence: Int, chunk: Int)? = state.withLock { state in
            guard state.streaming else { return nil }
            var bytes = [UInt8](repeating: 0xFF, count: Self.frameBytes)
            if !state.microphone.isEmpty {
                let count = min(Self.frameBytes, state.microphone.count)
                bytes.replaceSubrange(0..<count, with: state.microphone.prefix(count))
                state.microphone.removeFirst(count)
                if state.microphone.isEmpty { state.snapshot.speechSentAt = .now }
            }
            state.sequenceNumber += 1
            state.chunk += 1
            return (bytes, state.sequenceNumber, state.chunk)
        }
        guard let frame else { return }
        try await send([
            "event": "media", "sequenceNumber": .string("\(frame.sequence)"), "streamSid": .string(options.streamSID),
            "media": [
                "track": "inbound", "chunk": .string("\(frame.chunk)"), "timestamp": .string("\((frame.chunk - 1) * 20)"),
                "payload": .string(Data(frame.bytes).base64EncodedString()),
            ],
        ])
    }

    /// Plays queued audio at 8000 bytes per second up to `now`; returns the marks playback reached.
    static func play(_ state: inout State, through now: ContinuousClock.Instant) -> [String] {
        var budget = 0
        if let since = state.playedThrough {
            let elapsed = now - since
            let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
            let owed = max(0, nanoseconds) * 8 + state.playRemainder  // 8 bytes per ms: 8 per million ns
            budget = Int(owed / 1_000_000)
            state.playRemainder = owed % 1_000_000
            state.playedThrough = now
        }
        var reached: [String] = []
        while let first = state.playQueue.first {
            switch first {
            case .mark(let name):
                reached.append(name)
                state.snapshot.playedAtMark[name] = state.snapshot.playedBytes
                state.playQueue.removeFirst()
            case .audio(let count):
                guard budget > 0 else { return reached }
                let played = min(count, budget)
                budget -= played
                state.snapshot.playedBytes += played
                if played == count { state.playQueue.removeFirst() } else { state.playQueue[0] = .audio(count - played) }
            }
        }
        // Ran dry: the time until the next audio is silence, not playing time.
        state.playedThrough = nil
        state.playRemainder = 0
        return reached
    }

    private func echo(_ name: String) async throws {
        state.withLock { $0.snapshot.echoedMarks.append(name) }
        try await send([
            "event": "mark", "sequenceNumber": .string(nextSequenceNumber()), "streamSid": .string(options.streamSID),
            "mark": ["name": .string(name)],
        ])
    }

    private func problem(_ description: String) {
        state.withLock { $0.snapshot.problems.append(description) }
    }
}
