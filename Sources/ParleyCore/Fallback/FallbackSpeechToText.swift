import Synchronization

/// A speech-to-text chain (`--stt deepgram,local`): recognises with the first provider and, when
/// it fails for good (its stream cannot be kept up, or an utterance fails), goes on with the next
/// for the rest of the session, replaying the speech not yet transcribed so the turn continues.
///
/// When the last provider fails too, the session is told (``TranscriptEvent/failed(_:)``: it
/// apologises) and the chain starts over from the first provider after a pause, a few times.
public struct FallbackSpeechToText: SpeechToText {
    /// The providers, in order of preference.
    public let recognisers: [any SpeechToText]
    /// Recent failures, shared by every session.
    public let chain: ProviderChain
    /// The input's sample rate, which sizes the replay buffer.
    public let sampleRate: Int

    public var name: String { recognisers.map(\.name).joined(separator: ",") }

    /// Blocks of quiet audio only when every provider in the chain takes them: the shortest.
    public var quietInputDuration: Duration? {
        let durations = recognisers.compactMap(\.quietInputDuration)
        return durations.count == recognisers.count ? durations.min() : nil
    }

    /// Blocks of speech only when every provider in the chain takes them: the shortest.
    public var speechInputDuration: Duration? {
        let durations = recognisers.compactMap(\.speechInputDuration)
        return durations.count == recognisers.count ? durations.min() : nil
    }

    /// The most speech kept for a replay.
    static let replayLimit: Duration = .seconds(15)
    /// Times the whole chain is started over in one session after every provider failed.
    static let restarts = 3
    /// The pause before starting over.
    static let restartPause: Duration = .seconds(1)

    /// Creates a chain of at least one recogniser.
    public init(_ recognisers: [any SpeechToText], chain: ProviderChain, sampleRate: Int) {
        precondition(!recognisers.isEmpty, "a chain needs a provider")
        self.recognisers = recognisers
        self.chain = chain
        self.sampleRate = sampleRate
    }

    /// Raised inside the consumer when an utterance failed and another provider may take it.
    private struct SwitchProvider: Error {
        let error: ProviderError
    }

    public func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        let feed = SpeechFeed(limit: Int(Double(sampleRate) * Self.replayLimit.seconds), preroll: sampleRate)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                for await item in input { feed.append(item) }
                feed.finish()
            }
            var restarts = 0
            while true {
                if try await recognise(feed, onEvent: onEvent) { return }
                restarts += 1
                guard restarts <= Self.restarts else {
                    throw feed.lastError ?? ProviderError(provider: name, kind: .engine, message: "every recogniser failed")
                }
                try await Task.sleep(for: Self.restartPause)
            }
        }
    }

    /// Runs the chain once; true when the input ended, false when every provider failed (the
    /// session has been told).
    private func recognise(_ feed: SpeechFeed, onEvent: (TranscriptEvent) async throws -> Void) async throws -> Bool {
        let order = chain.order(recognisers.map(\.name))
        for (position, index) in order.enumerated() {
            let recogniser = recognisers[index]
            let last = position + 1 == order.count
            let input = feed.attach()
            let error: ProviderError
            do {
                try await relay(
                    deadline: { _ in nil },
                    produce: { yield in try await recogniser.transcribe(input) { try await yield($0) } },
                    consume: { (event: TranscriptEvent) in
                        switch event {
                        case .final(_, endsTurn: true): feed.transcribed()
                        case .failed(let failure) where !last: throw SwitchProvider(error: failure)
                        default: break
                        }
                        try await onEvent(event)
                    })
                chain.served(recogniser.name)
                return true
            } catch let switching as SwitchProvider {
                error = switching.error
            } catch let failure as ProviderError {
                error = failure
            }
            feed.detach(error)
            try Task.checkCancellation()
            ProviderContext.observer?.providerFailed(error, stage: chain.stage)
            chain.failed(recogniser.name)
            if last {
                try await onEvent(.failed(error))
                return false
            }
            chain.fellBack(from: recogniser.name, to: recognisers[order[position + 1]].name, after: error)
        }
        return false
    }
}

/// The session's speech as a chain hands it to its current recogniser, with the speech since the
/// last turn-ending transcript kept (up to a limit) for the next recogniser should this one fail.
private final class SpeechFeed: Sendable {
    private struct State {
        /// Speech not yet transcribed: audio from the latest speech start, the start and end marks.
        var pending: [SpeechInput] = []
        var pendingSamples = 0
        /// A speech start is pending (not yet transcribed).
        var inSpeech = false
        var finished = false
        var input: AsyncStream<SpeechInput>.Continuation?
        var lastError: ProviderError?
    }

    private let limit: Int
    /// Audio kept from before speech starts (a second: recognisers like a lead-in).
    private let preroll: Int
    private let state = Mutex(State())

    init(limit: Int, preroll: Int) {
        self.limit = limit
        self.preroll = preroll
    }

    func append(_ item: SpeechInput) {
        state.withLock { state in
            if case .speechStarted = item { state.inSpeech = true }
            state.pending.append(item)
            if case .audio(let samples) = item { state.pendingSamples += samples.count }
            // Bounded: the oldest audio goes first. Outside speech only a lead-in is kept; within
            // it, up to the limit (a recogniser that needs more to finish an utterance has failed).
            let cap = state.inSpeech ? limit : preroll
            while state.pendingSamples > cap, let first = state.pending.firstIndex(where: { if case .audio = $0 { true } else { false } }) {
                if case .audio(let samples) = state.pending.remove(at: first) { state.pendingSamples -= samples.count }
            }
            // The feed only drops from the replay copy; the live input is the recogniser's own,
            // sized like the session's speech queue.
            state.input?.yield(item)
        }
    }

    func finish() {
        state.withLock { state in
            state.finished = true
            state.input?.finish()
        }
    }

    /// A new recogniser's input: the speech not yet transcribed, then the live speech.
    func attach() -> AsyncStream<SpeechInput> {
        let (input, continuation) = AsyncStream.makeStream(of: SpeechInput.self, bufferingPolicy: .bufferingOldest(1024))
        state.withLock { state in
            for item in state.pending { continuation.yield(item) }
            if state.finished { continuation.finish() }
            state.input = continuation
        }
        return input
    }

    /// The recogniser failed: its input ends.
    func detach(_ error: ProviderError) {
        state.withLock { state in
            state.input?.finish()
            state.input = nil
            state.lastError = error
        }
    }

    /// A transcript ended the turn: what came before is done.
    func transcribed() {
        state.withLock { state in
            state.pending.removeAll()
            state.pendingSamples = 0
            state.inSpeech = false
        }
    }

    var lastError: ProviderError? { state.withLock { $0.lastError } }
}
