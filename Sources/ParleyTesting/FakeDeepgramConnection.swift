import Foundation
import ParleyCore
import Synchronization

/// One accepted connection of the fake Deepgram: reads the client's audio and control messages,
/// answers them through a ``FakeDeepgramRecognizer``, injects its fault, and closes an idle
/// connection with 1011 `NET-0001`.
struct FakeDeepgramConnection: Sendable {
    let index: Int
    let options: FakeDeepgramOptions
    let configuration: FakeDeepgramServer.Configuration
    let fault: FakeDeepgramServer.Fault
    /// Whether `fault` is a random drop, counted when it happens.
    let randomDrop: Bool
    let log: FakeDeepgramLog
    let script: FakeDeepgramScript
    let requestID: String

    /// When the client last sent anything, and whether the fake has closed, on the idle timer's
    /// clock.
    final class Activity: Sendable {
        struct State {
            var lastFrame: SessionClock.Instant
            var closeSent: SessionClock.Instant?
        }

        let clock: SessionClock
        let state: Mutex<State>

        init(clock: SessionClock) {
            self.clock = clock
            state = Mutex(State(lastFrame: clock.now))
        }

        func touch() {
            let now = clock.now
            state.withLock { $0.lastFrame = now }
        }

        /// Marks the fake's close; false if it had already closed.
        func beginClose() -> Bool {
            state.withLock { state in
                guard state.closeSent == nil else { return false }
                state.closeSent = clock.now
                return true
            }
        }

        var closing: Bool { state.withLock { $0.closeSent != nil } }
    }

    /// Serves the connection until the client closes or the fake drops it.
    func run(_ socket: FakeWebSocket) async throws {
        let activity = Activity(clock: configuration.clock)
        defer { log.update(index) { $0.ended = .now } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask { await watch(socket, activity: activity) }
            var session = Session(connection: self, socket: socket, activity: activity)
            try await session.read()
        }
    }

    /// Closes the connection when the client has been idle too long, and drops it if the client
    /// does not answer the fake's close.
    ///
    /// A wake-up more than a tick late means this process stalled: the fake's reader stalled with
    /// it, so frames the client sent in time may still wait in the socket. Such a wake-up does
    /// not judge; the next one does, after the reader has had its turn. (Deepgram reads on its
    /// own machines; a fake in the client's process must not blame the client for its own stall.
    /// This failed a wall-clock test once in CI, on a loaded machine: a 1 s stall, then 1011.)
    private func watch(_ socket: FakeWebSocket, activity: Activity) async {
        let tick = max(.milliseconds(5), min(configuration.idleTimeout / 5, .milliseconds(50)))
        let clock = configuration.clock
        var due = clock.now + tick
        while (try? await clock.sleep(until: due)) != nil {
            let late = clock.now - due
            due = clock.now + tick
            if late > tick { continue }
            let state = activity.state.withLock { $0 }
            if let closeSent = state.closeSent {
                if clock.now - closeSent > .seconds(2) {
                    socket.abort()
                    return
                }
            } else if clock.now - state.lastFrame >= configuration.idleTimeout {
                await close(socket, activity: activity, code: 1011, reason: "NET-0001")
            }
        }
    }

    func close(_ socket: FakeWebSocket, activity: Activity, code: Int, reason: String) async {
        guard activity.beginClose() else { return }
        log.update(index) { $0.serverClose = (code, reason) }
        try? await socket.close(code: code, reason: reason)
    }

    /// The reading side's state.
    struct Session {
        let connection: FakeDeepgramConnection
        let socket: FakeWebSocket
        let activity: Activity
        var recognizer: FakeDeepgramRecognizer
        var resultsSent = 0
        var audioBytes = 0

        init(connection: FakeDeepgramConnection, socket: FakeWebSocket, activity: Activity) {
            self.connection = connection
            self.socket = socket
            self.activity = activity
            recognizer = FakeDeepgramRecognizer(
                options: connection.options, configuration: connection.configuration, script: connection.script,
                requestID: connection.requestID)
        }

        var fault: FakeDeepgramServer.Fault { connection.fault }

        mutating func read() async throws {
            for try await message in socket.messages {
                switch message {
                case .binary(let bytes):
                    activity.touch()
                    audioBytes += bytes.count
                    connection.log.audio(connection.index, bytes: bytes.count)
                    guard !activity.closing else { continue }
                    if case .closeAfterAudio(let limit, let code, let reason) = fault, audioBytes >= limit {
                        await connection.close(socket, activity: activity, code: code, reason: reason)
                        continue
                    }
                    if case .dropAfterAudio(let limit) = fault, audioBytes >= limit {
                        if connection.randomDrop { connection.log.dice.acted(.drop) }
                        socket.abort()
                        return
                    }
                    try await emit(recognizer.receive(audio: bytes))
                case .text(let text):
                    activity.touch()
                    connection.log.text(connection.index, text)
                    guard !activity.closing else { continue }
                    try await control(text)
                case .closed(let code, _):
                    connection.log.update(connection.index) { $0.clientCloseCode = code }
                    return
                }
            }
        }

        private mutating func control(_ text: String) async throws {
            switch JSONValue.parse(text)?["type"]?.stringValue {
            case "KeepAlive":
                return
            case "Finalize":
                try await emit(recognizer.finalize())
            case "CloseStream":
                if case .closeOnCloseStream(let code, let reason) = fault {
                    await connection.close(socket, activity: activity, code: code, reason: reason)
                    return
                }
                try await emit(recognizer.closeStream())
                guard fault != .stallResults else { return }
                try await send(metadata())
                await connection.close(socket, activity: activity, code: 1000, reason: "")
            default:
                switch connection.configuration.unparseableReply {
                case .schemaError:
                    try await send(
                        [
                            "type": "Error", "variant": "SchemaError",
                            "description": "Failed to deserialize the message as a known control message type.",
                            "message": .string(text),
                        ])
                case .close:
                    await connection.close(socket, activity: activity, code: 1008, reason: "Failed to parse a text message")
                }
            }
        }

        /// Sends what the recognizer produced, applying the delays, chaos and faults.
        private mutating func emit(_ messages: [JSONValue]) async throws {
            for message in messages where !activity.closing {
                let isResult = message["type"]?.stringValue == "Results"
                if isResult && resultsSent == 0 && connection.configuration.firstResultDelay > .zero {
                    try await FakeClock.sleep(for: connection.configuration.firstResultDelay)
                }
                try await send(message)
                guard isResult else { continue }
                resultsSent += 1
                if connection.configuration.chaos && resultsSent % 2 == 1 {
                    try await send(["type": "Weird", "detail": ["note": "unknown message types must be ignored"]])
                }
                if case .closeAfterResults(let count, let code, let reason) = fault, resultsSent == count {
                    await connection.close(socket, activity: activity, code: code, reason: reason)
                }
                if case .malformedAfterResults(let count) = fault, resultsSent == count {
                    try await send(text: #"{"type":"Results","channel":{"alternatives":[{"transcript":"#)
                }
                if case .sendAfterResults(let count, let text) = fault, resultsSent == count {
                    try await send(text: text)
                }
            }
        }

        private func send(_ message: JSONValue) async throws {
            try await send(text: message.serialized)
        }

        private func send(text: String) async throws {
            guard fault != .stallResults else { return }
            connection.log.sent(connection.index, text)
            try await socket.send(text: text)
        }

        private func metadata() -> JSONValue {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            // Not a real SHA-256 (the fake has no hash library); the field's shape is what matters.
            let mixed = UInt64(truncatingIfNeeded: audioBytes) &* 0x9E37_79B9_7F4A_7C15
            let digest = String(repeating: String(mixed, radix: 16), count: 4)
            return [
                "type": "Metadata", "transaction_key": "deprecated", "request_id": .string(connection.requestID),
                "sha256": .string(String(digest.padding(toLength: 64, withPad: "0", startingAt: 0))),
                "created": .string(formatter.string(from: Date())), "duration": .number(recognizer.seconds), "channels": 1,
                "models": ["1ed36bac-f71c-4f3f-a31f-02fd6525c489"],
            ]
        }
    }
}
