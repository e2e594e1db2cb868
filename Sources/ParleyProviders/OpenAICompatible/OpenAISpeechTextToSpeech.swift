import AsyncHTTPClient
import NIOCore
public import ParleyCore

/// Text-to-speech over the OpenAI-compatible `POST /audio/speech` API (docs/providers.md): OpenAI,
/// any server with that endpoint, and Parley's own local voice (`engines/speech_server.py`).
///
/// One request per sentence, as sentences arrive, with `response_format: "pcm"`: raw 16-bit
/// little-endian mono at ``sampleRate`` (24 kHz for OpenAI; a `rate=` parameter in the response's
/// `Content-Type` overrides it). Each response body is read as a stream and handed on as it
/// arrives, whole samples only. The API reports no timings, so each sentence's characters are
/// spread over its audio in proportion (see ``ProportionalAlignment``). Cancelling the task (a
/// barge-in) closes the request in flight — the only way to stop such a server — and delivers no
/// more audio.
public struct OpenAISpeechTextToSpeech: TextToSpeech {
    /// Base URL, key, HTTP client, retries and health.
    public var endpoint: OpenAICompatibleEndpoint
    /// The speech model, such as `gpt-4o-mini-tts`.
    public var model: String
    /// The voice, such as `alloy`; a session's voice override (``ProviderContext/voice``) wins.
    public var voice: String
    /// Voice steering for models that take it (`instructions`); nil sends none.
    public var instructions: String?
    /// The rate of the PCM the server sends when its `Content-Type` does not say.
    public var sampleRate: Int

    public var name: String { endpoint.name }

    /// The longest `input` the API accepts, in characters.
    public static let maximumInput = 4096

    /// Creates a client.
    public init(endpoint: OpenAICompatibleEndpoint, model: String, voice: String, instructions: String? = nil, sampleRate: Int = 24000) {
        self.endpoint = endpoint
        self.model = model
        self.voice = voice
        self.instructions = instructions
        self.sampleRate = sampleRate
    }

    public func synthesize(_ text: AsyncStream<String>, sampleRate _: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        var pace = ProportionalAlignment.Pace()
        for await sentence in text {
            try Task.checkCancellation()
            let trimmed = sentence.trimmingWhitespace()
            guard !trimmed.isEmpty else { continue }
            // Longer text (never from the sentence chunker, which cuts at 300) goes in pieces.
            for piece in Self.pieces(of: trimmed) {
                try await speak(piece, pace: &pace, onAudio: onAudio)
            }
        }
        // A cancelled reply ends `text` early.
        try Task.checkCancellation()
    }

    /// The JSON request body for one sentence.
    func requestBody(_ sentence: String) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(model),
            "input": .string(sentence),
            "voice": .string(ProviderContext.voice ?? voice),
            "response_format": "pcm",
        ]
        if let instructions, !model.hasPrefix("tts-1") { body["instructions"] = .string(instructions) }
        return .object(body)
    }

    /// Requests one sentence and streams its audio to `onAudio`.
    private func speak(_ sentence: String, pace: inout ProportionalAlignment.Pace, onAudio: (AudioChunk) async throws -> Void) async throws {
        var request = endpoint.request(
            path: "/audio/speech", contentType: "application/json", body: Array(requestBody(sentence).serialized.utf8))
        request.headers.add(name: "Accept", value: "application/octet-stream")
        let response = try await endpoint.execute(request)
        let rate = Self.sampleRate(contentType: response.headers.first(name: "content-type")) ?? sampleRate
        var assembler = PCM16Assembler()
        var alignment = ProportionalAlignment(sentence, pace: pace)
        var body = response.body.makeAsyncIterator()
        while true {
            let buffer: ByteBuffer?
            do {
                buffer = try await body.next()
            } catch {
                throw endpoint.mapStreamError(error)
            }
            guard let buffer else { break }
            let samples = assembler.push(buffer.readableBytesView)
            guard !samples.isEmpty else { continue }
            // Barge-in: no audio may reach the caller once the reply is cancelled.
            try Task.checkCancellation()
            let timing = alignment.advance(by: Duration.seconds(Double(samples.count) / Double(rate)))
            try await onAudio(AudioChunk(samples: samples, sampleRate: rate, alignment: timing))
        }
        try Task.checkCancellation()
        guard alignment.elapsed > .zero else {
            throw ProviderError(provider: name, kind: .badResponse, message: "the speech response held no audio")
        }
        // The body has ended: the characters still held back are heard at the end of the audio.
        try await onAudio(AudioChunk(samples: [], sampleRate: rate, alignment: alignment.finish()))
        pace.learn(characters: alignment.count, over: alignment.elapsed)
    }

    /// Text cut into pieces the API accepts, at sentence or word boundaries where it can be.
    static func pieces(of text: String) -> [String] {
        guard text.count > maximumInput else { return [text] }
        var pieces: [String] = []
        var rest = Substring(text)
        while rest.count > maximumInput {
            let window = rest.prefix(maximumInput)
            let cut = window.lastIndex(of: " ").map { rest.index(after: $0) } ?? window.endIndex
            pieces.append(String(rest[..<cut]).trimmingWhitespace())
            rest = rest[cut...]
        }
        pieces.append(String(rest).trimmingWhitespace())
        return pieces.filter { !$0.isEmpty }
    }

    /// The `rate=` parameter of an `audio/pcm` content type (openedai-speech sends
    /// `audio/pcm;rate=22050`), if it is a plausible audio rate.
    static func sampleRate(contentType: String?) -> Int? {
        guard let contentType else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { String($0).trimmingWhitespace() }
            if pair.count == 2, pair[0].lowercased() == "rate", let rate = Int(pair[1]), (8000...48000).contains(rate) {
                return rate
            }
        }
        return nil
    }
}

/// Character timings for speech that arrives in pieces without any, spread in proportion over
/// the sentence's audio (an even speaking rate, the same assumption espeak-ng's alignment makes).
///
/// The sentence's length in time is unknown until its audio ends, so it is estimated from the
/// speaking rate of the sentences before (``Pace``). Each piece of audio gets the characters that
/// end within it by that estimate; the last character is held back until ``finish()``, so a reply
/// cut off before its audio ended is never remembered as heard in full.
public struct ProportionalAlignment: Sendable {
    /// A speaking rate learned from the sentences spoken so far.
    public struct Pace: Sendable {
        /// Characters per second; about 15 for conversational English.
        public private(set) var charactersPerSecond = 15.0
        /// Creates the default pace.
        public init() {}
        /// Learns from one finished sentence.
        public mutating func learn(characters: Int, over duration: Duration) {
            let seconds = duration.seconds
            guard characters > 0, seconds > 0.05 else { return }
            let observed = min(40, max(5, Double(characters) / seconds))
            charactersPerSecond = 0.5 * charactersPerSecond + 0.5 * observed
        }
    }

    private let characters: [Character]
    private let estimate: Double
    private var emitted = 0
    /// Audio received so far.
    public private(set) var elapsed: Duration = .zero

    /// The number of characters spoken (the sentence and a closing space).
    public var count: Int { characters.count }

    /// Starts the alignment of `sentence`.
    public init(_ sentence: String, pace: Pace) {
        characters = Array(sentence.trimmingWhitespace()) + [" "]
        estimate = Double(characters.count) / pace.charactersPerSecond
    }

    /// The characters ending within the next `duration` of audio, timed from its start.
    public mutating func advance(by duration: Duration) -> SpeechAlignment {
        let start = elapsed.seconds
        elapsed += duration
        let end = elapsed.seconds
        let total = max(estimate, end)
        let step = total / Double(characters.count)
        // Character i ends at (i + 1) × step; the last one waits for finish().
        let reached = min(characters.count - 1, Int((end / step).rounded(.down)))
        return take(upTo: reached, from: start, step: step)
    }

    /// The characters not handed out yet, at the very end of the audio.
    public mutating func finish() -> SpeechAlignment {
        let timings = characters[emitted...].map { SpeechAlignment.Character(character: String($0), start: .zero, duration: .zero) }
        emitted = characters.count
        return SpeechAlignment(characters: timings)
    }

    private mutating func take(upTo reached: Int, from start: Double, step: Double) -> SpeechAlignment {
        guard reached > emitted else { return SpeechAlignment(characters: []) }
        let timings = (emitted..<reached).map { index in
            let begin = max(0, Double(index) * step - start)
            let finish = Double(index + 1) * step - start
            return SpeechAlignment.Character(
                character: String(characters[index]), start: .seconds(begin), duration: .seconds(max(0, finish - begin)))
        }
        emitted = reached
        return SpeechAlignment(characters: timings)
    }
}
