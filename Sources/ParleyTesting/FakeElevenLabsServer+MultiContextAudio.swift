import Foundation
import ParleyCore

extension FakeElevenLabsServer.MultiContextConnection {
    /// Speaks one context's jobs in order as audio messages tagged with its `contextId`, then sends
    /// its final message; acts out the audio faults. `firstByteDelay` is waited before each
    /// context's first audio (each context is a reply of its own); the faults that replace or
    /// follow the first audio act once per socket, and `stallFirstByte` holds every context's audio.
    func generate(_ serial: Int, id: String, _ jobs: AsyncStream<Job>) async throws {
        var firstInContext = true
        for await job in jobs {
            switch job {
            case .speak(let text):
                fake.updateContext(index, serial) { $0.generations.append(text) }
                for made in audioMessages(for: text) {
                    if firstInContext {
                        let delay = options.misbehaviour.firstByteDelay
                        if delay > .zero { try await FakeClock.sleep(for: delay) }
                    } else if configuration.chunkPacing > .zero {
                        try await FakeClock.sleep(for: configuration.chunkPacing)
                    }
                    let firstOnSocket = state.withLock { state in
                        defer { state.audioSent = true }
                        return !state.audioSent
                    }
                    if firstOnSocket || options.misbehaviour.fault == .stallFirstByte {
                        if try await actOutFirstAudioFault(contextID: id) { return }
                    }
                    guard !isClosing else { return }
                    try await socket.send(text: FakeElevenLabsServer.tagged(made.message, contextID: id))
                    let closed = state.withLock { $0.contexts[serial]?.closed ?? true }
                    fake.updateContext(index, serial) { record in
                        if configuration.recordsAudio { record.audio += made.piece.bytes }
                        record.audioMessages += 1
                        if closed { record.audioMessagesAfterClose += 1 }
                    }
                    firstInContext = false
                    if firstOnSocket, try await actOutAfterFirstAudioFault() { return }
                }
            case .final:
                try await sendFinal(serial, id: id)
                return
            }
        }
    }

    /// Ends a context: it stops counting towards the limit, its final message goes out, and if the
    /// client sent `close_socket` and this was the last final, the socket closes with 1000.
    private func sendFinal(_ serial: Int, id: String) async throws {
        guard !isClosing else { return }
        state.withLock { state in
            state.contexts[serial] = nil
            state.lastEnded = .now
            state.finalsInFlight += 1
        }
        let final: JSONValue = [configuration.finalKey.rawValue: true, "contextId": .string(id)]
        var sendError: (any Error)?
        do {
            try await socket.send(text: final.serialized)
            fake.updateContext(index, serial) { $0.finalSent = true }
        } catch {
            sendError = error
        }
        let last = state.withLock { state in
            state.finalsInFlight -= 1
            return state.socketClosed && state.contexts.isEmpty && state.finalsInFlight == 0
        }
        if let sendError { throw sendError }
        if last, beginClosing(code: 1000) { try await socket.close(code: 1000, reason: "") }
    }
}
