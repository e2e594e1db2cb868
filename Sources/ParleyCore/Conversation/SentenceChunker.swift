/// Cuts streamed LLM text into sentences for text-to-speech, as early as it safely can.
///
/// A sentence ends at `.`, `!`, `?` or `…` (with closing quotes or brackets) followed by
/// whitespace, or at a line break. Common abbreviations ("Mr.", "e.g.") and numbers ("3.5") do
/// not end a sentence. A sentence longer than ``maximumLength`` is cut at the last comma,
/// semicolon, colon or space, so text-to-speech never waits for an endless sentence.
///
/// With `firstClauseWords`, the first piece of a reply may also end at a clause boundary — a
/// comma, semicolon, colon or dash followed by whitespace, after at least that many words — so that
/// the voice can start on "Well, …" or "The answer is yes, …" while the LLM writes on.
public struct SentenceChunker: Sendable {
    /// The longest piece, in characters, handed out before a forced cut.
    public let maximumLength: Int
    /// Words a first piece ending at a clause boundary needs (with 3, a lone "Yes," waits for
    /// more); nil: the first piece ends at a sentence end, as the others do.
    public let firstClauseWords: Int?
    /// The server's default for ``firstClauseWords`` (`--first-chunk-words`).
    public static let defaultFirstClauseWords = 3
    private var buffer = ""
    private var handedOut = false

    private static let abbreviations: Set<String> = [
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "approx", "mt",
    ]
    private static let terminators: Set<Character> = [".", "!", "?", "…"]
    private static let closers: Set<Character> = ["\"", "'", "”", "’", ")", "]"]

    /// Creates a chunker.
    public init(maximumLength: Int = 300, firstClauseWords: Int? = nil) {
        self.maximumLength = maximumLength
        self.firstClauseWords = firstClauseWords.map { max(1, $0) }
    }

    /// Adds streamed text and returns the sentences it completed, trimmed, in order.
    public mutating func push(_ text: String) -> [String] {
        buffer += text
        var sentences: [String] = []
        while let end = nextBoundary() {
            let sentence = String(buffer[..<end]).trimmingWhitespace()
            buffer = String(buffer[end...])
            if !sentence.isEmpty { sentences.append(sentence) }
            handedOut = true
        }
        while buffer.count > maximumLength {
            let cut = forcedCut()
            let piece = String(buffer[..<cut]).trimmingWhitespace()
            buffer = String(buffer[cut...])
            if !piece.isEmpty { sentences.append(piece) }
        }
        return sentences
    }

    /// Returns whatever text remains as a last sentence (nil when only whitespace remains).
    public mutating func finish() -> String? {
        let rest = buffer.trimmingWhitespace()
        buffer = ""
        return rest.isEmpty ? nil : rest
    }

    /// The end index of the first complete sentence in the buffer, if any.
    private func nextBoundary() -> String.Index? {
        var index = buffer.startIndex
        while index < buffer.endIndex {
            let character = buffer[index]
            if character == "\n" {
                return buffer.index(after: index)
            }
            if let firstClauseWords, !handedOut, Self.clauseMarks.contains(character), isClauseEnd(at: index, words: firstClauseWords) {
                return buffer.index(after: index)
            }
            if Self.terminators.contains(character) {
                var end = buffer.index(after: index)
                while end < buffer.endIndex, Self.terminators.contains(buffer[end]) || Self.closers.contains(buffer[end]) {
                    end = buffer.index(after: end)
                }
                // Need the following character to know the sentence is over.
                guard end < buffer.endIndex else { return nil }
                if buffer[end].isWhitespace, !isAbbreviationOrNumber(endingAt: index) {
                    return end
                }
                index = end
                continue
            }
            index = buffer.index(after: index)
        }
        return nil
    }

    private static let clauseMarks: Set<Character> = [",", ";", ":", "—", "–"]

    /// Whether the mark at `index` ends a first clause: whitespace follows (so "8,848" and "3:30"
    /// are not cut) and at least `words` words precede it.
    private func isClauseEnd(at index: String.Index, words: Int) -> Bool {
        let next = buffer.index(after: index)
        guard next < buffer.endIndex, buffer[next].isWhitespace else { return false }
        return buffer[..<index].split(whereSeparator: \.isWhitespace).count >= words
    }

    private func isAbbreviationOrNumber(endingAt dot: String.Index) -> Bool {
        guard buffer[dot] == "." else { return false }
        var start = dot
        while start > buffer.startIndex {
            let previous = buffer.index(before: start)
            let character = buffer[previous]
            guard character.isLetter || character == "." else { break }
            start = previous
        }
        let word = buffer[start..<dot].lowercased()
        if Self.abbreviations.contains(word) { return true }
        // A single capital letter before the dot is an initial ("J. Smith").
        if word.count == 1, buffer[start].isUppercase { return true }
        return false
    }

    private func forcedCut() -> String.Index {
        let limit = buffer.index(buffer.startIndex, offsetBy: maximumLength)
        let head = buffer[..<limit]
        if let mark = head.lastIndex(where: { [",", ";", ":"].contains($0) }) {
            return buffer.index(after: mark)
        }
        if let space = head.lastIndex(where: \.isWhitespace), space > buffer.startIndex {
            return space
        }
        return limit
    }
}

extension String {
    /// The string without leading and trailing whitespace and newlines.
    public func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
            let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(self[first...last])
    }
}
