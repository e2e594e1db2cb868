import Logging
import ParleyCore
import ParleyProviders
import ParleyTesting
import Synchronization

/// Audio, input streams and a recording harness for the Deepgram client and fake tests.
enum DeepgramTestSupport {
    static let key = "dg_test_secret_0123456789"

    /// "Speech": a tone well above the fake's speech threshold.
    static func speech(_ duration: Duration, sampleRate: Int = 16000) -> [Int16] {
        AudioFixtures.tone(frequency: 220, duration: duration, amplitude: 0.3, sampleRate: sampleRate)
    }

    /// Digital silence.
    static func silence(_ duration: Duration, sampleRate: Int = 16000) -> [Int16] {
        AudioFixtures.silence(duration, sampleRate: sampleRate)
    }

    /// 20 ms frames of `samples` as speech input.
    static func frames(_ samples: [Int16], sampleRate: Int = 16000) -> [SpeechInput] {
        AudioFixtures.frames(samples, frameSamples: sampleRate / 50).map { .audio($0) }
    }

    /// The finals among `events`, in order.
    static func finals(_ events: [TranscriptEvent]) -> [TranscriptEvent] {
        events.filter {
            if case .final = $0 { return true }
            return false
        }
    }

    /// The partial texts among `events`, in order.
    static func partials(_ events: [TranscriptEvent]) -> [String] {
        events.compactMap { event in
            if case .partial(let text) = event { return text }
            return nil
        }
    }

    /// A client for `fake` with short timers.
    static func client(
        _ fake: FakeDeepgramServer.Running, key: String = key, health: ConnectionHealth = ConnectionHealth(),
        configure: (inout DeepgramSpeechToText) -> Void = { _ in }
    ) -> DeepgramSpeechToText {
        var client = DeepgramSpeechToText(apiKey: key, baseURL: fake.baseURL, connectTimeout: .seconds(5), closeTimeout: .seconds(3), health: health)
        configure(&client)
        return client
    }

    /// Events the client reported, readable from other tasks while it runs.
    final class Recorder: Sendable {
        private let log = Mutex<[TranscriptEvent]>([])

        var events: [TranscriptEvent] { log.withLock { $0 } }

        func append(_ event: TranscriptEvent) { log.withLock { $0.append(event) } }

        /// Waits until `predicate` holds for the events (checking every 5 ms), or `timeout` passes.
        @discardableResult
        func wait(timeout: Duration = .seconds(5), until predicate: @Sendable ([TranscriptEvent]) -> Bool) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while !predicate(events) {
                guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(5))) != nil else {
                    return predicate(events)
                }
            }
            return true
        }
    }

    /// Runs `client` on input that `feed` produces (the input ends when `feed` returns) and
    /// returns what it reported and the error it threw, if any.
    static func transcribe(
        _ client: some SpeechToText, recorder: Recorder = Recorder(),
        feed: @escaping @Sendable (AsyncStream<SpeechInput>.Continuation) async throws -> Void
    ) async -> (events: [TranscriptEvent], error: (any Error)?) {
        let (input, continuation) = AsyncStream.makeStream(of: SpeechInput.self, bufferingPolicy: .bufferingOldest(100_000))
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask {
                    defer { continuation.finish() }
                    try await feed(continuation)
                }
                try await client.transcribe(input) { recorder.append($0) }
                try await group.waitForAll()
            }
            return (recorder.events, nil)
        } catch {
            return (recorder.events, error)
        }
    }

    /// Yields `items` one after another, optionally `pace` apart.
    static func yield(_ items: [SpeechInput], to continuation: AsyncStream<SpeechInput>.Continuation, pace: Duration? = nil) async throws {
        for item in items {
            continuation.yield(item)
            if let pace { try await Task.sleep(for: pace) }
        }
    }

    /// A log handler that keeps every message with its level and metadata, for checking what is
    /// logged (and that no key ever is).
    struct CapturingLogHandler: LogHandler {
        /// The shared record.
        final class Store: Sendable {
            private let lines = Mutex<[(level: Logger.Level, text: String)]>([])

            var entries: [(level: Logger.Level, text: String)] { lines.withLock { $0 } }

            func append(_ level: Logger.Level, _ text: String) { lines.withLock { $0.append((level, text)) } }
        }

        let store: Store
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            store.append(event.level, "\(event.message) \(fields)")
        }
    }

    /// A logger at trace level whose lines end up in `store`.
    static func capturingLogger(_ store: CapturingLogHandler.Store) -> Logger {
        Logger(label: "test.deepgram") { _ in CapturingLogHandler(store: store) }
    }
}
