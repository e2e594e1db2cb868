import ParleyCore
import ParleyTesting
import Synchronization
import Testing

/// An LLM that says `texts`, then fails with `error` (or stalls when `error` is nil).
private struct BrokenLanguageModel: LanguageModel {
    let name: String
    var texts: [String] = []
    var error: ProviderError?

    func complete(_ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void) async throws -> [ToolCall] {
        for text in texts { try await onText(text) }
        guard let error else {
            try await Task.sleep(for: .seconds(3600))
            return []
        }
        throw error
    }
}

/// Text-to-speech that speaks `sentences` sentences (tone audio, exact alignment) and then fails
/// (or stalls when `error` is nil); counts its calls.
private final class BrokenTextToSpeech: TextToSpeech, Sendable {
    let name: String
    let sentences: Int
    let error: ProviderError?
    let calls = Atomic<Int>(0)

    init(name: String, sentences: Int, error: ProviderError?) {
        self.name = name
        self.sentences = sentences
        self.error = error
    }

    func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        calls.add(1, ordering: .relaxed)
        var spoken = 0
        for await sentence in text {
            guard spoken < sentences else { break }
            let samples = [Int16](repeating: 1000, count: sentence.count * 16)
            try await onAudio(
                AudioChunk(samples: samples, sampleRate: 16000, alignment: .proportional(sentence, over: .milliseconds(sentence.count))))
            spoken += 1
        }
        guard let error else {
            try await Task.sleep(for: .seconds(3600))
            return
        }
        throw error
    }
}

/// A recogniser that fails after `events` events, or at the first speech end when `failsUtterance`.
private struct BrokenSpeechToText: SpeechToText {
    let name: String
    var failsUtterance = false

    func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        for await item in input where item == .speechEnded {
            let error = ProviderError(provider: name, kind: .rejected, message: "HTTP 503", status: 503)
            if failsUtterance {
                try await onEvent(.failed(error))
            } else {
                throw error
            }
        }
    }
}

/// Collects what a chain hands on.
private final class Collected: Sendable {
    let items = Mutex<[String]>([])
    func add(_ item: String) { items.withLock { $0.append(item) } }
    var all: [String] { items.withLock { $0 } }
}

@Suite("Provider fallback chains: LLM, text-to-speech and speech-to-text")
struct FallbackChainTests {
    static let refused = ProviderError(provider: "primary", kind: .rejected, message: "HTTP 500", status: 500)
    static let dropped = ProviderError(provider: "primary", kind: .streamEnded, message: "the stream ended mid-reply")

    static func sentences(_ list: [String]) -> AsyncStream<String> {
        AsyncStream { continuation in
            for sentence in list { continuation.yield(sentence) }
            continuation.finish()
        }
    }

    @Test("an LLM that fails before its first text is retried once, then the next answers")
    func languageModelBeforeText() async throws {
        let chain = ProviderChain(stage: "llm", timeout: .seconds(2))
        let backup = StreamingFakeLanguageModel(reply: "Backup answer.", firstTokenDelay: .zero, tokenDelay: .zero)
        let model = FallbackLanguageModel([BrokenLanguageModel(name: "primary", error: Self.refused), backup], chain: chain)
        #expect(model.name == "primary,fake-llm")
        var text = ""
        try await model.complete([.user("Hi")]) { text += $0 }
        #expect(text == "Backup answer.")
        #expect(chain.health.fallbacks == 1)
        #expect(chain.health.snapshot?.from == "primary")
        #expect(chain.health.isDegraded)
    }

    @Test("an LLM dropped mid-reply: the next continues from where it was cut off")
    func languageModelMidReply() async throws {
        let chain = ProviderChain(stage: "llm", timeout: .seconds(2))
        let backup = StreamingFakeLanguageModel(reply: "to the rest.", firstTokenDelay: .zero, tokenDelay: .zero)
        let model = FallbackLanguageModel(
            [BrokenLanguageModel(name: "primary", texts: ["First part, ", "and "], error: Self.dropped), backup], chain: chain)
        var text = ""
        try await model.complete([.user("Tell me")]) { text += $0 }
        #expect(text == "First part, and to the rest.")
        let asked = try #require(backup.calls.first?.messages)
        #expect(asked.dropLast().last == .assistant("First part, and "))
        #expect(asked.last?.role == .user)
    }

    @Test("an LLM silent past the deadline is replaced; with every provider failed, the last error is thrown")
    func languageModelStall() async throws {
        let chain = ProviderChain(stage: "llm", timeout: .milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        let model = FallbackLanguageModel(
            [
                BrokenLanguageModel(name: "primary", error: nil),
                BrokenLanguageModel(name: "second", error: ProviderError(provider: "second", kind: .rejected, message: "HTTP 401", status: 401)),
            ], chain: chain)
        let error = await #expect(throws: ProviderError.self) { try await model.complete([.user("Hi")]) { _ in } }
        #expect(error?.provider == "second")
        #expect(chain.health.snapshot?.error.contains("no reply text within") == true)
        #expect(clock.now - start < .seconds(2))
        // The first provider failed: the next turn tries the second first.
        let again = await #expect(throws: ProviderError.self) { try await model.complete([.user("Hi")]) { _ in } }
        #expect(again != nil)
    }

    @Test("text-to-speech refused before audio: the next speaks every sentence")
    func textToSpeechBeforeAudio() async throws {
        let chain = ProviderChain(stage: "tts", timeout: .seconds(2))
        let primary = BrokenTextToSpeech(name: "primary", sentences: 0, error: Self.refused)
        let voice = FallbackTextToSpeech([primary, ToneTextToSpeech(sampleRate: 16000)], chain: chain)
        let heard = Collected()
        try await voice.synthesize(Self.sentences(["One two.", "Three four."]), sampleRate: 16000) { chunk in
            heard.add(chunk.alignment?.text ?? "")
        }
        #expect(heard.all.joined() == "One two. Three four. ")  // the tone voice aligns a space after each sentence
        #expect(primary.calls.load(ordering: .relaxed) == 2)  // one retry before its first audio
    }

    @Test("text-to-speech dropped mid-reply: the next speaks the sentences not yet heard")
    func textToSpeechMidReply() async throws {
        let chain = ProviderChain(stage: "tts", timeout: .seconds(2))
        let primary = BrokenTextToSpeech(name: "primary", sentences: 1, error: Self.dropped)
        let voice = FallbackTextToSpeech([primary, ToneTextToSpeech(sampleRate: 16000)], chain: chain)
        let heard = Collected()
        try await voice.synthesize(Self.sentences(["First sentence.", "Second one.", "Third."]), sampleRate: 16000) { chunk in
            heard.add(chunk.alignment?.text ?? "")
        }
        #expect(heard.all.joined() == "First sentence. Second one. Third. ")
        #expect(primary.calls.load(ordering: .relaxed) == 1)  // audio was heard: no retry
    }

    @Test("text-to-speech that never answers its text is replaced after the deadline")
    func textToSpeechStall() async throws {
        // The deadline holds for the tone too: 300 ms was once too short for it in a full
        // parallel run (the test took 57 s there), so 1 s.
        let chain = ProviderChain(stage: "tts", timeout: .seconds(1))
        let voice = FallbackTextToSpeech(
            [BrokenTextToSpeech(name: "primary", sentences: 0, error: nil), ToneTextToSpeech(sampleRate: 16000)], chain: chain)
        let heard = Collected()
        let clock = ContinuousClock()
        let start = clock.now
        try await voice.synthesize(Self.sentences(["Hello there."]), sampleRate: 16000) { chunk in heard.add(chunk.alignment?.text ?? "") }
        #expect(heard.all.joined() == "Hello there. ")
        // Two tries of 1 s, then the tone: a little over 2 s; without the deadline it would wait
        // for good. The bound leaves room for a machine busy with the rest of the suite.
        #expect(clock.now - start < .seconds(15))
        #expect(chain.health.snapshot?.error.contains("no audio for the text within") == true)
    }

    @Test("speech-to-text: a recogniser that fails hands the utterance to the next, which transcribes it")
    func speechToText() async throws {
        for failsUtterance in [false, true] {
            let chain = ProviderChain(stage: "stt", timeout: nil)
            let recogniser = FallbackSpeechToText(
                [BrokenSpeechToText(name: "primary", failsUtterance: failsUtterance), ScriptedSpeechToText(transcripts: ["Hello there."])],
                chain: chain, sampleRate: 16000)
            let (input, feed) = AsyncStream.makeStream(of: SpeechInput.self)
            feed.yield(.audio([Int16](repeating: 0, count: 320)))
            feed.yield(.speechStarted)
            feed.yield(.audio([Int16](repeating: 500, count: 320)))
            feed.yield(.speechEnded)
            feed.finish()
            let events = Collected()
            try await recogniser.transcribe(input) { event in
                if case .final(let text, _) = event { events.add(text) }
                if case .failed = event { events.add("failed") }
            }
            #expect(events.all == ["Hello there."], "failsUtterance: \(failsUtterance)")
            #expect(chain.health.fallbacks == 1)
        }
    }

    @Test("speech-to-text with every recogniser failed tells the session, which goes on")
    func speechToTextExhausted() async throws {
        let chain = ProviderChain(stage: "stt", timeout: nil)
        let recogniser = FallbackSpeechToText(
            [BrokenSpeechToText(name: "primary", failsUtterance: true), BrokenSpeechToText(name: "second", failsUtterance: true)],
            chain: chain, sampleRate: 16000)
        let (input, feed) = AsyncStream.makeStream(of: SpeechInput.self)
        feed.yield(.speechStarted)
        feed.yield(.speechEnded)
        feed.finish()
        let events = Collected()
        try await recogniser.transcribe(input) { event in
            if case .failed(let error) = event { events.add(error.provider) }
        }
        #expect(events.all.first == "second")
    }
}
