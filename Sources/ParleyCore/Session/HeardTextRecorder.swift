import Synchronization

/// Collects a reply's ``HeardText`` as its pipeline runs; safe to use from the reply's tasks.
public final class HeardTextRecorder: Sendable {
    private let heard = Mutex<HeardText?>(nil)

    /// Creates an empty recorder.
    public init() {}

    /// Records a sentence handed to text-to-speech.
    public func addGivenText(_ text: String, outputRate: Int) {
        heard.withLock { heard in
            if heard == nil { heard = HeardText(outputRate: outputRate) }
            heard?.addGivenText(text)
        }
    }

    /// Records a chunk of synthesised audio about to be played at `outputRate` Hz.
    public func addChunk(_ chunk: AudioChunk, outputRate: Int) {
        heard.withLock { heard in
            if heard == nil { heard = HeardText(outputRate: outputRate) }
            heard?.addChunk(chunk)
        }
    }

    /// What has been recorded so far, for audio at `outputRate` Hz.
    public func snapshot(outputRate: Int) -> HeardText {
        heard.withLock { $0 } ?? HeardText(outputRate: outputRate)
    }
}
