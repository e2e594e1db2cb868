import Foundation
import HTTPTypes
public import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import ParleyCore
import ParleyProviders
import Synchronization

/// A fake Twilio Media Streams client (docs/twilio.md) that holds a phone call against Parley.
///
/// Once ``start()`` is called it behaves like Twilio's media servers in real time: every 20 ms it
/// sends 160 bytes of caller μ-law (what ``say(_:)`` queued, else silence) with string sequence
/// numbers, chunks and timestamps, and it "plays" the media Parley sends at 8000 bytes per second
/// from the moment it arrives (counted continuously, as a phone plays it), echoing each mark when
/// playback reaches it. A `clear` drops the queued audio and returns (or
/// drops) the pending marks. Everything received is logged in a ``Snapshot`` with its arrival time,
/// and protocol faults by Parley (binary frames, a wrong `streamSid`, bad base64, WAV headers) are
/// collected as ``Snapshot/problems``.
public final class FakeTwilioCall: Sendable {
    /// How the fake call presents itself.
    public struct Options: Sendable {
        /// The stream id sent in `start` and expected on every message from Parley.
        public var streamSID = "MZ" + String(repeating: "0", count: 31) + "1"
        /// The call id.
        public var callSID = "CA" + String(repeating: "0", count: 31) + "1"
        /// `start.customParameters`.
        public var customParameters: [String: String] = ["agent": "default"]
        /// `start.mediaFormat.encoding`.
        public var encoding = "audio/x-mulaw"
        /// `start.mediaFormat.sampleRate`.
        public var sampleRate = 8000
        /// On `clear`, echo the marks still queued (true) or drop them.
        public var returnMarksOnClear = true
        /// Events kept in ``Snapshot/received`` (the latest; at least this many, at most twice);
        /// nil keeps them all. A long call in a load test keeps its snapshots small with this.
        public var eventsKept: Int?
        /// Creates the default options: a well-formed call.
        public init() {}
    }

    /// Something Parley sent.
    public enum Received: Sendable, Equatable {
        /// A `media` event of `bytes` μ-law bytes.
        case media(bytes: Int)
        /// A `mark` event.
        case mark(String)
        /// A `clear` event.
        case clear
    }

    /// What the call has seen so far.
    public struct Snapshot: Sendable {
        /// Every event from Parley, in order, with its arrival time.
        public var received: [(event: Received, at: ContinuousClock.Instant)] = []
        /// Marks echoed back after their audio played.
        public var echoedMarks: [String] = []
        /// Marks returned unplayed by a `clear`.
        public var returnedMarks: [String] = []
        /// μ-law bytes received and played so far.
        public var receivedBytes = 0
        public var playedBytes = 0
        /// ``playedBytes`` when each mark was reached in playback (marks returned by a `clear`
        /// are not here): the audio between two marks is what the caller heard between them.
        public var playedAtMark: [String: Int] = [:]
        /// The last μ-law bytes received (up to 10 s), for checking the audio itself.
        public var audio: [UInt8] = []
        /// Protocol faults in what Parley sent.
        public var problems: [String] = []
        /// When the last queued caller speech finished sending.
        public var speechSentAt: ContinuousClock.Instant?
        /// Whether Parley closed the socket.
        public var closed = false

        /// The events received after `instant`.
        public func received(after instant: ContinuousClock.Instant) -> [Received] {
            received.filter { $0.at > instant }.map(\.event)
        }
    }

    struct State {
        var snapshot = Snapshot()
        var playQueue: [PlayItem] = []
        var microphone: [UInt8] = []
        var sequenceNumber = 0
        var chunk = 0
        var streaming = false
        /// The instant playback has been counted up to; nil while nothing is queued to play.
        var playedThrough: ContinuousClock.Instant?
        /// Bytes' worth of playing time counted but not yet whole bytes, in nanoseconds.
        var playRemainder: Int64 = 0
    }

    enum PlayItem {
        case audio(Int)
        case mark(String)

        var isAudio: Bool { if case .audio = self { true } else { false } }
    }

    /// The options this call was made with.
    public let options: Options
    let outbound: WebSocketOutboundWriter
    let state = Mutex(State())
    static let frameBytes = 160
    static let audioKept = 80000

    init(options: Options, outbound: WebSocketOutboundWriter) {
        self.options = options
        self.outbound = outbound
    }

    /// Connects to `ws://127.0.0.1:port/twilio`, runs `body` with the call, then closes the socket
    /// (send ``stop()`` first for a graceful end; without it the close is abrupt); returns the
    /// server's close frame, if it closed first.
    @discardableResult
    public static func run(
        port: Int, path: String = "/twilio", options: Options = Options(), headers: [String: String] = [:],
        _ body: @escaping @Sendable (FakeTwilioCall) async throws -> Void
    ) async throws -> WebSocketCloseFrame? {
        var configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 20)
        for (name, value) in headers {
            if let field = HTTPField.Name(name) { configuration.additionalHeaders[field] = value }
        }
        // The call's tasks and its 20 ms clock run on the loop that reads its socket, as the fake
        // providers' do (``FakeProviderServer``): with `Task.sleep` every tick woke dispatch's
        // timer thread and a worker, which handed the call back to the loop.
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        return try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)\(path)", configuration: configuration, eventLoopGroup: loop, logger: Logger(label: "fake-twilio")
        ) { inbound, outbound, _ in
            try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: loop)) {
                try await RealTimeTimers.$current.withValue(EventLoopTimer(eventLoop: loop)) {
                    let call = FakeTwilioCall(options: options, outbound: outbound)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        defer { group.cancelAll() }
                        group.addTask { try await call.read(inbound) }
                        group.addTask { try await call.runClock() }
                        try await body(call)
                        group.cancelAll()
                    }
                    try? await outbound.close(.normalClosure, reason: nil)
                }
            }
        }
    }

    /// A copy of what the call has seen.
    public var snapshot: Snapshot { state.withLock { $0.snapshot } }

    /// Waits until `condition` holds (checked every 10 ms) or `timeout` passes; returns whether it held.
    public func wait(timeout: Duration = .seconds(10), until condition: (Snapshot) -> Bool) async -> Bool {
        await poll(timeout: timeout, every: .milliseconds(10)) { condition(snapshot) }
    }

    /// Sends `connected` and `start`, then streams the microphone every 20 ms.
    public func start() async throws {
        try await send(["event": "connected", "protocol": "Call", "version": "1.0.0"])
        var parameters: [String: JSONValue] = [:]
        for (name, value) in options.customParameters { parameters[name] = .string(value) }
        let start: JSONValue = [
            "streamSid": .string(options.streamSID), "accountSid": "AC00000000000000000000000000000001",
            "callSid": .string(options.callSID), "tracks": ["inbound"], "customParameters": .object(parameters),
            "mediaFormat": ["encoding": .string(options.encoding), "sampleRate": .number(Double(options.sampleRate)), "channels": 1],
        ]
        try await send(["event": "start", "sequenceNumber": .string(nextSequenceNumber()), "streamSid": .string(options.streamSID), "start": start])
        state.withLock { $0.streaming = true }
    }

    /// Queues caller speech (PCM16 at 8 kHz), sent as μ-law in the next 20 ms frames.
    public func say(_ samples: [Int16]) {
        let bytes = MuLaw.encode(samples)
        state.withLock { $0.microphone += bytes }
    }

    /// Sends `stop` and stops the microphone.
    public func stop() async throws {
        state.withLock { $0.streaming = false }
        try await send([
            "event": "stop", "sequenceNumber": .string(nextSequenceNumber()), "streamSid": .string(options.streamSID),
            "stop": ["accountSid": "AC00000000000000000000000000000001", "callSid": .string(options.callSID)],
        ])
    }

    /// Sends a `dtmf` key press.
    public func press(_ digit: String) async throws {
        try await send([
            "event": "dtmf", "sequenceNumber": .string(nextSequenceNumber()), "streamSid": .string(options.streamSID),
            "dtmf": ["track": "inbound_track", "digit": .string(digit)],
        ])
    }

    /// Sends a raw text frame (for malformed-input tests).
    public func sendRaw(_ text: String) async throws {
        try await outbound.write(.text(text))
    }

    /// Sends a raw binary frame (Twilio never does).
    public func sendBinary(_ bytes: [UInt8]) async throws {
        try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
    }

    func send(_ message: JSONValue) async throws {
        try await outbound.write(.text(message.serialized))
    }

    func nextSequenceNumber() -> String {
        state.withLock { state in
            state.sequenceNumber += 1
            return "\(state.sequenceNumber)"
        }
    }
}
