import ParleyCore
import Testing

@Suite("Sentence chunker")
struct SentenceChunkerTests {
    @Test("sentences come out as soon as the next character shows they ended")
    func streaming() {
        var chunker = SentenceChunker()
        #expect(chunker.push("Hel").isEmpty)
        #expect(chunker.push("lo there.").isEmpty)
        #expect(chunker.push(" How are") == ["Hello there."])
        #expect(chunker.push(" you? I'm fine!") == ["How are you?"])
        #expect(chunker.finish() == "I'm fine!")
        #expect(chunker.finish() == nil)
    }

    @Test("abbreviations, initials and decimals do not end sentences")
    func abbreviations() {
        var chunker = SentenceChunker()
        let text = "Dr. Smith met J. Doe at 3.5 p.m. today, e.g. here. Then left. "
        #expect(chunker.push(text) == ["Dr. Smith met J. Doe at 3.5 p.m. today, e.g. here.", "Then left."])
    }

    @Test("quotes and repeated marks stay with their sentence; newlines end sentences")
    func closers() {
        var chunker = SentenceChunker()
        #expect(chunker.push("He said \"stop!\" Really?! Yes\nNo ") == ["He said \"stop!\"", "Really?!", "Yes"])
        #expect(chunker.finish() == "No")
    }

    @Test("an endless sentence is cut at a comma or space before the limit")
    func forcedCut() {
        var chunker = SentenceChunker(maximumLength: 40)
        let pieces = chunker.push("one two three four five six, seven eight nine ten eleven twelve thirteen")
        #expect(pieces.first == "one two three four five six,")
        #expect(pieces.allSatisfy { $0.count <= 40 })
    }

    @Test("whitespace-only input produces nothing")
    func whitespace() {
        var chunker = SentenceChunker()
        #expect(chunker.push("   \n  ").isEmpty)
        #expect(chunker.finish() == nil)
    }
}
