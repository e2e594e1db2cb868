import Foundation
import ParleyCore

extension FakeElevenLabsServer {
    /// What one accepted `stream-input` or `multi-stream-input` socket was asked for.
    struct StreamInputOptions: Sendable {
        var voiceID: String
        var query: [(String, String)]
        var format: AudioFormat
        var inactivityTimeout: Duration
        var autoMode: Bool
        var syncAlignment: Bool
        /// Where the key came from, if the upgrade request carried the right one.
        var keySource: KeySource?
        /// Whether the upgrade request carried a wrong key (with `.errorThenClose`).
        var wrongKeyGiven: Bool
        /// The fault and latency this connection acts out.
        var misbehaviour: Misbehaviour
    }

    /// Accepts or refuses a WebSocket upgrade as ElevenLabs does (docs/providers.md): the same
    /// checks for `stream-input` and `multi-stream-input`, which differ only once accepted.
    func decideUpgrade(_ request: FakeRequest) async -> FakeUpgrade {
        if configuration.handshakeDelay > .zero { try? await FakeClock.sleep(for: configuration.handshakeDelay) }
        let multiContext = Self.voiceID(in: request.path, endpoint: "multi-stream-input")
        guard let voiceID = multiContext ?? Self.voiceID(in: request.path, endpoint: "stream-input") else {
            return .reject(status: 404, body: #"{"detail":"Not Found"}"#)
        }
        let misbehaviour = nextMisbehaviour()
        if case .reject(let status, let body)? = misbehaviour.fault {
            return .reject(status: status, headers: [("Content-Type", "application/json")], body: body)
        }
        let headerKey = request.header("xi-api-key")
        let queryKey = request.queryValue("authorization")
        let keySource: KeySource? = isValidKey(headerKey) ? .header : isValidKey(queryKey) ? .query : nil
        let wrongKeyGiven = keySource == nil && (headerKey != nil || queryKey != nil)
        if wrongKeyGiven && configuration.badKeyResponse == .rejectUpgrade {
            return Self.rejectJSON(401, Self.detail("invalid_api_key", "Invalid API key."))
        }
        guard configuration.voiceIDs.contains(voiceID) else {
            return Self.rejectJSON(404, Self.detail("voice_not_found", "A voice with voice_id \(voiceID) was not found."))
        }
        let formatName = request.queryValue("output_format") ?? "mp3_44100_128"
        guard let format = AudioFormat(formatName) else {
            return Self.rejectJSON(
                400, Self.detail("unsupported_output_format", "The fake speaks pcm_8000…pcm_44100 and ulaw_8000, not \(formatName)."))
        }
        var timeout = Duration.seconds(20)
        if let value = request.queryValue("inactivity_timeout") {
            guard let seconds = Int(value), (1...180).contains(seconds) else {
                return Self.rejectJSON(
                    422, Self.validationError(["query", "inactivity_timeout"], "must be an integer from 1 to 180", type: "value_error"))
            }
            timeout = .seconds(seconds)
        }
        let options = StreamInputOptions(
            voiceID: voiceID, query: request.query, format: format,
            inactivityTimeout: configuration.inactivityTimeout ?? timeout,
            autoMode: request.queryValue("auto_mode") == "true",
            syncAlignment: request.queryValue("sync_alignment") == "true",
            keySource: keySource, wrongKeyGiven: wrongKeyGiven, misbehaviour: misbehaviour)
        if multiContext != nil {
            return .accept { socket in try await MultiContextConnection(fake: self, socket: socket, options: options).serve() }
        }
        return .accept { socket in
            try await StreamInputConnection(fake: self, socket: socket, options: options).serve()
        }
    }

    static func rejectJSON(_ status: Int, _ body: String) -> FakeUpgrade {
        .reject(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    /// ElevenLabs' WebSocket error message: `{"message":…,"error":…,"code":1008}`.
    static func errorMessage(_ error: String, _ message: String) -> String {
        (["message": .string(message), "error": .string(error), "code": 1008] as JSONValue).serialized
    }

    /// ElevenLabs' inactivity message for a timeout.
    static func inactivityMessage(_ timeout: Duration) -> String {
        let seconds = String(format: "%.1f", timeout / .seconds(1))
        return "Have not received a new text input within the timeout of \(seconds) seconds. Streaming input terminated. "
            + "Please make sure to either feed the input in the timely manner, or to send the end of input text "
            + "(empty string \"\") when done."
    }
}
