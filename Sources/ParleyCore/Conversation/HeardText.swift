/// Which part of a reply the listener heard, from where each spoken character ends in the
/// reply's output audio.
///
/// The reply pipeline adds every synthesised chunk as it goes out: its length in output samples
/// (after resampling to the session's rate) and, when the chunk has a ``SpeechAlignment``, where
/// each of its characters ends. ``heardText(playedSamples:)`` then keeps the characters whose end
/// was played and cuts the result at a word boundary: a word counts as heard only if its last
/// character was. Chunks without alignment fall back to the text given to text-to-speech spread
/// evenly over all the audio produced (the last resort: it assumes an even speaking rate).
public struct HeardText: Sendable, Equatable {
    /// The session's output rate in Hz, the unit of every sample count.
    public let outputRate: Int
    /// Output samples of reply audio so far.
    public private(set) var totalSamples = 0
    /// Spoken characters with the output sample at which each has been heard in full.
    private var characters: [(character: Character, end: Int)] = []
    /// Text handed to text-to-speech, for chunks without alignment.
    private var givenText = ""
    private var hasUnalignedAudio = false
    /// Source samples since the rate last changed; the output position is derived from these,
    /// not summed from rounded chunk lengths, so long replies at another rate do not drift.
    private var sourceSamples = 0
    private var outputBeforeRate = 0
    private var currentRate: Int?

    /// Creates an empty tracker for audio at `outputRate` Hz.
    public init(outputRate: Int) {
        precondition(outputRate > 0, "output rate must be positive")
        self.outputRate = outputRate
    }

    public static func == (lhs: HeardText, rhs: HeardText) -> Bool {
        lhs.outputRate == rhs.outputRate && lhs.totalSamples == rhs.totalSamples && lhs.givenText == rhs.givenText
            && lhs.hasUnalignedAudio == rhs.hasUnalignedAudio
            && lhs.characters.map(\.character) == rhs.characters.map(\.character)
            && lhs.characters.map(\.end) == rhs.characters.map(\.end)
    }

    /// Records text handed to text-to-speech (one sentence); used only for unaligned audio.
    public mutating func addGivenText(_ text: String) {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { return }
        givenText += (givenText.isEmpty ? "" : " ") + trimmed
    }

    /// Records one chunk of synthesised audio, in the order it is played.
    public mutating func addChunk(_ chunk: AudioChunk) {
        guard chunk.sampleRate > 0 else { return }
        if currentRate != chunk.sampleRate {
            outputBeforeRate = totalSamples
            currentRate = chunk.sampleRate
            sourceSamples = 0
        }
        let start = totalSamples
        sourceSamples += chunk.samples.count
        totalSamples = outputBeforeRate + Self.convert(sourceSamples, from: chunk.sampleRate, to: outputRate)
        guard let alignment = chunk.alignment else {
            if !chunk.samples.isEmpty { hasUnalignedAudio = true }
            return
        }
        for timing in alignment.characters {
            let end = start + Int(((timing.start + timing.duration).seconds * Double(outputRate)).rounded())
            for character in timing.character { characters.append((character, end)) }
        }
    }

    /// The reply text the listener heard after `playedSamples` output samples, cut at a word
    /// boundary and without trailing whitespace.
    public func heardText(playedSamples: Int) -> String {
        let played = max(0, playedSamples)
        if hasUnalignedAudio || characters.isEmpty {
            guard totalSamples > 0, !givenText.isEmpty else { return "" }
            let text = Array(givenText)
            // Character i is heard in full at (i + 1) / n of the audio.
            let heard = min(text.count, Int(Double(played) / Double(totalSamples) * Double(text.count)))
            return Self.cut(text, heard: heard)
        }
        let heard = characters.firstIndex { $0.end > played } ?? characters.count
        return Self.cut(characters.map(\.character), heard: heard)
    }

    /// The first `heard` characters, without a word whose last character is not among them.
    static func cut(_ text: [Character], heard: Int) -> String {
        var end = heard
        if end < text.count, end > 0, isWordCharacter(text[end - 1]), isWordCharacter(text[end]) {
            while end > 0, isWordCharacter(text[end - 1]) { end -= 1 }
        }
        return String(text[..<end]).trimmingWhitespace()
    }

    static func isWordCharacter(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || character == "'" || character == "\u{2019}"
    }

    static func convert(_ samples: Int, from rate: Int, to outputRate: Int) -> Int {
        rate == outputRate ? samples : Int((Double(samples) * Double(outputRate) / Double(rate)).rounded())
    }
}
