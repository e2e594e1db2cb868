import ParleyCore
import Testing

@Suite("What the listener heard")
struct HeardTextTests {
    /// One chunk at 16 kHz whose characters each last 100 ms (1600 samples).
    static func aligned(_ text: String, rate: Int = 16000) -> AudioChunk {
        let alignment = SpeechAlignment(
            characters: text.enumerated().map { index, character in
                .init(character: String(character), start: .milliseconds(100 * index), duration: .milliseconds(100))
            })
        return AudioChunk(samples: Array(repeating: 0, count: text.count * rate / 10), sampleRate: rate, alignment: alignment)
    }

    @Test("with alignment, a word counts only once its last character has played")
    func alignedWords() {
        var heard = HeardText(outputRate: 16000)
        heard.addChunk(Self.aligned("Hello there, friend. "))
        #expect(heard.totalSamples == 21 * 1600)
        #expect(heard.heardText(playedSamples: 0) == "")
        #expect(heard.heardText(playedSamples: 4 * 1600) == "")  // "Hell"
        #expect(heard.heardText(playedSamples: 5 * 1600) == "Hello")
        #expect(heard.heardText(playedSamples: 5 * 1600 + 1599) == "Hello")
        #expect(heard.heardText(playedSamples: 10 * 1600) == "Hello")  // "Hello ther"
        #expect(heard.heardText(playedSamples: 11 * 1600) == "Hello there")
        #expect(heard.heardText(playedSamples: 12 * 1600) == "Hello there,")
        #expect(heard.heardText(playedSamples: 1_000_000) == "Hello there, friend.")
        #expect(heard.heardText(playedSamples: -5) == "")
    }

    @Test("chunks follow one another, and audio at another rate is counted in output samples")
    func resampled() {
        var heard = HeardText(outputRate: 16000)
        heard.addChunk(Self.aligned("One two ", rate: 22050))  // 8 × 100 ms = 12 800 output samples
        heard.addChunk(Self.aligned("three.", rate: 22050))
        #expect(heard.totalSamples == 14 * 1600)
        #expect(heard.heardText(playedSamples: 3 * 1600) == "One")
        #expect(heard.heardText(playedSamples: 8 * 1600 - 1) == "One two")
        #expect(heard.heardText(playedSamples: 8 * 1600 + 4 * 1600) == "One two")  // "thre"
        #expect(heard.heardText(playedSamples: 8 * 1600 + 5 * 1600) == "One two three")
        #expect(heard.heardText(playedSamples: 14 * 1600) == "One two three.")
    }

    @Test("a proportional alignment spreads each sentence over its own audio and separates sentences")
    func proportional() {
        var heard = HeardText(outputRate: 16000)
        // 10 characters over 1 s: each ends every 1600 samples; then a 4-character sentence over 0.4 s.
        let first = SpeechAlignment.proportional("Hi, Sam ok", over: .seconds(1))
        #expect(first.text == "Hi, Sam ok ")
        heard.addChunk(AudioChunk(samples: Array(repeating: 0, count: 24000), sampleRate: 24000, alignment: first))
        heard.addChunk(
            AudioChunk(
                samples: Array(repeating: 0, count: 6400), sampleRate: 16000, alignment: .proportional("Yes.", over: .milliseconds(400))))
        #expect(heard.heardText(playedSamples: 7 * 1600) == "Hi, Sam")
        #expect(heard.heardText(playedSamples: 16000 + 2 * 1600) == "Hi, Sam ok")
        #expect(heard.heardText(playedSamples: 16000 + 3 * 1600) == "Hi, Sam ok Yes")
        #expect(heard.heardText(playedSamples: 16000 + 6400) == "Hi, Sam ok Yes.")
    }

    @Test("a sentence's alignment split into chunks keeps its timing")
    func sliced() {
        let alignment = SpeechAlignment.proportional("abcd", over: .milliseconds(400))
        let head = alignment.slice(from: .zero, to: .milliseconds(200))
        let tail = alignment.slice(from: .milliseconds(200), to: nil)
        #expect(head.text == "ab" && tail.text == "cd ")
        #expect(tail.characters.first?.start == .zero)
        var heard = HeardText(outputRate: 16000)
        heard.addChunk(AudioChunk(samples: Array(repeating: 0, count: 3200), sampleRate: 16000, alignment: head))
        heard.addChunk(AudioChunk(samples: Array(repeating: 0, count: 3200), sampleRate: 16000, alignment: tail))
        #expect(heard.heardText(playedSamples: 4799) == "")
        #expect(heard.heardText(playedSamples: 6400) == "abcd")
    }

    @Test("without alignment, the text given to speech is spread over all the audio produced")
    func lastResort() {
        var heard = HeardText(outputRate: 8000)
        heard.addGivenText("Good morning.")
        heard.addGivenText("  How are you?  ")
        // "Good morning. How are you?" is 26 characters over 2.6 s: one per 800 samples at 8 kHz.
        heard.addChunk(AudioChunk(samples: Array(repeating: 0, count: 10400), sampleRate: 16000))
        heard.addChunk(AudioChunk(samples: Array(repeating: 0, count: 46800), sampleRate: 24000))
        #expect(heard.totalSamples == 20800)
        #expect(heard.heardText(playedSamples: 0) == "")
        #expect(heard.heardText(playedSamples: 4 * 800) == "Good")
        #expect(heard.heardText(playedSamples: 11 * 800) == "Good")  // "Good mornin"
        #expect(heard.heardText(playedSamples: 17 * 800) == "Good morning. How")
        #expect(heard.heardText(playedSamples: 20800) == "Good morning. How are you?")
    }

    @Test("nothing produced means nothing heard")
    func empty() {
        let heard = HeardText(outputRate: 16000)
        #expect(heard.heardText(playedSamples: 16000) == "")
    }
}
