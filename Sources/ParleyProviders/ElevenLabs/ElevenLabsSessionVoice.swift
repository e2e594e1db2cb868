import Foundation
import ParleyCore

/// The voice of one session on ElevenLabs' multi-context socket
/// (``ElevenLabsMultiContextTextToSpeech/withSessionVoice(_:)``): each reply is a context.
struct ElevenLabsSessionVoice: TextToSpeech {
    let socket: ElevenLabsContextSocket

    var name: String { socket.name }
    var configuration: ElevenLabsConfiguration { socket.configuration }

    func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        let outputRate = ElevenLabsConfiguration.outputSampleRate(for: sampleRate)
        // The URL names the voice: the session's (ProviderContext.voice) for the first provider of a chain.
        let link = try await socket.link(for: configuration.multiStreamInputURL(sampleRate: outputRate))
        guard let (id, events) = link.open() else {
            throw configuration.error(name, .streamEnded, "the connection to ElevenLabs ended as the reply began")
        }
        defer { link.leave(id) }
        let progress = StreamProgress(clock: configuration.clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Sending and the watchdog must not outlive the reply, however it ends.
            defer { group.cancelAll() }
            group.addTask { try await sendInput(text, context: id, over: link, progress: progress) }
            group.addTask { try await watch(link, progress: progress) }
            try await receive(events, context: id, of: link, sampleRate: outputRate, progress: progress, onAudio: onAudio)
        }
    }

    /// Reads the context's messages until its `isFinal`, handing audio to `onAudio`.
    private func receive(
        _ events: AsyncStream<ElevenLabsContextLink.Event>, context id: String, of link: ElevenLabsContextLink, sampleRate: Int,
        progress: StreamProgress, onAudio: (AudioChunk) async throws -> Void
    ) async throws {
        var audio = ElevenLabsAudio(sampleRate: sampleRate)
        for await event in events {
            try Task.checkCancellation()
            switch event {
            case .message(let message):
                if let error = message.error {
                    throw configuration.error(name, .rejected, "\(error.code): \(error.message)")
                }
                progress.received(audio: !message.audio.isEmpty, isFinal: message.isFinal)
                if message.isFinal { return }
                guard let chunk = audio.chunk(for: message) else { continue }
                // Barge-in: no audio may reach the caller once the reply is cancelled.
                try Task.checkCancellation()
                try await onAudio(chunk)
            case .ended(let code, let reason):
                try Task.checkCancellation()
                throw configuration.closeFailure(name, code: code, reason: reason, timedOut: progress.timedOut)
            case .failed(let error):
                try Task.checkCancellation()
                throw error
            }
        }
        try Task.checkCancellation()
        if link.overflowed(id) {
            throw configuration.error(name, .engine, "more than \(ElevenLabsContextLink.eventCapacity) ElevenLabs messages waiting")
        }
        throw configuration.error(name, .streamEnded, "the connection to ElevenLabs ended before the final audio")
    }

    /// Opens the context, sends each sentence as it arrives (with keep-alives while none does),
    /// then `close_context`.
    private func sendInput(
        _ text: AsyncStream<String>, context id: String, over link: ElevenLabsContextLink, progress: StreamProgress
    ) async throws {
        try await link.send(configuration.initializeMessage(context: id))
        progress.sent(.initialize)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask { try await keepAlive(id, over: link, progress: progress) }
            for await sentence in text {
                guard let message = Self.sentenceMessage(sentence, context: id) else { continue }
                try await link.send(message)
                progress.sent(.flush)
            }
            // A cancelled reply ends `text` early; it must not be mistaken for the end of the text.
            try Task.checkCancellation()
            group.cancelAll()
            while !group.isEmpty { _ = try? await group.next() }
            link.closed(id)
            try await link.send(ElevenLabsMultiContextTextToSpeech.closeContextMessage(id))
            progress.sent(.endOfStream)
        }
    }

    /// Sends `{"text":"","context_id":…}` whenever nothing has been sent for the keep-alive
    /// interval (on this socket an empty text keeps a context alive; it does not end it).
    private func keepAlive(_ id: String, over link: ElevenLabsContextLink, progress: StreamProgress) async throws {
        let message = (["text": "", "context_id": .string(id)] as JSONValue).serialized
        try await progress.keepAlive(every: configuration.keepAliveInterval) { try await link.send(message) }
    }

    /// Gives up on a stalled context: when ElevenLabs has been asked for speech and sent nothing
    /// for ``ElevenLabsConfiguration/responseTimeout``, the connection (suspect) is closed, so the
    /// reader ends the reply with a timeout.
    private func watch(_ link: ElevenLabsContextLink, progress: StreamProgress) async throws {
        try await progress.watch(timeout: configuration.responseTimeout) { link.retirement.fire() }
    }

    /// One sentence for context `id`, ending in exactly one space, flushed; nil for blank text.
    static func sentenceMessage(_ sentence: String, context id: String) -> String? {
        let trimmed = sentence.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        let message: JSONValue = ["text": .string(trimmed + " "), "context_id": .string(id), "flush": true]
        return message.serialized
    }
}
