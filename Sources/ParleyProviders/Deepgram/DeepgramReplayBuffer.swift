/// The audio sent to Deepgram that no final result covers yet, kept so that a new connection can
/// be sent it again after a drop.
///
/// Positions are sample counts since the session began. Each connection's audio clock starts at
/// zero with the first sample sent on it, which is ``start`` when the connection opens (the
/// replay); ``connectionStart`` maps that clock back to session positions. Holds at most
/// `capacity` samples, dropping the oldest.
package struct DeepgramReplayBuffer: Sendable {
    /// Most samples kept.
    package let capacity: Int
    /// Samples per second, to convert Deepgram's clock (seconds) to positions.
    package let sampleRate: Int
    /// Session position of the first sample kept.
    package private(set) var start = 0
    /// Session position where the current connection's audio clock is zero.
    package private(set) var connectionStart = 0

    // Samples before `head` are already discarded; compacted when that half of the storage is dead.
    private var storage: [Int16] = []
    private var head = 0

    /// Creates an empty buffer.
    package init(capacity: Int, sampleRate: Int) {
        precondition(capacity > 0 && sampleRate > 0, "replay capacity and sample rate must be positive")
        self.capacity = capacity
        self.sampleRate = sampleRate
    }

    /// Session position just after the last sample appended.
    package var end: Int { start + count }

    /// How many samples are kept.
    package var count: Int { storage.count - head }

    /// The samples kept, oldest first.
    package var samples: ArraySlice<Int16> { storage[head...] }

    /// Adds samples just sent (or about to be sent), dropping the oldest beyond the capacity.
    package mutating func append(_ newSamples: [Int16]) {
        storage.append(contentsOf: newSamples)
        if count > capacity { discard(count - capacity) }
    }

    /// Marks the start of a new connection, whose clock begins with the first sample kept.
    package mutating func beginConnection() {
        connectionStart = start
    }

    /// Drops the samples a final result covers, up to `seconds` on the current connection's clock.
    package mutating func finalized(through seconds: Double) {
        guard seconds.isFinite, seconds > 0 else { return }
        // Clamped to the audio sent before converting: a later time (1e300 s from a broken or
        // hostile server) covers all of it rather than overflowing Int.
        let samples = min((seconds * Double(sampleRate)).rounded(), Double(end - connectionStart))
        let position = connectionStart + Int(samples)
        if position > start { discard(position - start) }
    }

    private mutating func discard(_ samples: Int) {
        start += samples
        head += samples
        if head >= 4096 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }
}
