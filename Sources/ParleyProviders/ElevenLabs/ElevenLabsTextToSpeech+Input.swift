import Foundation
import ParleyCore

extension ElevenLabsTextToSpeech {
    /// The first message: one space, the voice settings and the chunk schedule (both allowed only here).
    var initializeMessage: String { configuration.initializeMessage(context: nil) }

    /// Keeps the socket open while no text is coming; an empty text would end the stream instead.
    static let keepAliveMessage = (["text": " "] as JSONValue).serialized
    /// End of stream: ElevenLabs speaks what is left, says `isFinal` and closes.
    static let endOfStreamMessage = (["text": ""] as JSONValue).serialized

    /// The message for one sentence: its text ending in exactly one space (ElevenLabs glues words
    /// together or holds them back otherwise), flushed so it is spoken now; nil for blank text.
    static func sentenceMessage(_ sentence: String) -> String? {
        let trimmed = sentence.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        let message: JSONValue = ["text": .string(trimmed + " "), "flush": true]
        return message.serialized
    }

    /// Sends the initialize message, each sentence as it arrives (with keep-alives while none
    /// does), then end of stream.
    func sendInput(_ text: AsyncStream<String>, over connection: ProviderWebSocketConnection, progress: StreamProgress) async throws {
        try await connection.send(text: initializeMessage)
        progress.sent(.initialize)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask { try await keepAlive(over: connection, progress: progress) }
            for await sentence in text {
                guard let message = Self.sentenceMessage(sentence) else { continue }
                try await connection.send(text: message)
                progress.sent(.flush)
            }
            // A cancelled reply ends `text` early; it must not be mistaken for the end of the text.
            try Task.checkCancellation()
            // No keep-alive may follow the end of stream: stop it and wait until it has stopped.
            group.cancelAll()
            while !group.isEmpty { _ = try? await group.next() }
            try await connection.send(text: Self.endOfStreamMessage)
            progress.sent(.endOfStream)
        }
    }

    /// Sends `{"text":" "}` whenever nothing has been sent for the keep-alive interval.
    private func keepAlive(over connection: ProviderWebSocketConnection, progress: StreamProgress) async throws {
        try await progress.keepAlive(every: configuration.keepAliveInterval) { try await connection.send(text: Self.keepAliveMessage) }
    }

    /// Gives up on a stalled stream: when ElevenLabs has been asked for speech and sent nothing
    /// for ``ElevenLabsConfiguration/responseTimeout``, closes the socket so the reader ends with
    /// a timeout (or, after `isFinal`, with success).
    func watch(_ connection: ProviderWebSocketConnection, progress: StreamProgress) async throws {
        try await progress.watch(timeout: configuration.responseTimeout) {
            try await connection.close(code: 1000, reason: progress.finalReceived ? "" : "no audio in time")
        }
    }
}
