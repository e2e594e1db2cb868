public import ParleyCore
import Synchronization

/// Wraps a recogniser and counts the audio frames the session hands it, so a test on a
/// ``ManualClock`` can wait until the session has taken every frame sent before it moves time on.
public struct FrameCountingSpeechToText: SpeechToText {
    /// The recogniser that hears the audio.
    public let base: any SpeechToText
    private let frames = Counter()

    public var name: String { base.name }

    /// Wraps `base`.
    public init(_ base: any SpeechToText) {
        self.base = base
    }

    /// Audio frames received so far.
    public var framesReceived: Int { frames.value.withLock { $0 } }

    /// Waits (polling every millisecond of wall time) until `count` frames have arrived; false
    /// after `timeout` of wall time.
    public func waitForFrames(_ count: Int, timeout: Duration = .seconds(10)) async -> Bool {
        await poll(timeout: timeout) { framesReceived >= count }
    }

    public func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        // Unbounded is safe: the session's own speech queue in front of this one is bounded.
        let (counted, sink) = AsyncStream.makeStream(of: SpeechInput.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask { [frames] in
                for await item in input {
                    if case .audio = item { frames.value.withLock { $0 += 1 } }
                    sink.yield(item)
                }
                sink.finish()
            }
            try await base.transcribe(counted, onEvent: onEvent)
            try await group.waitForAll()
        }
    }

    private final class Counter: Sendable {
        let value = Mutex(0)
    }
}
