public import ParleyCore

/// A recogniser that answers each utterance the VAD cut with the next scripted transcript.
///
/// Like the real Whisper client it reacts only to `speechEnded`; after the script runs out it
/// reports no speech.
public struct ScriptedSpeechToText: SpeechToText {
    /// The transcripts, one per utterance.
    public let transcripts: [String]
    /// Simulated recognition time per utterance.
    public let latency: Duration
    /// The clock the latency is waited on.
    public let clock: SessionClock

    public var name: String { "scripted-stt" }

    /// Creates a recogniser.
    public init(transcripts: [String], latency: Duration = .milliseconds(10), clock: SessionClock = .continuous) {
        self.transcripts = transcripts
        self.latency = latency
        self.clock = clock
    }

    public func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        var next = 0
        for await item in input {
            switch item {
            case .audio, .paused, .resumed:
                continue
            case .speechStarted:
                try await onEvent(.partial("…"))
            case .speechEnded:
                try await clock.sleep(for: latency)
                if next < transcripts.count {
                    try await onEvent(.final(transcripts[next], endsTurn: true))
                    next += 1
                } else {
                    try await onEvent(.noSpeech)
                }
            }
        }
    }
}
