import Foundation
import ParleyCore

extension FakeElevenLabsServer.StreamInputConnection {
    /// Speaks each job's text as audio messages, then answers end of stream with `isFinal` and
    /// close 1000; acts out the audio faults.
    func generate(_ jobs: AsyncStream<Job>) async throws {
        var firstAudio = true
        for await job in jobs {
            switch job {
            case .speak(let text):
                fake.updateStreamInput(index) { $0.generations.append(text) }
                for made in audioMessages(for: text) {
                    if firstAudio {
                        let delay = options.misbehaviour.firstByteDelay
                        if delay > .zero { try await FakeClock.sleep(for: delay) }
                        if try await actOutFirstAudioFault(contextID: nil) { return }
                    } else if configuration.chunkPacing > .zero {
                        try await FakeClock.sleep(for: configuration.chunkPacing)
                    }
                    guard !isClosing else { return }
                    try await socket.send(text: made.message)
                    fake.updateStreamInput(index) { record in
                        if configuration.recordsAudio { record.audio += made.piece.bytes }
                        record.audioMessages += 1
                    }
                    if firstAudio {
                        firstAudio = false
                        if try await actOutAfterFirstAudioFault() { return }
                    }
                }
            case .final:
                guard beginClosing(code: 1000) else { return }
                try await socket.send(text: #"{"isFinal":true}"#)
                try await socket.close(code: 1000, reason: "")
                return
            }
        }
    }
}
