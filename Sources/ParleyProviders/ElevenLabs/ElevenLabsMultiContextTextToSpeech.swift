public import ParleyCore

/// Text-to-speech over ElevenLabs' `multi-stream-input` WebSocket (docs/providers.md): one
/// connection per session, each reply a context on it.
///
/// A session's first reply opens the connection as it starts (the handshake overlaps the LLM's
/// first token, as with ``ElevenLabsTextToSpeech``); later replies find it open. Each reply opens
/// a fresh context (`{"text":" ",…,"context_id":…}`), sends each sentence flushed as it arrives
/// (with `{"text":"","context_id":…}` keep-alives while the LLM is slow), and at the end of the
/// text `close_context`; it returns when ElevenLabs says `isFinal` for that context. A cancelled
/// reply (barge-in) hears nothing more at once: the socket's reader drops the context's later
/// audio and sends its `close_context`, and the socket stays open for the next reply.
/// ``synthesize(_:sampleRate:onAudio:)`` outside a session opens a connection for that reply alone.
public struct ElevenLabsMultiContextTextToSpeech: TextToSpeech {
    /// The contexts ElevenLabs lets one socket hold at once (its `max_active_conversations` error);
    /// a context counts until its final message.
    public static let maximumContexts = 5

    /// Where and how to connect.
    public var configuration: ElevenLabsConfiguration

    public var name: String { "elevenlabs" }

    /// Creates a client.
    public init(configuration: ElevenLabsConfiguration) {
        self.configuration = configuration
    }

    /// Runs `body` with a voice whose replies share one socket, closed when `body` returns.
    public func withSessionVoice<Result: Sendable>(_ body: (any TextToSpeech) async throws -> Result) async throws -> Result {
        let (demands, demandSink) = AsyncStream.makeStream(of: ElevenLabsContextSocket.Demand.self, bufferingPolicy: .bufferingOldest(8))
        let socket = ElevenLabsContextSocket(configuration: configuration, name: name, demands: demandSink)
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
            group.addTask { await socket.serve(demands) }
            let result: Result
            do {
                result = try await body(ElevenLabsSessionVoice(socket: socket))
            } catch {
                socket.shutdown()
                group.cancelAll()
                throw error
            }
            // The connection closes with a close frame; a server that does not answer, or a
            // connection still opening, gets two seconds.
            socket.shutdown()
            group.addTask { try? await Task.sleep(for: .seconds(2)) }
            _ = try await group.next()
            group.cancelAll()
            return result
        }
    }

    public func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        try await withSessionVoice { voice in
            try await voice.synthesize(text, sampleRate: sampleRate, onAudio: onAudio)
        }
    }

    /// `close_context` for `id`: ElevenLabs speaks what was flushed, then says `isFinal` for it.
    static func closeContextMessage(_ id: String) -> String {
        (["context_id": .string(id), "close_context": true] as JSONValue).serialized
    }
}
