import Foundation
import ParleyCore
import Synchronization

/// A local ElevenLabs text-to-speech server that follows docs/providers.md: the `stream-input` and
/// `multi-stream-input` WebSockets and the HTTP `…/stream` endpoint, with deterministic speech,
/// odd-sized audio chunks, alignment, the documented errors, latency knobs and faults.
///
/// ```swift
/// try await FakeElevenLabsServer.run(.init(durationPerCharacter: .milliseconds(5))) { fake in
///     let tts = ElevenLabsTextToSpeech(configuration: .init(apiKey: fake.configuration.apiKey, baseURL: fake.baseURL))
///     …
///     #expect(fake.streamInput[0].messages.first == …)
/// }
/// ```
///
/// Everything a client sends is recorded (keys redacted) so tests can check the protocol.
public final class FakeElevenLabsServer: Sendable {
    /// How the fake behaves.
    public let configuration: Configuration
    private let boundPort = Mutex(0)
    let records = Mutex(Records())
    let dice: FakeFaultDice
    /// Audio messages already made for a text (``audioMessages(for:format:syncAlignment:make:)``).
    let madeMessages = Mutex<[MadeMessagesKey: [MadeMessage]]>([:])

    init(configuration: Configuration) {
        self.configuration = configuration
        dice = FakeFaultDice(configuration.randomFaults)
    }

    /// Runs a fake on a free loopback port for the length of `body`.
    public static func run<Result: Sendable>(
        _ configuration: Configuration = Configuration(),
        _ body: @Sendable (FakeElevenLabsServer) async throws -> Result
    ) async throws -> Result {
        let fake = FakeElevenLabsServer(configuration: configuration)
        let server = FakeProviderServer(
            webSocket: { request in await fake.decideUpgrade(request) },
            http: { request, response in try await fake.respond(to: request, with: response) })
        return try await server.run { port in
            fake.boundPort.withLock { $0 = port }
            return try await body(fake)
        }
    }

    /// The port it listens on.
    public var port: Int { boundPort.withLock { $0 } }
    /// `http://127.0.0.1:<port>`: the base URL for ElevenLabs clients (WebSocket clients use `ws://`).
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The `stream-input` connections so far, in the order they opened.
    public var streamInput: [StreamInputRecord] { records.withLock { $0.streamInput } }
    /// The HTTP requests so far, in order.
    public var httpRequests: [HTTPRequestRecord] { records.withLock { $0.http } }

    /// Waits until `condition` holds, checking every 5 ms; false if it still does not after `timeout`.
    public func waitUntil(timeout: Duration = .seconds(5), _ condition: (FakeElevenLabsServer) -> Bool) async -> Bool {
        await poll(timeout: timeout, every: .milliseconds(5)) { condition(self) }
    }

    /// Changes one connection's record.
    func updateStreamInput(_ index: Int, _ change: (inout StreamInputRecord) -> Void) {
        records.withLock { change(&$0.streamInput[index]) }
    }

    /// Changes one request's record.
    func updateHTTP(_ index: Int, _ change: (inout HTTPRequestRecord) -> Void) {
        records.withLock { change(&$0.http[index]) }
    }

    /// Whether `value` (a header, query or message field, possibly `Bearer …`) is the key.
    func isValidKey(_ value: String?) -> Bool {
        guard var value else { return false }
        if value.lowercased().hasPrefix("bearer ") { value = String(value.dropFirst(7)) }
        return value == configuration.apiKey
    }

    /// The voice id in `/v1/text-to-speech/{voice_id}/<endpoint>`, if `path` has that shape.
    static func voiceID(in path: String, endpoint: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "v1", parts[2] == "text-to-speech", !parts[3].isEmpty,
            parts[4] == endpoint
        else { return nil }
        return String(parts[3])
    }

    /// An ElevenLabs REST error body: `{"detail":{"status":…,"message":…}}`.
    static func detail(_ status: String, _ message: String) -> String {
        (["detail": ["status": .string(status), "message": .string(message)]] as JSONValue).serialized
    }

    /// A FastAPI validation error body for a field.
    static func validationError(_ location: [String], _ message: String, type: String) -> String {
        let item: JSONValue = ["loc": .array(location.map(JSONValue.string)), "msg": .string(message), "type": .string(type)]
        return (["detail": [item]] as JSONValue).serialized
    }
}
