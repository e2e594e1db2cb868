import AsyncAlgorithms
import ParleyCore

/// What reaches a live recogniser's task (Deepgram Flux, smallest.ai Pulse): the caller's input,
/// the provider's messages and clock ticks, through one backpressured queue, so that one task
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
        _ body: (AsyncChannel<LiveRecognitionEvent>) async throws -> Void
    ) async throws {
        let events = AsyncChannel<LiveRecognitionEvent>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                for await item in input { await events.send(.input(item)) }
                await events.send(.inputFinished)
            }
            group.addTask {
                while true {
                    try await clock.sleep(for: tick)
                    await events.send(.tick)
                }
            }
            group.addTask {
                do {
                    for try await message in socket.messages { await events.send(.message(message)) }
                } catch {
                    await events.send(.readFailed("\(error)"))
                }
            }
            try await body(events)
        }
    }
}
