public import ParleyCore

/// Text-to-speech over ElevenLabs' `stream-input` WebSocket (docs/providers.md): one socket per
/// reply, opened as soon as the reply starts so the handshake overlaps the LLM's first token.
///
/// Each sentence goes out as `{"text":"<sentence> ","flush":true}` as soon as it arrives; audio
/// (PCM16 at ``ElevenLabsConfiguration/outputSampleRate(for:)``) comes back with character
/// timings and is handed on in order, from the caller's task, while later sentences are still
/// being sent. A keep-alive `{"text":" "}` holds the socket open while the LLM is slow; when the
/// text ends, `{"text":""}` asks for the rest, and the call returns once ElevenLabs says
/// `isFinal` and closes. Cancelling the task closes the socket at once and delivers no more audio.
public struct ElevenLabsTextToSpeech: TextToSpeech {
    /// Where and how to connect.
    public var configuration: ElevenLabsConfiguration

    public var name: String { "elevenlabs" }

    /// Creates a client.
    public init(configuration: ElevenLabsConfiguration) {
        self.configuration = configuration
    }

    public func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        let outputRate = ElevenLabsConfiguration.outputSampleRate(for: sampleRate)
        let progress = StreamProgress(clock: configuration.clock)
        var connected = false
        do {
            try await ProviderWebSocket.connect(
                to: configuration.streamInputURL(sampleRate: outputRate),
                headers: [("xi-api-key", configuration.apiKey)],
                maximumMessageSize: 1 << 22,
                timeout: configuration.connectTimeout
            ) { connection in
                connected = true
                configuration.health.succeeded()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Sending and the watchdog must not outlive the reply, however it ends.
                    defer { group.cancelAll() }
                    group.addTask { try await sendInput(text, over: connection, progress: progress) }
                    group.addTask { try await watch(connection, progress: progress) }
                    try await receive(from: connection, sampleRate: outputRate, progress: progress, onAudio: onAudio)
                }
            }
        } catch let failure where !connected {
            let mapped = configuration.webSocketConnectFailure(name, failure)
            if let mapped = mapped as? ProviderError { configuration.health.failed(mapped) }
            throw mapped
        }
    }

    /// Reads ElevenLabs' messages until `isFinal` and the close, handing audio to `onAudio`.
    private func receive(
        from connection: ProviderWebSocketConnection, sampleRate: Int, progress: StreamProgress,
        onAudio: (AudioChunk) async throws -> Void
    ) async throws {
        var audio = ElevenLabsAudio(sampleRate: sampleRate)
        var messages = connection.messages.makeAsyncIterator()
        while true {
            let message: ProviderWebSocket.Message?
            do {
                message = try await messages.next()
            } catch {
                throw configuration.webSocketStreamFailure(name, error)
            }
            try Task.checkCancellation()
            switch message {
            case nil:
                throw configuration.error(name, .streamEnded, "the connection to ElevenLabs ended before the final audio")
            case .text(let text)?:
                let decoded: ElevenLabsServerMessage
                do {
                    decoded = try ElevenLabsServerMessage(parsing: text)
                } catch {
                    throw configuration.error(name, .badResponse, "ElevenLabs sent \(error)")
                }
                if let error = decoded.error {
                    throw configuration.error(name, .rejected, "\(error.code): \(error.message)")
                }
                progress.received(audio: !decoded.audio.isEmpty, isFinal: decoded.isFinal)
                guard let chunk = audio.chunk(for: decoded) else { continue }
                // Barge-in: no audio may reach the caller once the reply is cancelled.
                try Task.checkCancellation()
                try await onAudio(chunk)
            case .binary?:
                continue
            case .closed(let code, let reason)?:
                try Task.checkCancellation()
                if progress.finalReceived { return }
                throw configuration.closeFailure(name, code: code, reason: reason, timedOut: progress.timedOut)
            }
        }
    }
}
