import Foundation
public import ParleyCore
import Synchronization

/// A fake OpenAI-compatible text-to-speech API, `POST /v1/audio/speech` (docs/providers.md,
/// "OpenAI-compatible text-to-speech"): the bearer key, the JSON body's rules, streamed audio
/// (raw PCM16, WAV, canned compressed bytes, or SSE deltas) in odd-sized chunks, OpenAI's error
/// envelope or a local server's FastAPI errors (Kokoro-FastAPI), rate-limit headers, and scripted
/// or random faults.
///
/// The audio is checkable: each request's speech is a tone whose pitch depends on the request's
/// arrival index and whose loudness depends on the sentence, `secondsPerCharacter` long per
/// character; ``speech(for:request:sampleRate:secondsPerCharacter:speed:)`` gives the exact samples.
public struct FakeOpenAISpeechServer: Sendable {
    /// How the fake behaves.
    public struct Configuration: Sendable {
        /// Which server's errors and rules the fake follows.
        public enum ErrorShape: Sendable {
            /// OpenAI: `{"error":{"message","type","param","code"}}`, `input` at most 4096
            /// characters, `instructions` and `stream_format` checked, rate-limit headers.
            case openAI
            /// Kokoro-FastAPI: `{"detail":{"error","message","type"}}` for rejected values,
            /// FastAPI's 422 `{"detail":[…]}` for a body that does not validate, `model` and `voice`
            /// optional, `instructions` and `stream_format` ignored (so no SSE), no length limit.
            case kokoro
        }

        /// The bearer token required, or nil to accept any request (a local server).
        public var apiKey: String?
        /// Error shapes and request rules.
        public var errorShape: ErrorShape = .openAI
        /// Model ids that exist; others are refused. Empty accepts any model.
        public var models: Set<String> = []
        /// Voice names accepted. With ``ErrorShape/openAI`` objects `{"id": …}` are accepted too
        /// (custom voices); with ``ErrorShape/kokoro`` a voice may be left out (the server's
        /// default) or combined, `a+b(0.5)`, each part one of these.
        public var voices: Set<String> = FakeOpenAISpeechServer.openAIVoices
        /// The rate of `pcm` and `wav` audio in Hz (OpenAI 24000; openedai-speech's Piper 22050).
        public var sampleRate = 24000
        /// The `Content-Type` of `pcm` audio, e.g. `audio/pcm;rate=22050` as openedai-speech sends.
        public var pcmContentType = "audio/pcm"
        /// Whether a `wav` header gives 0xFFFFFFFF for the RIFF and data sizes, as streaming
        /// servers do, instead of the true sizes.
        public var wavUnknownSizes = false
        /// Length of speech per character of `input`, at `speed` 1.
        public var secondsPerCharacter: Duration = .milliseconds(60)
        /// Body write sizes in bytes, used in turn; odd sizes split samples across writes (and,
        /// with `sse`, the audio across delta events).
        public var chunkBytes = [1001, 333, 2047, 7]
        /// Delay before the response head.
        public var headDelay: Duration = .zero
        /// Delay between the response head and the first byte of audio.
        public var firstAudioDelay: Duration = .zero
        /// Delay between writes (between sentences with `sentenceBursts`).
        public var chunkDelay: Duration = .zero
        /// Kokoro-style streaming: each sentence's audio is written in one go (still cut by
        /// `chunkBytes`), with `chunkDelay` only between sentences.
        public var sentenceBursts = false
        /// Faults, one per valid request in arrival order; requests beyond the list are served
        /// normally. Requests refused for their key or body take none.
        public var faults: [Fault] = []
        /// Random faults for valid requests without a scripted one: `refuse` answers a 5xx in the
        /// mode's error shape, `drop` resets the connection part way through the audio, `stall`
        /// never sends the response head, `slow` sends it late.
        public var randomFaults: FakeRandomFaults?
        /// How long a ``Fault/stall`` holds the request before the fake drops it itself.
        public var stallLimit: Duration = .seconds(60)
        /// Whether requests are kept in ``Running/requests`` (long load runs turn it off).
        public var recordsRequests = true

        /// Creates a configuration.
        public init(apiKey: String? = nil, errorShape: ErrorShape = .openAI) {
            self.apiKey = apiKey
            self.errorShape = errorShape
        }
    }

    /// A fault injected into one request.
    public enum Fault: Sendable, Equatable {
        /// An HTTP error in the mode's error shape; optional `retry-after` (seconds) and
        /// `retry-after-ms` headers.
        case status(Int, retryAfter: String? = nil, retryAfterMilliseconds: String? = nil)
        /// HTTP 200, the first `bytes` of the body, then (20 ms later, so that they all reach the
        /// client) the connection drops without the end of the chunked body. With `sse`, `bytes`
        /// counts audio bytes.
        case dropAfter(bytes: Int)
        /// Never answer: no response head until the client gives up or
        /// ``Configuration/stallLimit`` passes, then the connection drops.
        case stall
        /// The response head comes this late, then the speech as usual.
        case slowHead(Duration)
    }

    /// The voices OpenAI's `/audio/speech` accepts by name.
    public static let openAIVoices: Set<String> = [
        "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar",
    ]

    /// A request the fake received (the key itself is never kept).
    public struct Request: Sendable {
        /// The arrival index among all requests, which picks the pitch of its speech.
        public var index: Int
        /// The method.
        public var method: String
        /// The path.
        public var path: String
        /// Whether the bearer token matched (always true without ``Configuration/apiKey``).
        public var authorized: Bool
        /// The `Accept` header (the OpenAI SDK sends `application/octet-stream`).
        public var accept: String?
        /// The `Content-Type` header.
        public var contentType: String?
        /// The JSON body, or nil when it was not JSON.
        public var json: JSONValue?
        /// When it arrived.
        public var at: ContinuousClock.Instant
    }

    /// The fake as a running test sees it.
    public struct Running: Sendable {
        /// The base URL, `http://127.0.0.1:<port>/v1`.
        public let baseURL: String
        /// The configuration it runs with.
        public let configuration: Configuration
        let log: Log

        /// Every request received, in order.
        public var requests: [Request] { log.requests.withLock { $0 } }
        /// Audio streams the client abandoned before the end (connection closed mid-stream).
        public var abandonedStreams: Int { log.abandoned.withLock { $0 } }
        /// Audio streams written to the end.
        public var completedStreams: Int { log.completed.withLock { $0 } }
        /// The random faults acted out so far, by kind.
        public var randomFaultCounts: [FakeRandomFaults.Kind: Int] { log.dice.counts }

        /// The samples this fake speaks for `text` as request `index`, at its rate.
        public func speech(for text: String, request index: Int, speed: Double = 1) -> [Int16] {
            FakeOpenAISpeechServer.speech(
                for: text, request: index, sampleRate: configuration.sampleRate,
                secondsPerCharacter: configuration.secondsPerCharacter, speed: speed)
        }
    }

    final class Log: Sendable {
        let requests = Mutex<[Request]>([])
        let arrivals = Mutex(0)
        let faults: Mutex<[Fault]>
        let abandoned = Mutex(0)
        let completed = Mutex(0)
        let dice: FakeFaultDice
        let recordsRequests: Bool

        init(faults: [Fault], dice: FakeFaultDice, recordsRequests: Bool) {
            self.faults = Mutex(faults)
            self.dice = dice
            self.recordsRequests = recordsRequests
        }

        func nextFault() -> Fault? {
            faults.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        }

        /// Numbers and records a request; returns its index.
        func record(_ request: FakeRequest, authorized: Bool, json: JSONValue?) -> Int {
            let index = arrivals.withLock { count in
                defer { count += 1 }
                return count
            }
            guard recordsRequests else { return index }
            let record = Request(
                index: index, method: request.method, path: request.path, authorized: authorized, accept: request.header("accept"),
                contentType: request.header("content-type"), json: json, at: .now)
            requests.withLock { $0.append(record) }
            return index
        }
    }

    /// Runs the fake on a free loopback port for the length of `body`.
    public static func run<Result: Sendable>(
        _ configuration: Configuration = Configuration(), _ body: @Sendable (Running) async throws -> Result
    ) async throws -> Result {
        let log = Log(
            faults: configuration.faults, dice: FakeFaultDice(configuration.randomFaults), recordsRequests: configuration.recordsRequests)
        let server = FakeProviderServer(http: { request, response in
            try await handle(request, response, configuration: configuration, log: log)
        })
        return try await server.run { port in
            try await body(Running(baseURL: "http://127.0.0.1:\(port)/v1", configuration: configuration, log: log))
        }
    }
}
