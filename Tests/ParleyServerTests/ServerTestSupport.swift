import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Synchronization
import Testing

/// Fake providers that complete a turn quickly.
func fakeProviders(transcripts: [String] = ["Hello there.", "Again."]) -> SessionProviders {
    SessionProviders(
        speechToText: ScriptedSpeechToText(transcripts: transcripts),
        languageModel: StreamingFakeLanguageModel(reply: "Hi! Nice to hear you.", tokenDelay: .milliseconds(5)),
        textToSpeech: ToneTextToSpeech(durationPerCharacter: .milliseconds(5)))
}

/// Builds the application on a free port with the given providers.
func makeApplication(providers: SessionProviders, health: HealthMonitor? = nil) -> some ApplicationProtocol {
    buildApplication(
        configuration: ServerConfiguration(port: 0, webRoot: nil, maximumSessions: 4),
        providers: providers, health: health ?? HealthMonitor(providers: providers),
        logger: Logger(label: "parley.test"))
}

/// A raw WebSocket conversation: send frames, collect the text events received.
struct RawSocket {
    /// Connects, runs `body` with the writer, and returns every JSON event received until the close.
    static func converse(
        port: Int,
        _ body: @escaping @Sendable (WebSocketOutboundWriter, RecordingSessionOutput) async throws -> Void
    ) async throws -> [SessionEvent] {
        try await conversation(port: port, body).events
    }

    /// Connects (sending `Origin` when given), runs `body` with the writer, and returns every JSON
    /// event received and the server's close frame.
    static func conversation(
        port: Int, origin: String? = nil, received: RecordingSessionOutput = RecordingSessionOutput(),
        _ body: @escaping @Sendable (WebSocketOutboundWriter, RecordingSessionOutput) async throws -> Void
    ) async throws -> (events: [SessionEvent], close: WebSocketCloseFrame?) {
        var configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 22)
        if let origin { configuration.additionalHeaders[.origin] = origin }
        let close = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/ws", configuration: configuration, logger: Logger(label: "raw")
        ) { inbound, outbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        if case .text(let text) = message, let event = try WireProtocol.decodeServerText(text) {
                            try await received.send(event)
                        }
                    }
                }
                try await body(outbound, received)
                try? await outbound.close(.normalClosure, reason: nil)
                try await group.waitForAll()
            }
        }
        return (received.events, close)
    }

    /// The HTTP status a WebSocket upgrade request to `path` is refused with (403, 503…), or 101
    /// when the server would accept it.
    static func handshakeStatus(port: Int, path: String = "/ws", origin: String? = nil) async throws -> Int {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.headers.add(name: "Connection", value: "Upgrade")
        request.headers.add(name: "Upgrade", value: "websocket")
        request.headers.add(name: "Sec-WebSocket-Version", value: "13")
        request.headers.add(name: "Sec-WebSocket-Key", value: "dGhlIHNhbXBsZSBub25jZQ==")
        if let origin { request.headers.add(name: "Origin", value: origin) }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            return Int(response.status.code)
        } catch {
            // AsyncHTTPClient does not take a 101 answer as a response.
            return 101
        }
    }
}

/// Sends 20 ms PCM16 frames over a raw WebSocket at the pace of a real microphone.
struct RealTimeMicrophone {
    let outbound: WebSocketOutboundWriter
    private let frameSamples = 320
    private let clock = ContinuousClock()

    init(outbound: WebSocketOutboundWriter) {
        self.outbound = outbound
    }

    /// Sends `samples` one frame every 20 ms.
    func say(_ samples: [Int16]) async throws {
        let start = clock.now
        for (index, frame) in AudioFixtures.frames(samples, frameSamples: frameSamples).enumerated() {
            try await clock.sleep(until: start + .milliseconds(20) * index)
            try await send(frame)
        }
    }

    /// Sends silence in real time until `condition` holds for the events received, or `timeout`
    /// passes; returns whether it held.
    func silence(
        upTo timeout: Duration, in received: RecordingSessionOutput, until condition: ([SessionEvent]) -> Bool
    ) async throws -> Bool {
        let start = clock.now
        let frame = [Int16](repeating: 0, count: frameSamples)
        var index = 0
        while !condition(received.events) {
            guard clock.now - start < timeout else { return false }
            try await clock.sleep(until: start + .milliseconds(20) * index)
            try await send(frame)
            index += 1
        }
        return true
    }

    private func send(_ frame: [Int16]) async throws {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(frame.count * 2)
        for sample in frame { buffer.writeInteger(sample, endianness: .little) }
        try await outbound.write(.binary(buffer))
    }
}

extension RecordingSessionOutput {
    /// Waits for `count` error events.
    func errors(atLeast count: Int) async -> [SessionError] {
        await wait { events in events.filter { if case .error = $0 { return true } else { return false } }.count >= count }
        return events.compactMap { event in
            guard case .error(let error) = event else { return nil }
            return error
        }
    }
}


/// Runs `ParleyServer` (what `parley serve` runs) on a free port, calls `body` with the port once
/// it listens, then stops the server.
func withParleyServer(
    options: ParleyServer.Options, session: SessionConfiguration = SessionConfiguration(),
    _ body: @escaping @Sendable (Int) async throws -> Void
) async throws {
    let server = ParleyServer(
        configuration: ServerConfiguration(port: 0, webRoot: nil, session: session), options: options, logger: Logger(label: "parley.test"))
    try await server.withRunning(body)
}
