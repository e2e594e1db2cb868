import Synchronization

/// A text-to-speech chain (`--tts elevenlabs,local`): speaks with each provider in turn until one
/// gets through the reply.
///
/// The chain reads the reply's sentences itself and keeps them, so a provider that fails — before
/// its first audio (refused, 5xx, silent past the chain's deadline) or mid-reply (dropped, stalled)
/// — is replaced by the next, which gets every sentence not yet fully heard (from the audio's
/// character alignment) and then the rest as it comes. The session's voice override
/// (``ProviderContext/voice``) goes to the first provider only: another provider's voices differ.
public struct FallbackTextToSpeech: TextToSpeech {
    /// The providers, in order of preference.
    public let voices: [any TextToSpeech]
    /// Deadlines, retries and recent failures, shared by every session.
    public let chain: ProviderChain

    public var name: String { voices.map(\.name).joined(separator: ",") }

    /// Sentences a provider may have queued and not yet read.
    static let sentenceCapacity = 256

    /// Creates a chain of at least one voice.
    public init(_ voices: [any TextToSpeech], chain: ProviderChain) {
        precondition(!voices.isEmpty, "a chain needs a provider")
        self.voices = voices
        self.chain = chain
    }

    /// Runs `body` with a chain of each provider's session voice (each opened in turn, closed when
    /// `body` returns).
    public func withSessionVoice<Result: Sendable>(_ body: (any TextToSpeech) async throws -> Result) async throws -> Result {
        try await Self.sessionVoices(voices[...], opened: []) { opened in
            try await body(FallbackTextToSpeech(opened, chain: chain))
        }
    }

    private static func sessionVoices<Result: Sendable>(
        _ remaining: ArraySlice<any TextToSpeech>, opened: [any TextToSpeech], _ body: ([any TextToSpeech]) async throws -> Result
    ) async throws -> Result {
        guard let next = remaining.first else { return try await body(opened) }
        return try await next.withSessionVoice { voice in
            try await sessionVoices(remaining.dropFirst(), opened: opened + [voice], body)
        }
    }

    public func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        let script = Script()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                for await sentence in text { script.append(sentence) }
                script.finish()
            }
            try await speak(script, sampleRate: sampleRate, onAudio: onAudio)
        }
    }

    private func speak(_ script: Script, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        let timeout = chain.timeout
        try await chain.serve(voices.map(\.name), output: "audio for the text") { index, heard in
            let voice = voices[index]
            let (input, wake) = script.attach()
            let sessionVoice = index == 0 ? ProviderContext.voice : nil
            do {
                try await relay(
                    deadline: { since in timeout.flatMap { script.deadline(waitingSince: since, timeout: $0) } },
                    wake: wake,
                    produce: { yield in
                        try await ProviderContext.$voice.withValue(sessionVoice) {
                            try await voice.synthesize(input, sampleRate: sampleRate) { try await yield($0) }
                        }
                    },
                    consume: { (chunk: AudioChunk) in
                        heard = true
                        script.heard(chunk)
                        try await onAudio(chunk)
                    })
                if let overflow = script.overflow(provider: voice.name) { throw overflow }
            } catch {
                script.detach()
                throw error
            }
        }
    }
}

/// The sentences of one reply, as a chain hands them to its current provider: every new sentence
/// goes to the attached provider at once; a provider attached after a failure first gets the
/// sentences not yet fully heard.
private final class Script: Sendable {
    private struct State {
        var sentences: [String] = []
        var finished = false
        /// Characters of audio heard through the current provider, from `replayFrom`.
        var heardCharacters = 0
        /// The first sentence not yet fully heard when the current provider was attached.
        var replayFrom = 0
        var input: AsyncStream<String>.Continuation?
        var wake: AsyncStream<Void>.Continuation?
        var overflowed = false
        /// When text was last handed over, and audio last heard.
        var lastText: ContinuousClock.Instant?
        var lastAudio: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    func append(_ sentence: String) {
        state.withLock { state in
            state.sentences.append(sentence)
            state.lastText = .now
            if let input = state.input, case .dropped = input.yield(sentence) { state.overflowed = true }
            state.wake?.yield()
        }
    }

    func finish() {
        state.withLock { state in
            state.finished = true
            state.lastText = .now
            state.input?.finish()
            state.wake?.yield()
        }
    }

    /// A new provider's input: the sentences not fully heard so far, then the rest as they come;
    /// and a stream that pokes the chain's deadline when text is handed over.
    func attach() -> (AsyncStream<String>, AsyncStream<Void>) {
        let (input, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(FallbackTextToSpeech.sentenceCapacity))
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        state.withLock { state in
            state.replayFrom = Self.firstUnheard(state)
            state.heardCharacters = 0
            for sentence in state.sentences[state.replayFrom...] {
                if case .dropped = continuation.yield(sentence) { state.overflowed = true }
            }
            if state.replayFrom < state.sentences.count { state.lastText = .now }
            state.lastAudio = nil
            if state.finished { continuation.finish() }
            state.input = continuation
            state.wake = wake
        }
        return (input, wakes)
    }

    /// The failed provider's input ends.
    func detach() {
        state.withLock { state in
            state.input?.finish()
            state.wake?.finish()
            state.input = nil
            state.wake = nil
        }
    }

    func heard(_ chunk: AudioChunk) {
        state.withLock { state in
            state.lastAudio = .now
            state.heardCharacters += chunk.alignment?.characters.count ?? 0
        }
    }

    /// When the provider has kept text unanswered too long: text handed over (or the end of the
    /// text) after its last audio, and no audio for `timeout` since then and since the wait began.
    func deadline(waitingSince: ContinuousClock.Instant, timeout: Duration) -> ContinuousClock.Instant? {
        state.withLock { state in
            guard let lastText = state.lastText, state.lastAudio.map({ lastText > $0 }) ?? true else { return nil }
            return max(lastText, waitingSince) + timeout
        }
    }

    func overflow(provider: String) -> ProviderError? {
        state.withLock { $0.overflowed }
            ? ProviderError(provider: provider, kind: .engine, message: "more than \(FallbackTextToSpeech.sentenceCapacity) sentences waiting")
            : nil
    }

    /// The first sentence whose characters the audio heard so far does not cover (within two
    /// characters: alignments may leave out a space or a mark). Without alignments, nothing
    /// counts as heard, and the whole reply is spoken again.
    private static func firstUnheard(_ state: State) -> Int {
        var remaining = state.heardCharacters
        var index = state.replayFrom
        while index < state.sentences.count {
            let length = state.sentences[index].count
            guard remaining >= length - 2 else { break }
            remaining -= length
            index += 1
        }
        return index
    }
}
