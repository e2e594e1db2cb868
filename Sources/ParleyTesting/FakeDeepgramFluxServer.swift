import Foundation
import ParleyCore
import Synchronization

/// A fake Deepgram Flux server (`/v2/listen`), written from docs/providers.md, for testing clients
/// without the network.
///
/// It checks the key and the query at the handshake (HTTP 401 and 400 with Deepgram's error body),
/// sends `Connected`, treats binary messages as audio on an audio clock, finds speech by energy,
/// and plays Flux's turn state machine with the next line of ``Configuration/turns``:
/// `StartOfTurn`, `Update`s every ``Configuration/updateInterval`` of audio, `EagerEndOfTurn`
/// (when the client set `eager_eot_threshold`) after ``Configuration/eagerSilence``,
/// `TurnResumed` when speech comes back, and `EndOfTurn` (`trigger` `model`, `timeout` or
/// `manual`) with the eager event's words. `ForceEndTurn`, `Configure`, `CloseStream` and a
/// `KeepAlive` behave as Flux's do; one `sequence_id` counts every message. Faults are injected per
/// connection (``Configuration/faults``) and everything is recorded; the key never is.
public enum FakeDeepgramFluxServer {
    /// How the fake behaves.
    public struct Configuration: Sendable {
        /// The key accepted as `Authorization: Token <key>` or `Bearer <key>`.
        public var apiKey: String
        /// Transcripts, one per turn, in order (shared by all connections); after the last, turns
        /// have empty transcripts.
        public var turns: [String]
        /// Level of a 20 ms window, in dBFS, at or above which it counts as speech.
        public var speechThreshold: Float = -40
        /// Audio time between `Update`s while a turn is open.
        public var updateInterval: Duration = .milliseconds(250)
        /// Speech time per word revealed in `Update`s.
        public var wordDuration: Duration = .milliseconds(200)
        /// Trailing silence before `EagerEndOfTurn`, when the client asked for it.
        public var eagerSilence: Duration = .milliseconds(200)
        /// Trailing silence before a model `EndOfTurn` (none when `eot_threshold` is 1.0).
        public var endSilence: Duration = .milliseconds(450)
        /// Whether out-of-range thresholds, an unknown model or a raw encoding without
        /// `sample_rate` are refused with HTTP 400.
        public var validateParameters = true
        /// The close after `CloseStream`: nil closes without a status code (the TCP connection
        /// ends without a close frame; clients see 1005 or 1006), as Flux does.
        public var closeCodeAfterCloseStream: Int?
        /// Whether a `{"type":"KeepAlive"}` text closes the socket without a status, as reported of Flux.
        public var keepAliveCloses = true
        /// Faults, one per connection in arrival order; later connections are served normally.
        public var faults: [Fault] = []

        /// Creates a configuration.
        public init(apiKey: String = "fake-deepgram-key", turns: [String] = ["Hello there."]) {
            self.apiKey = apiKey
            self.turns = turns
        }
    }

    /// A fault injected into one connection.
    public enum Fault: Sendable, Equatable {
        /// Refuse the handshake with this status and body.
        case rejectHandshake(status: Int, body: String)
        /// After this many `EndOfTurn`s, send an `Error` and close with 1011.
        case errorAfterTurns(Int, code: String, description: String)
        /// After the first `StartOfTurn`, send nothing more, keeping the socket open (Flux's known stall).
        case stallAfterStartOfTurn
        /// Drop the TCP connection without a close frame once this many audio bytes have arrived.
        case dropAfterBytes(Int)
    }

    /// A message the fake sent.
    public struct SentMessage: Sendable, Equatable {
        /// `type`.
        public var type: String
        /// `event` of a `TurnInfo`, else the type.
        public var event: String
        /// `turn_index` of a `TurnInfo`.
        public var turnIndex: Int?
        /// `transcript` of a `TurnInfo`.
        public var transcript: String?
        /// `trigger` of an `EndOfTurn`.
        public var trigger: String?
        /// `sequence_id`.
        public var sequenceID: Int
        /// The audio clock when it was sent, in seconds.
        public var audioTime: Double
        /// The message as sent.
        public var text: String
    }

    /// One connection attempt as the fake saw it.
    public struct ConnectionRecord: Sendable {
        /// The request path.
        public var path: String
        /// The query items in order, decoded.
        public var query: [(String, String)]
        /// Whether the key matched.
        public var authorized: Bool
        /// 101 when upgraded, else the refusal's status.
        public var status = 0
        /// Audio bytes received.
        public var audioBytes = 0
        /// Binary messages received.
        public var audioMessages = 0
        /// The `type` of each text message from the client, in order (`?` for unparseable ones).
        public var controlMessages: [String] = []
        /// Every message the fake sent, in order.
        public var sent: [SentMessage] = []
        /// The close the fake sent (nil code: no status), if it closed first.
        public var serverClose: (code: Int?, reason: String)?

        /// The first value of query item `name`.
        public func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
        /// Every value of query item `name`.
        public func queryValues(_ name: String) -> [String] { query.filter { $0.0 == name }.map(\.1) }
    }

    /// The fake as a running test sees it.
    public struct Running: Sendable {
        /// Where to connect: `ws://127.0.0.1:<port>` (the client appends `/v2/listen`).
        public let baseURL: String
        let log: FakeDeepgramFluxLog

        /// Every connection attempt so far, in order.
        public var connections: [ConnectionRecord] { log.records.withLock { $0 } }

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
        let log = FakeDeepgramFluxLog(faults: configuration.faults, turns: configuration.turns)
        let server = FakeProviderServer(
            webSocket: { request in upgrade(request, configuration: configuration, log: log) },
            http: { _, response in
                try await response.send(
                    status: 426, headers: [("Content-Type", "application/json")],
                    body: #"{"err_code":"UPGRADE_REQUIRED","err_msg":"The fake serves only Flux's live WebSocket."}"#)
            })
        return try await server.run { port in
            try await body(Running(baseURL: "ws://127.0.0.1:\(port)", log: log))
        }
    }

    static func upgrade(_ request: FakeRequest, configuration: Configuration, log: FakeDeepgramFluxLog) -> FakeUpgrade {
        let authorization = request.header("authorization") ?? ""
        let authorized = ["Token", "Bearer"].contains { authorization == "\($0) \(configuration.apiKey)" }
        let (index, fault) = log.open(ConnectionRecord(path: request.path, query: request.query, authorized: authorized))
        let requestID = UUID().uuidString.lowercased()
        func refuse(_ status: Int, code: String, message: String) -> FakeUpgrade {
            log.update(index) { $0.status = status }
            let body: JSONValue = ["err_code": .string(code), "err_msg": .string(message), "request_id": .string(requestID)]
            return .reject(
                status: status, headers: [("Content-Type", "application/json"), ("dg-error", message), ("dg-request-id", requestID)],
                body: body.serialized)
        }
        guard request.path == "/v2/listen" else { return refuse(404, code: "NOT_FOUND", message: "Not found.") }
        guard authorized else { return refuse(401, code: "INVALID_AUTH", message: "Invalid credentials.") }
        let options: FakeDeepgramFluxOptions
        switch FakeDeepgramFluxOptions.parse(request.query, validate: configuration.validateParameters) {
        case .success(let parsed): options = parsed
        case .failure(let failure): return refuse(400, code: "INVALID_QUERY_PARAMETER", message: failure.message)
        }
        if case .rejectHandshake(let status, let body) = fault {
            log.update(index) { $0.status = status }
            return .reject(status: status, headers: [("Content-Type", "application/json")], body: body)
        }
        log.update(index) { $0.status = 101 }
        let connection = FakeDeepgramFluxConnection(
            index: index, options: options, configuration: configuration, fault: fault, log: log, requestID: requestID)
        return .accept(headers: [("dg-request-id", requestID)]) { socket in
            try await connection.run(socket)
        }
    }
}

/// What the fake records, shared by its connections, and the turn script.
final class FakeDeepgramFluxLog: Sendable {
    // Records are for short tests; the cap keeps a runaway client from exhausting memory.
    static let maximumEntries = 100_000

    let records = Mutex<[FakeDeepgramFluxServer.ConnectionRecord]>([])
    private let faults: Mutex<[FakeDeepgramFluxServer.Fault]>
    private let turns: [String]
    private let nextTurn = Mutex(0)

    init(faults: [FakeDeepgramFluxServer.Fault], turns: [String]) {
        self.faults = Mutex(faults)
        self.turns = turns
    }

    /// Adds a connection attempt; returns its index and its fault.
    func open(_ record: FakeDeepgramFluxServer.ConnectionRecord) -> (Int, FakeDeepgramFluxServer.Fault?) {
        let fault = faults.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        let index = records.withLock { records in
            records.append(record)
            return records.count - 1
        }
        return (index, fault)
    }

    /// Changes connection `index`'s record.
    func update(_ index: Int, _ change: (inout FakeDeepgramFluxServer.ConnectionRecord) -> Void) {
        records.withLock { change(&$0[index]) }
    }

    /// Records a text message the fake sent.
    func sent(_ index: Int, _ message: FakeDeepgramFluxServer.SentMessage) {
        records.withLock { records in
            if records[index].sent.count < Self.maximumEntries { records[index].sent.append(message) }
        }
    }

    /// The words of the turn being heard; empty once the script has run out.
    func currentTurn() -> String {
        nextTurn.withLock { $0 < turns.count ? turns[$0] : "" }
    }

    /// Moves on to the next turn once the current one has ended.
    func turnEnded() {
        nextTurn.withLock { $0 += 1 }
    }
}
