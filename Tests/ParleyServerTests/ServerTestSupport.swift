import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
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
        port: Int, path: String = "/ws",
        _ body: @escaping @Sendable (WebSocketOutboundWriter, RecordingSessionOutput) async throws -> Void
    ) async throws -> [SessionEvent] {
        try await conversation(port: port, path: path, body).events
    }

    /// Connects (sending `Origin` when given), runs `body` with the writer, and returns every JSON
    /// event received and the server's close frame.
    static func conversation(
        port: Int, path: String = "/ws", origin: String? = nil, headers: HTTPFields = [:],
        received: RecordingSessionOutput = RecordingSessionOutput(),
        _ body: @escaping @Sendable (WebSocketOutboundWriter, RecordingSessionOutput) async throws -> Void
    ) async throws -> (events: [SessionEvent], close: WebSocketCloseFrame?) {
        var configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 22)
        configuration.additionalHeaders = headers
        if let origin { configuration.additionalHeaders[.origin] = origin }
        let close = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)\(path)", configuration: configuration, logger: Logger(label: "raw")
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
    static func handshakeStatus(port: Int, path: String = "/ws", origin: String? = nil, headers: [(String, String)] = []) async throws -> Int {
        try await handshake(port: port, path: path, origin: origin, headers: headers).status
    }

    /// The status, headers and body of the answer to a WebSocket upgrade request, read off a
    /// plain TCP connection (an HTTP client library does not take a 101 as an answer).
    static func handshake(
        port: Int, path: String = "/ws", origin: String? = nil, headers: [(String, String)] = []
    ) async throws -> (status: Int, headers: [(String, String)], body: String) {
        var lines = [
            "GET \(path) HTTP/1.1", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ]
        if !headers.contains(where: { $0.0.lowercased() == "host" }) { lines.append("Host: 127.0.0.1:\(port)") }
        if let origin { lines.append("Origin: \(origin)") }
        lines += headers.map { "\($0.0): \($0.1)" }
        let request = lines.joined(separator: "\r\n") + "\r\n\r\n"
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
            channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        let answer = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var text = ""
            // Until the head is complete and, for a refusal, its body (the server closes after it).
            for try await chunk in inbound {
                text += String(buffer: chunk)
                if text.contains("\r\n\r\n"), text.hasPrefix("HTTP/1.1 101") || Self.bodyComplete(text) { break }
            }
            return text
        }
        guard let headEnd = answer.range(of: "\r\n\r\n") else { throw HandshakeError(answer: answer) }
        let headLines = answer[..<headEnd.lowerBound].components(separatedBy: "\r\n")
        guard let statusLine = headLines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            throw HandshakeError(answer: answer)
        }
        let fields = headLines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return (status, fields, String(answer[headEnd.upperBound...]))
    }

    /// Whether a response with a Content-Length has all of its body.
    private static func bodyComplete(_ text: String) -> Bool {
        guard let headEnd = text.range(of: "\r\n\r\n"),
            let lengthLine = text[..<headEnd.lowerBound].components(separatedBy: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }
            ),
            let length = Int(lengthLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))
        else { return false }
        return text[headEnd.upperBound...].utf8.count >= length
    }

    struct HandshakeError: Error {
        let answer: String
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
        PCM.withLittleEndianBytes(frame) { buffer.writeBytes($0) }
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
