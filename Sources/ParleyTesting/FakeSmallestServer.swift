public import Foundation
public import ParleyCore
import Synchronization

/// A fake smallest.ai (Waves) API on one loopback port, written from docs/providers.md, so that
/// one `SMALLEST_URL` reaches all three services as it does in production: Pulse live
/// speech-to-text (`/waves/v1/stt/live`, and the older `/waves/v1/pulse/get_text`), Lightning
/// text-to-speech (the WebSocket and SSE `/waves/v1/tts/live`, the sync `POST /waves/v1/tts`)
/// and Electron chat (`/waves/v1/chat/completions`, served by ``FakeOpenAIServer``'s handler).
///
/// Every route checks `Authorization: Bearer <key>` (HTTP 401 before a WebSocket upgrade);
/// retired Lightning routes answer 410 `MODEL_DEPRECATED`. WebSocket faults are injected per
/// connection, in arrival order across both services; everything is recorded, never the key.
public enum FakeSmallestServer {
    /// How the fake behaves.
    public struct Configuration: Sendable {
        /// The key accepted as `Authorization: Bearer <key>`.
        public var apiKey: String
        /// Pulse: transcripts, one per utterance heard, in order; after the last, empty ones.
        public var utterances: [String]
        /// Pulse: level of a 20 ms window, in dBFS, at or above which it counts as speech.
        public var speechThreshold: Float = -40
        /// Pulse: audio time between interim transcripts during speech.
        public var interimInterval: Duration = .milliseconds(250)
        /// Pulse: speech time per word revealed in interim transcripts.
        public var wordDuration: Duration = .milliseconds(200)
        /// Pulse: trailing silence its endpointing needs (capped by `eou_timeout_ms`).
        public var endpointingSilence: Duration = .milliseconds(500)
        /// Lightning: the voices it knows.
        public var voices: Set<String> = ["magnus", "emily", "james"]
        /// Lightning: speech per character of text (see ``speech(for:sampleRate:durationPerCharacter:)``).
        public var durationPerCharacter: Duration = .milliseconds(10)
        /// Lightning: bytes of PCM per `chunk` message (odd, so samples straddle chunks).
        public var chunkBytes = 2049
        /// Lightning: whether the socket is closed after `complete`, as the spec says.
        public var closesAfterComplete = true
        /// Electron: the chat fake's configuration (its key is set to ``apiKey``).
        public var chat: FakeOpenAIServer.Configuration
        /// WebSocket faults, one per connection in the order they arrive; later ones are served normally.
        public var faults: [Fault] = []

        /// Creates a configuration.
        public init(apiKey: String = "fake-smallest-key", utterances: [String] = ["Hello there."]) {
            self.apiKey = apiKey
            self.utterances = utterances
            chat = FakeOpenAIServer.Configuration(apiKey: apiKey)
            chat.models = ["electron"]
        }
    }

    /// A fault injected into one WebSocket connection.
    public enum Fault: Sendable, Equatable {
        /// Refuse the handshake with this status and body.
        case rejectHandshake(status: Int, body: String)
        /// After sending this many messages, send `{"status":"error",…}` (Lightning) or
        /// `{"type":"error",…}` (Pulse) with `message`, then close with 1011.
        case errorAfterMessages(Int, message: String)
        /// Close with 1008 right after the upgrade (too many concurrent sessions).
        case concurrencyClose
        /// Drop the TCP connection without a close frame after sending this many messages.
        case dropAfterMessages(Int)
        /// Accept, read, and never send anything.
        case stall
        /// Lightning: send a chunk whose audio is not base64.
        case badAudio
    }

    /// One WebSocket connection as the fake saw it.
    public struct ConnectionRecord: Sendable {
        /// The request path.
        public var path: String
        /// The query items in order, decoded.
        public var query: [(String, String)]
        /// Whether the Bearer key matched.
        public var authorized: Bool
        /// 101 when upgraded, else the refusal's status.
        public var status = 0
        /// Audio bytes received (Pulse).
        public var audioBytes = 0
        /// Text messages from the client, parsed (nil when not JSON), in order.
        public var received: [JSONValue?] = []
        /// Text messages the fake sent, in order.
        public var sent: [String] = []
        /// When the fake sent `complete` (Lightning).
        public var completedAt: ContinuousClock.Instant?
        /// The close the fake sent (nil code: dropped), if it ended the connection.
        public var serverClose: (code: Int?, reason: String)?

        /// The first value of query item `name`.
        public func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
        /// The `type` of each client text message (`?` when it has none).
        public var controlTypes: [String] { received.map { $0?["type"]?.stringValue ?? "?" } }
        /// The `type` (Pulse) or `status` (Lightning) of each message the fake sent.
        public var sentKinds: [String] {
            sent.map { JSONValue.parse($0).flatMap { $0["type"]?.stringValue ?? $0["status"]?.stringValue } ?? "?" }
        }
    }

    /// One HTTP request as the fake saw it.
    public struct HTTPRecord: Sendable {
        public var method: String
        public var path: String
        public var authorized: Bool
        public var status: Int
    }

    /// The fake as a running test sees it.
    public struct Running: Sendable {
        /// `SMALLEST_URL`: `http://127.0.0.1:<port>`.
        public let baseURL: String
        /// Electron's side: its requests.
        public let chat: FakeOpenAIServer.Running
        let log: FakeSmallestLog

        /// Pulse connections, in order.
        public var pulseConnections: [ConnectionRecord] { log.connections.withLock { $0 }.filter { $0.path != "/waves/v1/tts/live" } }
        /// Lightning WebSocket connections, in order.
        public var lightningConnections: [ConnectionRecord] { log.connections.withLock { $0 }.filter { $0.path == "/waves/v1/tts/live" } }
        /// HTTP requests other than Electron's, in order.
        public var httpRequests: [HTTPRecord] { log.http.withLock { $0 } }

        /// Waits until `predicate` holds, checking every 10 ms; returns whether it held in time.
        @discardableResult
        public func waitUntil(timeout: Duration = .seconds(5), _ predicate: @Sendable (Running) -> Bool) async -> Bool {
            await poll(timeout: timeout, every: .milliseconds(10)) { predicate(self) }
        }
    }

    /// The speech Lightning's fake makes for `text`: a tone per character, exactly computable by tests.
    public static func speech(for text: String, sampleRate: Int, durationPerCharacter: Duration) -> [Int16] {
        FakeElevenLabsServer.speech(for: text, sampleRate: sampleRate, durationPerCharacter: durationPerCharacter)
    }

    /// Runs the fake on a free loopback port for the length of `body`.
    public static func run<Result: Sendable>(
        _ configuration: Configuration, _ body: @Sendable (Running) async throws -> Result
    ) async throws -> Result {
        var chatConfiguration = configuration.chat
        chatConfiguration.apiKey = configuration.apiKey
        let chat = chatConfiguration
        let log = FakeSmallestLog(faults: configuration.faults, utterances: configuration.utterances)
        let chatLog = FakeOpenAIServer.Log(faults: chat.faults, dice: FakeFaultDice(chat.randomFaults), recordsRequests: chat.recordsRequests)
        let server = FakeProviderServer(
            webSocket: { request in upgrade(request, configuration: configuration, log: log) },
            http: { request, response in
                if request.path.hasPrefix("/waves/v1/chat/") || request.path == "/waves/v1/models" {
                    return try await FakeOpenAIServer.handle(request, response, configuration: chat, log: chatLog)
                }
                try await http(request, response, configuration: configuration, log: log)
            })
        return try await server.run { port in
            let base = "http://127.0.0.1:\(port)"
            return try await body(
                Running(
                    baseURL: base, chat: FakeOpenAIServer.Running(baseURL: base + "/waves/v1", groqBaseURL: base + "/waves/v1", log: chatLog),
                    log: log))
        }
    }

    /// Whether `request` carries the key.
    static func authorized(_ request: FakeRequest, _ configuration: Configuration) -> Bool {
        request.header("authorization") == "Bearer \(configuration.apiKey)"
    }

    static func upgrade(_ request: FakeRequest, configuration: Configuration, log: FakeSmallestLog) -> FakeUpgrade {
        let authorized = authorized(request, configuration)
        let (index, fault) = log.open(ConnectionRecord(path: request.path, query: request.query, authorized: authorized))
        func refuse(_ status: Int, _ body: JSONValue) -> FakeUpgrade {
            log.update(index) { $0.status = status }
            return .reject(status: status, headers: [("Content-Type", "application/json")], body: body.serialized)
        }
        let pulse = request.path == "/waves/v1/stt/live" || request.path == "/waves/v1/pulse/get_text"
        guard pulse || request.path == "/waves/v1/tts/live" else { return refuse(404, ["status": "error", "message": "Not found"]) }
        guard authorized else { return refuse(401, ["status": "error", "message": "Unauthorized: invalid or missing API key"]) }
        if case .rejectHandshake(let status, let body) = fault {
            log.update(index) { $0.status = status }
            return .reject(status: status, headers: [("Content-Type", "application/json")], body: body)
        }
        if pulse {
            switch FakeSmallestPulse.Options.parse(request.query) {
            case .failure(let failure):
                return refuse(400, ["status": "error", "message": .string(failure.message)])
            case .success(let options):
                log.update(index) { $0.status = 101 }
                let connection = FakeSmallestPulse(index: index, options: options, configuration: configuration, fault: fault, log: log)
                return .accept { socket in try await connection.run(socket) }
            }
        }
        log.update(index) { $0.status = 101 }
        let timeout = request.queryValue("timeout").flatMap(Double.init).map { Duration.seconds($0) } ?? .seconds(60)
        let connection = FakeSmallestLightning(index: index, configuration: configuration, fault: fault, log: log, idleTimeout: timeout)
        return .accept { socket in try await connection.run(socket) }
    }
}

/// What the fake records, shared by its connections, and Pulse's script.
final class FakeSmallestLog: Sendable {
    static let maximumEntries = 100_000

    let connections = Mutex<[FakeSmallestServer.ConnectionRecord]>([])
    let http = Mutex<[FakeSmallestServer.HTTPRecord]>([])
    private let faults: Mutex<[FakeSmallestServer.Fault]>
    private let utterances: [String]
    private let nextUtterance = Mutex(0)

    init(faults: [FakeSmallestServer.Fault], utterances: [String]) {
        self.faults = Mutex(faults)
        self.utterances = utterances
    }

    func open(_ record: FakeSmallestServer.ConnectionRecord) -> (Int, FakeSmallestServer.Fault?) {
        let fault = faults.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        let index = connections.withLock { records in
            records.append(record)
            return records.count - 1
        }
        return (index, fault)
    }

    func update(_ index: Int, _ change: (inout FakeSmallestServer.ConnectionRecord) -> Void) {
        connections.withLock { change(&$0[index]) }
    }

    func sent(_ index: Int, _ text: String) {
        connections.withLock { if $0[index].sent.count < Self.maximumEntries { $0[index].sent.append(text) } }
    }

    func received(_ index: Int, _ message: JSONValue?) {
        connections.withLock { if $0[index].received.count < Self.maximumEntries { $0[index].received.append(message) } }
    }

    /// The words of the utterance being heard; empty once the script has run out.
    func currentUtterance() -> String {
        nextUtterance.withLock { $0 < utterances.count ? utterances[$0] : "" }
    }

    /// Moves on once the current utterance is final.
    func utteranceFinal() {
        nextUtterance.withLock { $0 += 1 }
    }
}
