import ParleyCore

/// What reaches a live recogniser's task (Deepgram Flux, smallest.ai Pulse): the caller's input,
/// the provider's messages and clock ticks, through one ``RecognitionQueue``, so that one task
/// alone keeps the stream's state and calls `onEvent`.
enum LiveRecognitionEvent: Sendable {
    case input(SpeechInput)
    case inputFinished
    case message(ProviderWebSocket.Message)
    /// Reading from the socket failed, with what went wrong.
    case readFailed(String)
    case tick
}

enum LiveRecognition {
    /// Runs `body` with one queue fed by `input`, `socket`'s messages and a tick every `tick` on
    /// `clock`; the feeding tasks end when `body` returns or throws.
    static func run(
        input: AsyncStream<SpeechInput>, socket: ProviderWebSocketConnection, clock: SessionClock, tick: Duration,
        _ body: (RecognitionQueue<LiveRecognitionEvent>) async throws -> Void
    ) async throws {
        let queue = RecognitionQueue<LiveRecognitionEvent>(clock: clock, tick: tick, tickEvent: .tick)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask { try await queue.feed(input, wrap: { .input($0) }, ended: .inputFinished) }
            group.addTask {
                do {
                    for try await message in socket.messages { queue.send(.message(message)) }
                } catch {
                    queue.send(.readFailed("\(error)"))
                }
            }
            try await body(queue)
        }
    }
}
