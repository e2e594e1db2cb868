import ParleyCore
import ParleyProviders
import Testing

@Suite("espeak-ng in process")
struct EspeakTextToSpeechTests {
    @Test("sentences are spoken in order at 22050 Hz, with plausible durations")
    func speaks() async throws {
        let (sentences, sink) = AsyncStream.makeStream(of: String.self)
        sink.yield("Hello there.")
        sink.yield("This second sentence is quite a bit longer than the first one.")
        sink.finish()
        var chunks: [AudioChunk] = []
        try await EspeakTextToSpeech().synthesize(sentences, sampleRate: 16000) { chunks.append($0) }
        #expect(chunks.count == 2)
        #expect(chunks.allSatisfy { $0.sampleRate == 22050 })
        let seconds = chunks.map { Double($0.samples.count) / 22050 }
        #expect(seconds[0] > 0.4 && seconds[0] < 2)
        #expect(seconds[1] > seconds[0] * 2)
        #expect(PCM.rms(chunks[0].samples) > 0.01)
    }

    @Test("concurrent sessions are serialised safely on the one engine")
    func concurrent() async throws {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<6 {
                group.addTask {
                    try await EspeakEngine.shared.synthesize("Session number \(index) says hello.").samples.count
                }
            }
            for try await count in group { #expect(count > 11025) }
        }
    }
}
