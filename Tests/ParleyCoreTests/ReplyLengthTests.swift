import ParleyCore
import Testing

@Suite("Voice-sized replies: the word limit and the first clause")
struct ReplyLengthTests {
    /// Feeds `deltas` through a limit and returns what was kept and whether it completed.
    static func run(_ limit: inout ReplyLength, _ deltas: [String]) -> (text: String, complete: Bool) {
        var kept = ""
        for delta in deltas {
            let admitted = limit.admit(delta)
            kept += admitted.kept
            if admitted.complete { return (kept, true) }
        }
        return (kept, false)
    }

    @Test("a short answer passes untouched")
    func short() {
        var limit = ReplyLength(limit: 40)
        let result = Self.run(&limit, ["The capital", " of France", " is Paris."])
        #expect(result.text == "The capital of France is Paris.")
        #expect(!result.complete)
        #expect(limit.words == 6)
    }

    @Test("past the soft limit the reply ends at the next sentence end, even across deltas")
    func softLimitEndsAtSentence() {
        var limit = ReplyLength(limit: 10, softLimit: 4)
        // The first sentence is under the soft limit, so the reply goes on into the second.
        let result = Self.run(&limit, ["Yes. ", "Paris is lovely in", " spring.", " It has", " many museums."])
        #expect(result.text == "Yes. Paris is lovely in spring.")
        #expect(result.complete)
    }

    @Test("decimals, abbreviations and quotes: a mark inside a word does not end a sentence")
    func marksInsideWords() {
        var limit = ReplyLength(limit: 40, softLimit: 2)
        let result = Self.run(&limit, ["He said \"Mount Everest is 8.8 km", " high.\" Then more."])
        #expect(result.text == "He said \"Mount Everest is 8.8 km high.\"")
        #expect(result.complete)
    }

    @Test("a sentence that never ends is cut before the word over the limit")
    func hardLimit() {
        var limit = ReplyLength(limit: 5)
        let result = Self.run(&limit, ["one two three", " four five six seven"])
        #expect(result.text == "one two three four five ")
        #expect(result.complete)
        #expect(limit.words == 5)
    }

    @Test("the first clause goes to the voice at a comma after three words; later ones wait for the sentence")
    func firstClause() {
        var chunker = SentenceChunker(firstClauseWords: 3)
        #expect(chunker.push("Yes, of").isEmpty, "one word is not a clause")
        #expect(chunker.push(" course, the capital is Paris, a big city.") == ["Yes, of course,"])
        #expect(chunker.push(" It") == ["the capital is Paris, a big city."])
        var numbers = SentenceChunker(firstClauseWords: 3)
        #expect(numbers.push("It is 8,848 metres tall at 3:30 today").isEmpty, "marks inside numbers are not clause ends")
        #expect(numbers.push(". Yes") == ["It is 8,848 metres tall at 3:30 today."])
    }
}
