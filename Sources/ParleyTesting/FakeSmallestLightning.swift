import AsyncAlgorithms
import Foundation
import ParleyCore
import ParleyProviders

/// One Lightning WebSocket connection of ``FakeSmallestServer`` (docs/providers.md): each
/// message is the request body with the streaming controls; text is buffered while `continue`
/// is true and synthesised on `flush` (or when `continue` is false) into base64 PCM16LE `chunk`s
/// at the message's `sample_rate`; `complete` follows `complete_backoff_ms` (default 4000) after
/// the last chunk, with or without more text promised, and the socket closes after it. A socket
/// idle for `?timeout=` seconds (default 60) gets the timeout error and is closed.
struct FakeSmallestLightning: Sendable {
    let index: Int
    let configuration: FakeSmallestServer.Configuration
    let fault: FakeSmallestServer.Fault?
    let log: FakeSmallestLog
    let idleTimeout: Duration

    enum Event: Sendable {
        case message(ProviderWebSocket.Message)
        case readFailed
        case tick
    }

    func run(_ socket: FakeWebSocket) async throws {
        if fault == .concurrencyClose {
            log.update(index) { $0.serverClose = (1008, "too many concurrent sessions") }
            await socket.closeAwaitingReply(code: 1008, reason: "too many concurrent sessions")
            return
        }
        let events = AsyncChannel<Event>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                do {
                    for try await message in socket.messages { await events.send(.message(message)) }
                } catch {}
                await events.send(.readFailed)
            }
            group.addTask {
                while true {
                    try await FakeClock.sleep(for: .milliseconds(10))
                    await events.send(.tick)
                }
            }
            var state = State(connection: self, socket: socket)
            for await event in events {
                switch event {
                case .message(.text(let text)):
                    try await state.receive(text)
                case .message(.binary):
                    continue
                case .message(.closed), .readFailed:
                    return
                case .tick:
                    try await state.tick()
                }
                if state.over { return }
            }
        }
    }

    struct State {
        let connection: FakeSmallestLightning
        let socket: FakeWebSocket
        var buffer = ""
        var lastActivity = ContinuousClock.now
        /// When `complete` is due: set after each chunk (and by the end of text).
        var completeDue: ContinuousClock.Instant?
        var backoff = Duration.milliseconds(4000)
        var sessionID: JSONValue = .null
        var requestID: JSONValue = .null
        var messagesSent = 0
        var over = false

        init(connection: FakeSmallestLightning, socket: FakeWebSocket) {
            self.connection = connection
            self.socket = socket
        }

        mutating func receive(_ text: String) async throws {
            lastActivity = .now
            let json = JSONValue.parse(text)
            connection.log.received(connection.index, json)
            guard let json, let piece = json["text"]?.stringValue else {
                return try await fail("Invalid request: a JSON object with a text field is required")
            }
            if let problem = Self.invalid(json, configuration: connection.configuration) { return try await fail(problem) }
            if let session = json["session_id"]?.stringValue { sessionID = .string(session) }
            if let request = json["request_id"]?.stringValue { requestID = .string(request) }
            if let milliseconds = json["complete_backoff_ms"]?.doubleValue { backoff = .milliseconds(min(10000, max(0, Int(milliseconds)))) }
            buffer += piece
            let more = json["continue"]?.boolValue ?? false
            completeDue = nil
            if json["flush"]?.boolValue == true || !more {
                let rate = Int(json["sample_rate"]?.doubleValue ?? 44100)
                try await synthesize(sampleRate: rate)
            }
            if !more { completeDue = .now + backoff }
        }

        /// The reason a message is refused, if it is.
        static func invalid(_ json: JSONValue, configuration: FakeSmallestServer.Configuration) -> String? {
            if let voice = json["voice_id"]?.stringValue, !configuration.voices.contains(voice) { return "Invalid voice_id: \(voice.prefix(40))" }
            if json["voice_id"] == nil { return "voice_id is required" }
            if let model = json["model"]?.stringValue, !["lightning_v3.1", "lightning_v3.1_pro"].contains(model) {
                return "Invalid model: \(model.prefix(40))"
            }
            if let rate = json["sample_rate"]?.doubleValue, ![8000, 16000, 24000, 44100].contains(rate) { return "Invalid sample_rate: \(rate)" }
            if let speed = json["speed"]?.doubleValue, !(0.5...2.0).contains(speed) { return "speed must be between 0.5 and 2.0" }
            return nil
        }

        mutating func tick() async throws {
            guard connection.fault != .stall else { return }
            let now = ContinuousClock.now
            if let due = completeDue, now >= due {
                completeDue = nil
                connection.log.update(connection.index) { $0.completedAt = .now }
                try await send(["status": "complete"])
                if connection.configuration.closesAfterComplete { await close(1000, "") }
            } else if now - lastActivity >= connection.idleTimeout {
                let seconds = Int(connection.idleTimeout.seconds)
                try await send(["status": "error", "message": .string("Connection timed out after \(seconds) seconds of inactivity")])
                await close(1000, "idle")
            }
        }

        private mutating func synthesize(sampleRate: Int) async throws {
            let text = buffer
            buffer = ""
            guard !text.isEmpty else { return }
            let samples = FakeSmallestServer.speech(
                for: text, sampleRate: sampleRate, durationPerCharacter: connection.configuration.durationPerCharacter)
            let bytes = PCM.littleEndianBytes(samples)
            let size = max(1, connection.configuration.chunkBytes)
            for start in stride(from: 0, to: bytes.count, by: size) where !over {
                let audio =
                    connection.fault == .badAudio ? "not base64!" : Data(bytes[start..<min(bytes.count, start + size)]).base64EncodedString()
                try await send(["status": "chunk", "data": ["audio": .string(audio)]])
            }
            // Lightning waits this long after the last chunk for more text before `complete`.
            completeDue = .now + backoff
        }

        private mutating func fail(_ message: String) async throws {
            try await send(["status": "error", "message": .string(message)])
            await close(1000, "invalid request")
        }

        private mutating func send(_ message: JSONValue) async throws {
            guard !over, connection.fault != .stall else { return }
            if case .dropAfterMessages(let count) = connection.fault, messagesSent >= count { return await close(nil, "dropped") }
            if case .errorAfterMessages(let count, let text) = connection.fault, messagesSent >= count {
                let error: JSONValue = ["status": "error", "error": ["message": .string(text), "code": "INTERNAL_ERROR"]]
                connection.log.sent(connection.index, error.serialized)
                try? await socket.send(text: error.serialized)
                return await close(1011, "internal error")
            }
            messagesSent += 1
            var full = message.setting("session_id", sessionID).setting("request_id", requestID)
            if case .string = sessionID { full = full.setting("external_session_id", sessionID) }
            if case .string = requestID { full = full.setting("external_request_id", requestID) }
            connection.log.sent(connection.index, full.serialized)
            try await socket.send(text: full.serialized)
        }

        private mutating func close(_ code: Int?, _ reason: String) async {
            guard !over else { return }
            over = true
            connection.log.update(connection.index) { $0.serverClose = (code, reason) }
            if let code { try? await socket.close(code: code, reason: reason) } else { socket.abort() }
        }
    }
}

extension FakeSmallestServer {
    /// Lightning's HTTP routes: sync `POST /waves/v1/tts`, SSE `POST /waves/v1/tts/live`, and the
    /// retired routes' 410.
    static func http(_ request: FakeRequest, _ response: FakeResponseWriter, configuration: Configuration, log: FakeSmallestLog) async throws {
        let authorized = authorized(request, configuration)
        func answer(_ status: Int, _ body: JSONValue) async throws {
            log.http.withLock { $0.append(HTTPRecord(method: request.method, path: request.path, authorized: authorized, status: status)) }
            try await response.send(status: status, headers: [("Content-Type", "application/json")], body: body.serialized)
        }
        if request.path.hasPrefix("/waves/v1/lightning-v2") || request.path.hasPrefix("/waves/v1/lightning-large") {
            return try await answer(
                410,
                [
                    "status": "error", "error_code": "MODEL_DEPRECATED", "message": "This model has been retired.",
                    "recommended_endpoint": "/waves/v1/tts/live",
                ])
        }
        guard request.method == "POST", request.path == "/waves/v1/tts" || request.path == "/waves/v1/tts/live" else {
            return try await answer(404, ["error": "NotFound", "message": "Not found"])
        }
        guard authorized else { return try await answer(401, ["error": "Unauthorized", "message": "Invalid or missing API key"]) }
        guard let body = JSONValue.parse(request.text), let text = body["text"]?.stringValue, !text.isEmpty else {
            return try await answer(400, ["error": "InvalidRequest", "message": "text is required"])
        }
        if let problem = FakeSmallestLightning.State.invalid(body, configuration: configuration) {
            return try await answer(400, ["error": "InvalidRequest", "message": .string(problem)])
        }
        let rate = Int(body["sample_rate"]?.doubleValue ?? 44100)
        let samples = speech(for: text, sampleRate: rate, durationPerCharacter: configuration.durationPerCharacter)
        log.http.withLock { $0.append(HTTPRecord(method: request.method, path: request.path, authorized: true, status: 200)) }
        if request.path == "/waves/v1/tts" {
            // Without `Accept: audio/wav` the sync route may answer with an empty body.
            let wav = request.header("accept")?.contains("audio/wav") == true ? WAVFile.encodePCM16(samples, sampleRate: rate) : []
            try await response.writeHead(
                status: 200,
                headers: [("Content-Type", "audio/wav"), ("Content-Length", "\(wav.count)"), ("X-Session-Id", "fake"), ("X-Request-Id", "fake")])
            if !wav.isEmpty { try await response.write(wav) }
            return try await response.end()
        }
        try await response.writeHead(status: 200, headers: [("Content-Type", "text/event-stream")])
        let bytes = PCM.littleEndianBytes(samples)
        for start in stride(from: 0, to: bytes.count, by: max(1, configuration.chunkBytes)) {
            let audio = Data(bytes[start..<min(bytes.count, start + configuration.chunkBytes)]).base64EncodedString()
            let data: JSONValue = ["audio": .string(audio), "done": false, "status": "206"]
            try await response.write(Array("event: audio\ndata: \(data.serialized)\n\n".utf8))
        }
        let done: JSONValue = ["status": "200", "done": true]
        try await response.write(Array("data: \(done.serialized)\n\n".utf8))
        try await response.end()
    }
}
