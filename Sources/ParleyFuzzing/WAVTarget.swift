import ParleyCore

/// A WAV file Parley reads must hold finite samples in −1…1 in equally long channels, and survive
/// being written as 16-bit PCM and read again (to 16-bit precision).
enum WAVTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        guard let file = try? WAVFile(bytes: Array(bytes)) else { return }
        let frames = file.channels.first?.count ?? 0
        try check((1...8).contains(file.channels.count), "\(file.channels.count) channels")
        try check(file.channels.allSatisfy { $0.count == frames }, "channels of different lengths")
        try check(
            file.channels.allSatisfy { $0.allSatisfy { $0.isFinite && abs($0) <= 1 } }, "a sample is not finite or beyond ±1")
        try check(file.mono.count == frames && file.duration.isFinite, "mono or duration is wrong")
        guard let again = try? WAVFile(bytes: file.encoded()) else {
            throw InvariantViolation("a \(file.sampleRate) Hz \(file.channels.count)-channel file does not survive encoding")
        }
        try check(
            again.sampleRate == file.sampleRate && again.channels.count == file.channels.count
                && again.channels.allSatisfy { $0.count == frames },
            "encoding changed the format or the length")
        for (channel, channel2) in zip(file.channels, again.channels) {
            for (sample, sample2) in zip(channel, channel2) where abs(sample - sample2) > 1.5 / 32767 {
                throw InvariantViolation("encoding changed sample \(sample) to \(sample2)")
            }
        }
    }
}
