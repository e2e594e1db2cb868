import Foundation
import ParleyCore

/// What the fake's two WebSockets, `stream-input` and `multi-stream-input`, have in common, so
/// that reading the client, failing with an error and close 1008, and the audio faults are written
/// once for both.
protocol FakeElevenLabsSocket: Sendable {
    var fake: FakeElevenLabsServer { get }
    var socket: FakeWebSocket { get }
    var options: FakeElevenLabsServer.StreamInputOptions { get }
    /// Whether the fake has begun to close the socket (or dropped it).
    var isClosing: Bool { get }
    /// Marks the socket as closing by the fake and records `code` (nil: dropped without a close
    /// frame); false if it already was closing.
    func beginClosing(code: Int?) -> Bool
    /// Records a client message (keys already redacted).
    func record(message: String)
    /// Records that the client closed first with `code` (nil: without a close frame).
    func recordClientClose(code: Int?)
}

extension FakeElevenLabsServer {
    /// An error to send before closing with 1008: ElevenLabs' `error` code and its `message`.
    typealias SocketFailure = (error: String, message: String)

    /// ElevenLabs' answer to a message that is not JSON or does not follow the schema.
    static let invalidInput =
        "Could not parse input message, make sure it is a json and follows the schema outlined in protocol."

    /// `text` with the fake's key replaced by `<redacted>`, as the records keep client messages.
    func redacted(_ text: String) -> String {
        text.replacingOccurrences(of: configuration.apiKey, with: "<redacted>")
    }

    /// Checks the key of a socket's first message, where a client that sent none at the upgrade
    /// puts it (`xi-api-key`, `xi_api_key` or `authorization`); nil when it is the right one.
    func firstMessageKeyFailure(_ fields: [String: JSONValue], options: StreamInputOptions) -> SocketFailure? {
        let given = fields["xi-api-key"] ?? fields["xi_api_key"] ?? fields["authorization"]
        guard !options.wrongKeyGiven, isValidKey(given?.stringValue) else { return ("invalid_api_key", "Invalid API key.") }
        return nil
    }

    /// The `generation_config.chunk_length_schedule` of a message: nil schedule when there is
    /// none, a failure when it is not a list of whole numbers from 50 to 500.
    static func chunkSchedule(in fields: [String: JSONValue]) -> (schedule: [Int]?, failure: SocketFailure?) {
        guard let schedule = fields["generation_config"]?["chunk_length_schedule"] else { return (nil, nil) }
        guard let values = schedule.arrayValue?.compactMap(\.intValue), !values.isEmpty,
            values.count == schedule.arrayValue?.count, values.allSatisfy({ (50...500).contains($0) })
        else {
            return (nil, ("invalid_input_message", "chunk_length_schedule values must be between 50 and 500."))
        }
        return (values, nil)
    }
}

extension FakeElevenLabsSocket {
    var configuration: FakeElevenLabsServer.Configuration { fake.configuration }

    /// Reads the client's messages until it closes or the connection drops: text messages go to
    /// `onText`; a binary message is recorded and answered with `invalid_input_message` and 1008.
    /// A connection reset (a client that went away with bytes unread) counts as a drop.
    func readMessages(_ onText: (String) async -> Void) async throws {
        do {
            for try await message in socket.messages {
                switch message {
                case .text(let text):
                    await onText(text)
                case .binary:
                    record(message: "<binary message>")
                    await fail("invalid_input_message", FakeElevenLabsServer.invalidInput)
                case .closed(let code, _):
                    if !isClosing { recordClientClose(code: code) }
                    return
                }
            }
        } catch {
            if !isClosing { recordClientClose(code: nil) }
            throw error
        }
    }

    /// Sends ElevenLabs' error message and closes with 1008 and the message as the reason (once).
    func fail(_ error: String, _ message: String) async {
        guard beginClosing(code: 1008) else { return }
        try? await socket.send(text: FakeElevenLabsServer.errorMessage(error, message))
        try? await socket.close(code: 1008, reason: message)
    }
}
