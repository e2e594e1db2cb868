import ParleyCore

#if canImport(ParleyProviders)
import ParleyProviders
#endif

/// What Deepgram sends on a live transcription socket, one message per line: the tracker must
/// turn it into well-formed transcript events, and the final results' times must keep the replay
/// buffer consistent. A blank line stands for a reconnect.
enum DeepgramTarget {
    /// 20 ms at 16 kHz, appended before each message as the stream sends audio.
    private static let frame = [Int16](repeating: 0, count: 320)

    static func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        var tracker = DeepgramTranscriptTracker()
        var replay = DeepgramReplayBuffer(capacity: 16000, sampleRate: 16000)
        for line in bytes.lines {
            guard !line.isEmpty else {
                replay.beginConnection()
                continue
            }
            replay.append(frame)
            let reception = tracker.receive(line)
            if let through = reception.finalizedThrough { replay.finalized(through: through) }
            try check(
                replay.count <= replay.capacity && replay.count >= 0 && replay.end == replay.start + replay.samples.count,
                "replay buffer holds \(replay.count) samples from \(replay.start)")
            for event in reception.events {
                switch event {
                case .partial(let text):
                    try check(!text.isEmpty && text == text.trimmingWhitespace(), "partial \"\(text)\"")
                case .final(let text, _):
                    try check(text == text.trimmingWhitespace(), "final \"\(text)\"")
                case .speechStarted:
                    try check(reception.kind == .speechStarted, "speech started from a \(reception.kind) message")
                case .noSpeech, .failed, .tentative, .turnStarted, .likelyEndOfTurn, .turnResumed:
                    throw InvariantViolation("Deepgram's tracker produced \(event)")
                }
            }
        }
    }
}
