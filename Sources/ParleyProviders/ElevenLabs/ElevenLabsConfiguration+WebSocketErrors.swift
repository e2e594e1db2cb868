import ParleyCore

extension ElevenLabsConfiguration {
    /// The error for a close before the reply's final message (`isFinal`).
    func closeFailure(_ name: String, code: Int?, reason: String, timedOut: Bool) -> ProviderError {
        if timedOut {
            return error(name, .timeout, "ElevenLabs sent no audio within \(responseTimeout) of being asked for speech")
        }
        let said = reason.isEmpty ? "" : ": \(reason)"
        switch code {
        case nil:
            return error(name, .streamEnded, "the connection to ElevenLabs dropped before the final audio")
        case 1000?:
            return error(name, .streamEnded, "ElevenLabs closed the stream before the final audio\(said)")
        case 1008?:
            return error(name, .rejected, "ElevenLabs closed the connection (code 1008)\(said)")
        case let code?:
            return error(name, .streamEnded, "ElevenLabs closed the connection (code \(code))\(said)")
        }
    }

    /// Maps a failure to open a WebSocket.
    func webSocketConnectFailure(_ name: String, _ failure: any Error) -> any Error {
        if let rejected = failure as? ProviderWebSocket.HandshakeRejected {
            return httpError(name, status: rejected.status, body: rejected.body)
        }
        if let violation = failure as? ProviderWebSocket.ProtocolViolation {
            return error(name, .badResponse, "ElevenLabs' WebSocket handshake failed: \(violation)")
        }
        return connectError(name, failure)
    }

    /// Maps a failure to read from an open WebSocket.
    func webSocketStreamFailure(_ name: String, _ failure: any Error) -> any Error {
        if failure is CancellationError { return failure }
        if Task.isCancelled { return CancellationError() }
        if let violation = failure as? ProviderWebSocket.ProtocolViolation {
            return error(name, .badResponse, "ElevenLabs broke the WebSocket protocol: \(violation)")
        }
        return error(name, .streamEnded, "the connection to ElevenLabs failed: \(failure)")
    }
}
