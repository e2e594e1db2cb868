/// Keeps a spoken reply voice-sized: once it has said ``softLimit`` words it ends at the next
/// sentence end, and it never says more than ``limit`` words (`--max-reply-words`).
///
/// Small local models ramble past "one or two short sentences"; a token cap alone would cut them
/// mid-sentence. The reply's streamed text passes through ``admit(_:)``, which returns the part to
/// keep and whether the reply is complete, so the session stops the LLM there and neither speaks,
/// shows nor remembers what came after.
public struct ReplyLength: Sendable, Equatable {
    /// The most words a reply may have.
    public let limit: Int
    /// Words after which the reply ends at the next sentence end.
    public let softLimit: Int
    /// Words admitted so far.
    public private(set) var words = 0
    private var inWord = false
    /// The last admitted character ended a sentence (a terminator, possibly closed by a quote).
    private var afterTerminator = false

    /// Thrown by the session's text callback to end the LLM's stream once the reply is complete.
    public struct Reached: Error {
        public init() {}
    }

    private static let terminators: Set<Character> = [".", "!", "?", "…"]
    private static let closers: Set<Character> = ["\"", "'", "”", "’", ")", "]"]

    /// A limit of `limit` words that ends at a sentence end after `softLimit` (60 % of it by default).
    public init(limit: Int, softLimit: Int? = nil) {
        precondition(limit > 0, "a reply needs room for a word")
        self.limit = limit
        self.softLimit = min(limit, max(1, softLimit ?? limit * 3 / 5))
    }

    /// The part of `delta` the reply keeps, and whether the reply is complete after it.
    public mutating func admit(_ delta: String) -> (kept: Substring, complete: Bool) {
        var index = delta.startIndex
        while index < delta.endIndex {
            let character = delta[index]
            if character.isWhitespace {
                // A sentence ended just before this space: past the soft limit, stop here.
                if afterTerminator, words >= softLimit { return (delta[..<index], true) }
                inWord = false
                afterTerminator = false
            } else {
                if !inWord {
                    guard words < limit else { return (delta[..<index], true) }
                    words += 1
                    inWord = true
                }
                if Self.terminators.contains(character) {
                    afterTerminator = true
                } else if !(afterTerminator && Self.closers.contains(character)) {
                    afterTerminator = false  // "3.5", "e.g": a mark inside a word
                }
            }
            index = delta.index(after: index)
        }
        return (delta[...], false)
    }
}
