import ParleyCore
import ParleyProviders
import ParleyTesting
import Synchronization
import Testing

/// Helpers shared by the ElevenLabs client and fake tests.
enum ElevenLabsTestSupport {
    /// A finished stream of `sentences`, as the session hands over a reply whose LLM is done.
    static func sentences(_ sentences: [String]) -> AsyncStream<String> {
        let (stream, sink) = AsyncStream.makeStream(of: String.self)
        for sentence in sentences { sink.yield(sentence) }
        sink.finish()
        return stream
    }

    /// A configuration pointing at `fake`, with its key unless `apiKey` is given.
    static func configuration(
        _ fake: FakeElevenLabsServer, apiKey: String? = nil, _ change: (inout ElevenLabsConfiguration) -> Void = { _ in }
    ) -> ElevenLabsConfiguration {
        var configuration = ElevenLabsConfiguration(apiKey: apiKey ?? fake.configuration.apiKey, baseURL: fake.baseURL)
        change(&configuration)
        return configuration
    }

    /// The provider error `body` throws, or nil (recording an issue) when it throws something else or nothing.
    static func providerError(_ body: () async throws -> Void) async -> ProviderError? {
        do {
            try await body()
        } catch let error as ProviderError {
            return error
        } catch {
            Issue.record("expected a ProviderError, got \(error)")
            return nil
        }
        Issue.record("expected a ProviderError, but it succeeded")
        return nil
    }

    /// All samples of `chunks`, joined.
    static func samples(_ chunks: [AudioChunk]) -> [Int16] {
        chunks.flatMap(\.samples)
    }
}

/// Audio delivered from another task, and whether any came after the task was cancelled.
final class AudioLog: Sendable {
    private let state = Mutex<(chunks: [AudioChunk], afterCancellation: Int)>(([], 0))
    /// Fired with the first chunk.
    let firstAudio = CancellationSignal()

    /// Records a chunk, noting whether the delivering task was already cancelled.
    func record(_ chunk: AudioChunk) {
        let cancelled = Task.isCancelled
        state.withLock { state in
            state.chunks.append(chunk)
            if cancelled { state.afterCancellation += 1 }
        }
        firstAudio.fire()
    }

    var chunks: [AudioChunk] { state.withLock { $0.chunks } }
    var deliveredAfterCancellation: Int { state.withLock { $0.afterCancellation } }
}
