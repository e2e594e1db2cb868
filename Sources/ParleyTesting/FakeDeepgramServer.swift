import Foundation
public import ParleyCore
import Synchronization

/// A fake Deepgram live transcription server (`/v1/listen`), written from docs/providers.md, for
/// testing clients without the network.
///
/// It checks the key and the query at the handshake (HTTP 401 and 400 with Deepgram's error body
/// and a `dg-error` header), treats binary messages as audio on an audio clock, finds speech by
/// energy, and answers each utterance with the next line of ``Configuration/utterances``:
/// `SpeechStarted`, interim `Results`, final `Results` with `speech_final` after the endpointing
/// silence, `UtteranceEnd`; `Finalize`, `KeepAlive` and `CloseStream` behave as Deepgram's do, and
/// a connection idle for ``Configuration/idleTimeout`` is closed with 1011 `NET-0001`. Faults are
/// injected per connection (``Configuration/faults``) and everything is recorded for assertions;
/// the key itself is never recorded.
public enum FakeDeepgramServer {
    /// How the fake behaves.
    public struct Configuration: Sendable {
        /// What the fake answers unparseable or unknown text messages with.
        public enum UnparseableReply: Sendable, Equatable {
            /// `{"type":"Error","variant":"SchemaError",…}`; the connection stays open.
            case schemaError
            /// Close 1008.
            case close
        }

        /// The key accepted as `Authorization: Token <key>` or `Bearer <key>`.
        public var apiKey: String
        /// Transcripts, one per utterance heard, in order; after the last, utterances get empty
        /// transcripts. Shared by all connections, so a reconnect continues the script.
        public var utterances: [String]
        /// Whether the script starts over after its last utterance (load tests) instead of giving
        /// empty transcripts.
        public var repeatsUtterances = false
        /// Whether each audio frame and text message is recorded with its time; load tests turn it
        /// off, keeping only the counts, so records stay small and no lock is taken per frame.
        public var recordsTraffic = true
        /// Whether bad query parameters are refused with HTTP 400 (encoding and sample rate,
        /// `utterance_end_ms` without interim results or under 1000, Nova-3 with `keywords`).
        public var validateParameters = true
        /// Time without any client message after which the fake closes with 1011 `NET-0001`.
        public var idleTimeout: Duration = .seconds(10)
        /// The clock of the idle timer and of the drop of a client that leaves the fake's close
        /// unanswered: a test moves a ``ManualClock`` to close an idle connection without waiting
        /// on wall time. Traffic records keep the continuous clock.
        public var clock: SessionClock = .continuous
        /// Level of a 20 ms window, in dBFS, at or above which it counts as speech.
        public var speechThreshold: Float = -40
        /// Audio time between interim results during speech (Deepgram's is about a second).
        public var interimInterval: Duration = .milliseconds(250)
        /// Final results each utterance is split into, at word boundaries; only the last one
        /// carries `speech_final`/`from_finalize`.
        public var finalsPerUtterance = 1
        /// Whether the last final of an utterance says `speech_final:true` (false imitates noise
        /// that keeps endpointing from firing, leaving `UtteranceEnd` to end the turn).
        public var speechFinal = true
        /// Silence that finalizes an utterance when the client turned endpointing off.
        public var finalizationSilence: Duration = .milliseconds(500)
        /// When set, an empty final is sent for every this much audio without speech.
        public var emptyFinalsEvery: Duration?
        /// The answer to text messages that cannot be parsed.
        public var unparseableReply = UnparseableReply.schemaError
        /// Adds unknown fields to Results and sends unknown message types now and then.
        public var chaos = false
        /// Delay before the handshake is answered.
        public var handshakeDelay: Duration = .zero
        /// Delay before the first Result of each connection.
        public var firstResultDelay: Duration = .zero
        /// Faults, one per connection in the order they arrive; later connections are served
        /// normally.
        public var faults: [Fault] = []
        /// Random faults for connections without a scripted one: `refuse` answers the handshake
        /// with a 5xx, `drop` drops the TCP connection within the first 5 s of audio, `stall` never
        /// answers the handshake, `slow` answers it late.
        public var randomFaults: FakeRandomFaults?

        /// Creates a configuration.
        public init(apiKey: String = "fake-deepgram-key", utterances: [String] = ["Hello there."]) {
            self.apiKey = apiKey
            self.utterances = utterances
        }
    }

    /// A fault injected into one connection.
    public enum Fault: Sendable, Equatable {
        /// No fault.
        case none
        /// Refuse the handshake with this status, body and optional `dg-error` header.
        case reject(status: Int, body: String, reason: String? = nil)
        /// Close with `code` and `reason` once this many audio bytes have arrived.
        case closeAfterAudio(bytes: Int, code: Int = 1011, reason: String = "NET-0000")
        /// Close with `code` and `reason` right after the given number of Results.
        case closeAfterResults(Int, code: Int = 1011, reason: String = "NET-0000")
        /// Drop the TCP connection without a close frame once this many audio bytes have arrived.
        case dropAfterAudio(bytes: Int)
        /// Never send a text message (no Results, no Metadata, no close on CloseStream).
        case stallResults
        /// Send a text message that is not JSON right after the given number of Results.
        case malformedAfterResults(Int)
        /// Answer `CloseStream` with a close (`1011 NET-0000`, as Deepgram does when it produced
        /// no result in time) instead of the last results and Metadata.
        case closeOnCloseStream(code: Int = 1011, reason: String = "NET-0000")
        /// Send `text` (an `Error` message, say) right after the given number of Results.
        case sendAfterResults(Int, text: String)
    }

    /// One connection attempt as the fake saw it.
    public struct ConnectionRecord: Sendable {
        /// The request path.
        public var path: String
        /// The query items in order, decoded.
        public var query: [(String, String)]
        /// The `Authorization` scheme used (`Token` or `Bearer`), nil when the header was missing.
        public var authScheme: String?
        /// Whether the key matched.
        public var authorized: Bool
        /// 101 when upgraded, else the refusal's status.
        public var status = 0
        /// When the upgrade request arrived.
        public var opened = ContinuousClock.now
        /// Text messages from the client, in order.
        public var textMessages: [(text: String, at: ContinuousClock.Instant)] = []
        /// Each audio message's size and arrival.
        public var audioFrames: [(bytes: Int, at: ContinuousClock.Instant)] = []
        /// Audio bytes received.
        public var audioBytes = 0
        /// Text messages the fake sent, in order.
        public var sent: [String] = []
        /// The close the fake sent, if it closed first.
        public var serverClose: (code: Int, reason: String)?
        /// The close code the client sent (or echoed); nil when the connection ended without one.
        public var clientCloseCode: Int?
        /// When the connection ended.
        public var ended: ContinuousClock.Instant?

        /// The first value of query item `name`.
        public func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
        /// Every value of query item `name`.
        public func queryValues(_ name: String) -> [String] { query.filter { $0.0 == name }.map(\.1) }
        /// The `type` of each text message from the client, in order (`?` for unparseable ones).
        public var controlTypes: [String] { textMessages.map { JSONValue.parse($0.text)?["type"]?.stringValue ?? "?" } }
        /// The `type` of each message the fake sent, in order.
        public var sentTypes: [String] { sent.map { JSONValue.parse($0)?["type"]?.stringValue ?? "?" } }
    }

    /// The fake as a running test sees it.
    public struct Running: Sendable {
        /// Where to connect: `ws://127.0.0.1:<port>`.
        public let baseURL: String
        let log: FakeDeepgramLog
        let script: FakeDeepgramScript

        /// Every connection attempt so far, in order.
        public var connections: [ConnectionRecord] { log.records.withLock { $0 } }
        /// Audio bytes received over all connections.
        public var totalAudioBytes: Int { connections.reduce(0) { $0 + $1.audioBytes } }
        /// Utterances finalized so far (the script's position).
        public var utterancesFinalized: Int { script.finalized }
        /// The random faults acted out so far, by kind.
        public var randomFaultCounts: [FakeRandomFaults.Kind: Int] { log.dice.counts }

        /// Waits until `predicate` holds, checking every 10 ms; returns whether it held in time.
        @discardableResult
        public func waitUntil(timeout: Duration = .seconds(5), _ predicate: @Sendable (Running) -> Bool) async -> Bool {
            await poll(timeout: timeout, every: .milliseconds(10)) { predicate(self) }
        }
    }

    /// Runs the fake on a free loopback port for the length of `body`.
    public static func run<Result: Sendable>(
        _ configuration: Configuration, _ body: @Sendable (Running) async throws -> Result
    ) async throws -> Result {
        let log = FakeDeepgramLog(
            faults: configuration.faults, recordsTraffic: configuration.recordsTraffic, dice: FakeFaultDice(configuration.randomFaults))
        let script = FakeDeepgramScript(configuration.utterances, repeats: configuration.repeatsUtterances)
        let server = FakeProviderServer(
            webSocket: { request in await upgrade(request, configuration: configuration, log: log, script: script) },
            http: { _, response in
                try await response.send(
                    status: 426, headers: [("Content-Type", "application/json")],
                    body: #"{"err_code":"UPGRADE_REQUIRED","err_msg":"The fake serves only live WebSocket transcription."}"#)
            })
        return try await server.run { port in
            try await body(Running(baseURL: "ws://127.0.0.1:\(port)", log: log, script: script))
        }
    }

    static func upgrade(
        _ request: FakeRequest, configuration: Configuration, log: FakeDeepgramLog, script: FakeDeepgramScript
    ) async -> FakeUpgrade {
        if configuration.handshakeDelay > .zero { try? await FakeClock.sleep(for: configuration.handshakeDelay) }
        let authorization = request.header("authorization") ?? ""
        let scheme = authorization.split(separator: " ", maxSplits: 1).first.map(String.init)
        let authorized = ["Token", "Bearer"].contains { authorization == "\($0) \(configuration.apiKey)" }
        let record = ConnectionRecord(path: request.path, query: request.query, authScheme: scheme, authorized: authorized)
        var (index, fault) = log.open(record)
        let requestID = UUID().uuidString.lowercased()
        func refuse(_ status: Int, code: String, message: String) -> FakeUpgrade {
            log.update(index) { $0.status = status }
            let body: JSONValue = ["err_code": .string(code), "err_msg": .string(message), "request_id": .string(requestID)]
            return .reject(
                status: status, headers: [("Content-Type", "application/json"), ("dg-error", message), ("dg-request-id", requestID)],
                body: body.serialized)
        }
        guard request.path == "/v1/listen" else { return refuse(404, code: "NOT_FOUND", message: "Not found.") }
        guard authorized else { return refuse(401, code: "INVALID_AUTH", message: "Invalid credentials.") }
        let options: FakeDeepgramOptions
        switch FakeDeepgramOptions.parse(request.query, validate: configuration.validateParameters) {
        case .success(let parsed): options = parsed
        case .failure(.badRequest(let message)): return refuse(400, code: "INVALID_QUERY_PARAMETER", message: message)
        }
        var randomDrop = false
        if fault == .none, let random = log.dice.draw() {
            switch random {
            case .refuse(let status):
                log.dice.acted(.refuse)
                return refuse(status, code: "INTERNAL_SERVER_ERROR", message: "The fake Deepgram failed at random (chaos).")
            case .stall(let limit):
                log.dice.acted(.stall)
                return .stall(limit: limit)
            case .slow(let delay):
                log.dice.acted(.slow)
                try? await FakeClock.sleep(for: delay)
            case .drop(let at):
                // Within the first 5 s of audio, so most sessions see it; at least 100 ms in.
                let bytesPerSecond = options.sampleRate * options.encoding.bytesPerSample
                fault = .dropAfterAudio(bytes: max(bytesPerSecond / 10, Int(at * 5 * Double(bytesPerSecond))))
                randomDrop = true
            }
        }
        if case .reject(let status, let body, let reason) = fault {
            log.update(index) { $0.status = status }
            return .reject(status: status, headers: reason.map { [("dg-error", $0)] } ?? [], body: body)
        }
        log.update(index) { $0.status = 101 }
        let connection = FakeDeepgramConnection(
            index: index, options: options, configuration: configuration, fault: fault, randomDrop: randomDrop, log: log,
            script: script, requestID: requestID)
        return .accept(headers: [("dg-request-id", requestID)]) { socket in
            try await connection.run(socket)
        }
    }
}

/// What the fake records, shared by its connections.
final class FakeDeepgramLog: Sendable {
    // Records are for short tests; the cap keeps a runaway client from exhausting memory.
    static let maximumEntries = 100_000

    let records = Mutex<[FakeDeepgramServer.ConnectionRecord]>([])
    /// Random faults for connections without a scripted one.
    let dice: FakeFaultDice
    private let faults: Mutex<[FakeDeepgramServer.Fault]>
    private let recordsTraffic: Bool

    init(faults: [FakeDeepgramServer.Fault], recordsTraffic: Bool, dice: FakeFaultDice) {
        self.faults = Mutex(faults)
        self.recordsTraffic = recordsTraffic
        self.dice = dice
    }

    /// Adds a connection attempt; returns its index and its fault.
    func open(_ record: FakeDeepgramServer.ConnectionRecord) -> (Int, FakeDeepgramServer.Fault) {
        let fault = faults.withLock { $0.isEmpty ? .none : $0.removeFirst() }
        let index = records.withLock { records in
            records.append(record)
            return records.count - 1
        }
        return (index, fault)
    }

    /// Changes connection `index`'s record.
    func update(_ index: Int, _ change: (inout FakeDeepgramServer.ConnectionRecord) -> Void) {
        records.withLock { change(&$0[index]) }
    }

    /// Records audio.
    func audio(_ index: Int, bytes: Int) {
        guard recordsTraffic else { return }
        records.withLock { records in
            records[index].audioBytes += bytes
            if records[index].audioFrames.count < Self.maximumEntries { records[index].audioFrames.append((bytes, .now)) }
        }
    }

    /// Records a text message from the client.
    func text(_ index: Int, _ text: String) {
        guard recordsTraffic else { return }
        records.withLock { records in
            if records[index].textMessages.count < Self.maximumEntries { records[index].textMessages.append((text, .now)) }
        }
    }

    /// Records a text message the fake sent.
    func sent(_ index: Int, _ text: String) {
        guard recordsTraffic else { return }
        records.withLock { records in
            if records[index].sent.count < Self.maximumEntries { records[index].sent.append(text) }
        }
    }
}
