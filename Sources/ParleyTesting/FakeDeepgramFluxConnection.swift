import ParleyCore

/// One accepted connection of the fake Flux: sends `Connected`, reads the client's audio and
/// control messages in order, answers them through ``FakeDeepgramFluxTurns``, and injects its fault.
struct FakeDeepgramFluxConnection: Sendable {
    let index: Int
    let options: FakeDeepgramFluxOptions
    let configuration: FakeDeepgramFluxServer.Configuration
    let fault: FakeDeepgramFluxServer.Fault?
    let log: FakeDeepgramFluxLog
    let requestID: String

    /// Serves the connection until the client closes or the fake closes or drops it.
    func run(_ socket: FakeWebSocket) async throws {
        var session = Session(connection: self, socket: socket)
        try await session.run()
    }

    /// The reading side's state.
    struct Session {
        let connection: FakeDeepgramFluxConnection
        let socket: FakeWebSocket
        var turns: FakeDeepgramFluxTurns
        var sequence = 0
        var audioBytes = 0
        /// Set by the stall fault: nothing more is sent.
        var stalled = false
        /// Set once the fake closed or dropped the connection.
        var over = false

        init(connection: FakeDeepgramFluxConnection, socket: FakeWebSocket) {
            self.connection = connection
            self.socket = socket
            turns = FakeDeepgramFluxTurns(
                options: connection.options, configuration: connection.configuration, log: connection.log, requestID: connection.requestID)
        }

        mutating func run() async throws {
            try await send(["type": "Connected", "request_id": .string(connection.requestID)])
            for try await message in socket.messages {
                switch message {
                case .binary(let bytes):
                    audioBytes += bytes.count
                    connection.log.update(connection.index) {
                        $0.audioBytes += bytes.count
                        $0.audioMessages += 1
                    }
                    if case .dropAfterBytes(let limit) = connection.fault, audioBytes >= limit {
                        await close(code: nil, reason: "dropped")
                        return
                    }
                    try await emit(turns.receive(audio: bytes))
                case .text(let text):
                    let parsed = JSONValue.parse(text)
                    let type = parsed?["type"]?.stringValue
                    connection.log.update(connection.index) { $0.controlMessages.append(type ?? "?") }
                    try await control(type, parsed)
                case .closed:
                    return
                }
                if over { return }
            }
        }

        private mutating func control(_ type: String?, _ message: JSONValue?) async throws {
            switch type {
            case "ForceEndTurn":
                try await emit(turns.forceEndTurn())
            case "CloseStream":
                // The audio already received is decoded (its Updates), then the close, without EndOfTurn.
                try await emit(turns.closeStream())
                await close(code: connection.configuration.closeCodeAfterCloseStream, reason: "")
            case "KeepAlive" where connection.configuration.keepAliveCloses:
                await close(code: nil, reason: "KeepAlive is not a Flux message")
            case "Configure":
                try await configure(message?["thresholds"], keyterms: message?["keyterms"]?.arrayValue)
            default:
                try await send([
                    "type": "Error", "code": "UNPARSABLE_CLIENT_MESSAGE",
                    "description": .string("The text message is not a known Flux control message (\(type?.prefix(40) ?? "no type")."),
                ])
                await close(code: 1011, reason: "unparsable client message")
            }
        }

        /// Answers `Configure`: `ConfigureSuccess` with the merged thresholds (keyterms replaced),
        /// or `ConfigureFailure` when a value is out of range.
        private mutating func configure(_ thresholds: JSONValue?, keyterms: [JSONValue]?) async throws {
            var options = turns.options
            do {
                if let value = thresholds?["eot_threshold"]?.doubleValue {
                    options.endOfTurnThreshold = try FakeDeepgramFluxOptions.number("eot_threshold", "\(value)", 0.5...1.0, true)
                }
                if let value = thresholds?["eager_eot_threshold"]?.doubleValue {
                    options.eagerEndOfTurnThreshold = try FakeDeepgramFluxOptions.number("eager_eot_threshold", "\(value)", 0.3...0.9, true)
                }
                if let value = thresholds?["eot_timeout_ms"]?.doubleValue {
                    options.endOfTurnTimeoutMilliseconds = Int(try FakeDeepgramFluxOptions.number("eot_timeout_ms", "\(value)", 500...60000, true))
                }
            } catch {
                return try await send(["type": "ConfigureFailure", "request_id": .string(connection.requestID)])
            }
            if let keyterms { options.keyterms = keyterms.compactMap(\.stringValue) }
            turns.options = options
            var echoed: JSONValue = [
                "eot_threshold": .number(options.endOfTurnThreshold), "eot_timeout_ms": .number(Double(options.endOfTurnTimeoutMilliseconds)),
            ]
            if let eager = options.eagerEndOfTurnThreshold { echoed = echoed.setting("eager_eot_threshold", .number(eager)) }
            try await send([
                "type": "ConfigureSuccess", "request_id": .string(connection.requestID), "thresholds": echoed,
                "keyterms": .array(options.keyterms.map { .string($0) }),
            ])
        }

        /// Sends the turn machine's messages, acting out the faults.
        private mutating func emit(_ messages: [JSONValue]) async throws {
            for message in messages where !stalled && !over {
                try await send(message)
                let event = message["event"]?.stringValue
                if event == "StartOfTurn", connection.fault == .stallAfterStartOfTurn { stalled = true }
                if event == "EndOfTurn", case .errorAfterTurns(let count, let code, let description) = connection.fault,
                    turns.turnsEnded == count
                {
                    try await send(["type": "Error", "code": .string(code), "description": .string(description)])
                    await close(code: 1011, reason: code)
                }
            }
        }

        private mutating func send(_ message: JSONValue) async throws {
            guard !stalled, !over else { return }
            let message = message.setting("sequence_id", .number(Double(sequence)))
            sequence += 1
            let text = message.serialized
            let record = FakeDeepgramFluxServer.SentMessage(
                type: message["type"]?.stringValue ?? "?", event: message["event"]?.stringValue ?? message["type"]?.stringValue ?? "?",
                turnIndex: message["turn_index"]?.doubleValue.map { Int($0) }, transcript: message["transcript"]?.stringValue,
                trigger: message["trigger"]?.stringValue, sequenceID: sequence - 1, audioTime: turns.seconds, text: text)
            connection.log.sent(connection.index, record)
            try await socket.send(text: text)
        }

        /// Closes with `code`, or (nil) ends the TCP connection without a close frame.
        private mutating func close(code: Int?, reason: String) async {
            guard !over else { return }
            over = true
            connection.log.update(connection.index) { $0.serverClose = (code, reason) }
            if let code {
                try? await socket.close(code: code, reason: reason)
            } else {
                socket.abort()
            }
        }
    }
}
