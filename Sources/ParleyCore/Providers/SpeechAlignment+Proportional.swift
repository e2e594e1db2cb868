extension SpeechAlignment {
    /// An even alignment for a synthesiser that does not report timings: the characters of
    /// `sentence` spread evenly over `duration`, then one space of no length, so consecutive
    /// sentences stay separate words (as ElevenLabs' own alignment ends each sentence in a space).
    public static func proportional(_ sentence: String, over duration: Duration) -> SpeechAlignment {
        let text = sentence.trimmingWhitespace()
        guard !text.isEmpty else { return SpeechAlignment(characters: []) }
        let step = duration / text.count
        var characters = text.enumerated().map { index, character in
            Character(character: String(character), start: step * index, duration: step)
        }
        characters.append(Character(character: " ", start: duration, duration: .zero))
        return SpeechAlignment(characters: characters)
    }

    /// The characters that start at or after `start` and before `end` (to the last character
    /// when `end` is nil), re-timed from `start`; for splitting one sentence's audio into chunks.
    public func slice(from start: Duration, to end: Duration?) -> SpeechAlignment {
        let picked = characters.filter { timing in
            timing.start >= start && (end.map { timing.start < $0 } ?? true)
        }
        return SpeechAlignment(
            characters: picked.map {
                Character(character: $0.character, start: $0.start - start, duration: $0.duration)
            })
    }
}
