import Foundation
import ParleyCore
import ParleyTesting
import Testing

@testable import ParleyProviders

@Suite("ElevenLabs multi-stream-input client")
struct ElevenLabsMultiContextTextToSpeechTests {
    typealias Support = ElevenLabsTestSupport

    /// PCM16 little-endian bytes as samples.
    static func pcm(_ bytes: [UInt8]) -> [Int16] {
        stride(from: 0, to: bytes.count - 1, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
    }

    /// Speaks `sentences` through `voice`, returning the samples heard.
    static func speak(_ sentences: [String], through voice: any TextToSpeech) async throws -> [Int16] {
        var samples: [Int16] = []
        try await voice.synthesize(Support.sentences(sentences), sampleRate: 16000) { samples += $0.samples }
        return samples
    }

    @Test("a session's replies are contexts on one socket: each opened with one space, sentences flushed, close_context last, heard to its final")
    func oneSocketPerSession() async throws {
        try await FakeElevenLabsServer.run { fake in
            let tts = ElevenLabsMultiContextTextToSpeech(configuration: Support.configuration(fake))
            let heard = try await tts.withSessionVoice { voice in
                var heard: [[Int16]] = []
                for reply in [["Hello there.", "  How are you?\n"], ["Fine"], ["Bye now."]] {
                    heard.append(try await Self.speak(reply, through: voice))
                }
                return heard
            }
            #expect(fake.multiStreamInputCount == 1)
            let record = try #require(fake.multiStreamInput.first)
            #expect(record.queryValue("output_format") == "pcm_16000")
            #expect(record.queryValue("sync_alignment") == "true")
            #expect(record.keySource == .header)
            #expect(record.contextIDs == ["c1-1", "c1-2", "c1-3"])
            #expect(record.contexts.map(\.generations) == [["Hello there. ", "How are you? "], ["Fine "], ["Bye now. "]])
            #expect(record.contexts.allSatisfy { $0.finalSent && $0.closedByClient && $0.discarded.isEmpty })
            #expect(record.violations.isEmpty)
            let json = record.json.compactMap { $0 }
            try #require(json.count == 10)
            #expect(json[0]["text"] == " ")
            #expect(json[0]["context_id"] == "c1-1")
            #expect(json[0]["generation_config"]?["chunk_length_schedule"] == [50])
            #expect(json[0]["voice_settings"]?["stability"] == 0.5)
            #expect(json[1] == ["text": "Hello there. ", "context_id": "c1-1", "flush": true])
            #expect(json[2] == ["text": "How are you? ", "context_id": "c1-1", "flush": true])
            #expect(json[3] == ["context_id": "c1-1", "close_context": true])
            #expect(json[4]["text"] == " ")
            #expect(json[4]["context_id"] == "c1-2")
            #expect(json[9] == ["context_id": "c1-3", "close_context": true])
            for (index, samples) in heard.enumerated() {
                #expect(!samples.isEmpty)
                #expect(samples == Self.pcm(record.contexts[index].audio))
            }
            #expect(await fake.waitUntil { $0.multiStreamInput.first?.clientCloseCode == 1000 })
        }
    }

    @Test("outside a session, a reply opens a socket of its own and closes it")
    func oneShot() async throws {
        try await FakeElevenLabsServer.run(.init(finalKey: .is_final)) { fake in
            let tts = ElevenLabsMultiContextTextToSpeech(configuration: Support.configuration(fake))
            let samples = try await Self.speak(["One."], through: tts)
            let second = try await Self.speak(["Two."], through: tts)
            #expect(fake.multiStreamInputCount == 2)
            #expect(samples == Self.pcm(try #require(fake.multiStreamInput.first?.contexts.first?.audio)))
            #expect(!second.isEmpty)
            #expect(await fake.waitUntil { $0.multiStreamInput.allSatisfy { $0.clientCloseCode == 1000 } })
        }
    }

    @Test("barge-in: no audio after the cancel, the context is closed and its late audio dropped, the next reply uses the same socket")
    func bargeIn() async throws {
        try await FakeElevenLabsServer.run(.init(chunkPacing: .milliseconds(20))) { fake in
            let tts = ElevenLabsMultiContextTextToSpeech(configuration: Support.configuration(fake))
            try await tts.withSessionVoice { voice in
                let log = AudioLog()
                await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await voice.synthesize(
                            Support.sentences(["This reply is long enough to take a good while to hear out in full."]), sampleRate: 16000
                        ) { log.record($0) }
                    }
                    await log.firstAudio.wait()
                    group.cancelAll()
                    while let result = await group.nextResult() {
                        #expect(throws: CancellationError.self) { try result.get() }
                    }
                }
                let cancelledAt = log.chunks.count
                let next = try await Self.speak(["Next."], through: voice)
                #expect(log.chunks.count == cancelledAt, "audio of the interrupted reply came after it ended")
                #expect(log.deliveredAfterCancellation == 0)
                #expect(await fake.waitUntil { $0.multiStreamInput.first?.context("c1-1")?.finalSent == true })
                let record = try #require(fake.multiStreamInput.first)
                #expect(record.context("c1-1")?.closedByClient == true)
                #expect(record.context("c1-2")?.generations == ["Next. "])
                #expect(next == Self.pcm(try #require(record.context("c1-2")?.audio)))
            }
            #expect(fake.multiStreamInputCount == 1)
        }
    }

    @Test("contexts still closing count against ElevenLabs' five: the sixth reply opens a new socket instead of an error")
    func contextLimit() async throws {
        try await FakeElevenLabsServer.run(.init(chunkPacing: .milliseconds(50))) { fake in
            let tts = ElevenLabsMultiContextTextToSpeech(configuration: Support.configuration(fake))
            try await tts.withSessionVoice { voice in
                for _ in 0..<ElevenLabsMultiContextTextToSpeech.maximumContexts {
                    let log = AudioLog()
                    await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            try await voice.synthesize(
                                // About 3 s of speech sent over 5 s: each context is still closing when the next opens.
                                Support.sentences([String(repeating: "A reply long enough to be still speaking. ", count: 7)]),
                                sampleRate: 16000
                            ) { log.record($0) }
                        }
                        await log.firstAudio.wait()
                        group.cancelAll()
                    }
                }
                let last = try await Self.speak(["Still here."], through: voice)
                #expect(!last.isEmpty)
            }
            #expect(fake.multiStreamInputCount == 2)
            let records = fake.multiStreamInput
            #expect(records.first?.contextIDs.count == 5)
            #expect(records.first?.serverCloseCode != 1008)
            #expect(records.last?.contextIDs == ["c2-1"])
        }
    }

    @Test("a socket idle past the keep-alive interval is replaced before the next reply, and closed with 1000")
    func idleSocketReplaced() async throws {
        try await FakeElevenLabsServer.run { fake in
            // Keep-alive interval 2 s; the fake would close the idle socket only after 4 s.
            let tts = ElevenLabsMultiContextTextToSpeech(configuration: Support.configuration(fake) { $0.inactivityTimeout = .seconds(4) })
            try await tts.withSessionVoice { voice in
                _ = try await Self.speak(["First."], through: voice)
                _ = try await Self.speak(["Soon after."], through: voice)
                try await Task.sleep(for: .milliseconds(2500))
                _ = try await Self.speak(["After a pause."], through: voice)
            }
            #expect(fake.multiStreamInputCount == 2)
            #expect(fake.multiStreamInput.map(\.contextIDs) == [["c1-1", "c1-2"], ["c2-1"]])
            #expect(await fake.waitUntil { $0.multiStreamInput.allSatisfy { $0.clientCloseCode == 1000 } })
        }
    }

    @Test("a keep-alive holds a context open while the LLM is slow, and does not end it")
    func keepAlive() async throws {
        // A 2 s timeout against keep-alives every second leaves a loaded machine a second of slack.
        try await FakeElevenLabsServer.run { fake in
            let tts = ElevenLabsMultiContextTextToSpeech(
                configuration: Support.configuration(fake) { $0.inactivityTimeout = .seconds(2) })
            let (sentences, sink) = AsyncStream.makeStream(of: String.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await tts.synthesize(sentences, sampleRate: 16000) { _ in } }
                try await Task.sleep(for: .milliseconds(3200))
                sink.yield("Late words.")
                sink.finish()
                try await group.waitForAll()
            }
            let record = try #require(fake.multiStreamInput.first)
            #expect(record.json.contains { $0 == ["text": "", "context_id": "c1-1"] })
            #expect(record.context("c1-1")?.generations == ["Late words. "])
            #expect(record.serverCloseCode == nil)
        }
    }

    @Test("a dropped connection fails the reply with ElevenLabs' words; the next reply opens a new socket")
    func droppedConnection() async throws {
        let closing = FakeElevenLabsServer.Fault.closeAfterFirstAudio(code: 1011, reason: "internal error")
        try await FakeElevenLabsServer.run(.init(fault: closing)) { fake in
            let tts = ElevenLabsMultiContextTextToSpeech(configuration: Support.configuration(fake))
            try await tts.withSessionVoice { voice in
                for _ in 0..<2 {
                    let error = await Support.providerError { _ = try await Self.speak(["Hello there."], through: voice) }
                    #expect(error?.provider == "elevenlabs")
                    #expect(error?.kind == .streamEnded)
                    #expect(error?.message.contains("code 1011") == true)
                }
            }
            #expect(fake.multiStreamInputCount == 2)
        }
    }

    @Test("a stalled context times out, and its socket is closed so the next reply gets a fresh one")
    func stall() async throws {
        try await FakeElevenLabsServer.run(.init(fault: .stallFirstByte)) { fake in
            let tts = ElevenLabsMultiContextTextToSpeech(
                configuration: Support.configuration(fake) { $0.responseTimeout = .milliseconds(300) })
            try await tts.withSessionVoice { voice in
                let error = await Support.providerError { _ = try await Self.speak(["Hello there."], through: voice) }
                #expect(error?.kind == .timeout)
                #expect(error?.message.contains("sent no audio within") == true)
                #expect(await fake.waitUntil { $0.multiStreamInput.first?.clientCloseCode == 1000 })
                _ = await Support.providerError { _ = try await Self.speak(["Again."], through: voice) }
            }
            #expect(fake.multiStreamInputCount == 2)
        }
    }

    @Test("a refused key and an error message both fail the reply with ElevenLabs' own words")
    func refusals() async throws {
        try await FakeElevenLabsServer.run { fake in
            let tts = ElevenLabsMultiContextTextToSpeech(configuration: Support.configuration(fake, apiKey: "wrong-key"))
            let error = await Support.providerError { _ = try await Self.speak(["Hi."], through: tts) }
            #expect(error?.kind == .rejected)
            #expect(error?.message.contains("refused the API key") == true)
            #expect(error?.message.contains("wrong-key") == false)
        }
        let quota = FakeElevenLabsServer.Fault.errorMessage(error: "quota_exceeded", message: "This request exceeds your quota.")
        try await FakeElevenLabsServer.run(.init(fault: quota)) { fake in
            let tts = ElevenLabsMultiContextTextToSpeech(configuration: Support.configuration(fake))
            let error = await Support.providerError { _ = try await Self.speak(["Hi."], through: tts) }
            #expect(error?.kind == .rejected)
            #expect(error?.message.contains("quota_exceeded: This request exceeds your quota.") == true)
        }
    }

    @Test("a connection's answer that comes before the reply waits for it is kept, and a cancelled reply stops waiting")
    func demandAnsweredEarly() async throws {
        struct Refused: Error {}
        let early = ElevenLabsContextSocket.Demand(url: "ws://127.0.0.1:9/")
        early.resume(.failure(Refused()))
        early.resume(.failure(CancellationError()))
        await #expect(throws: Refused.self) { _ = try await early.wait() }

        let waiting = ElevenLabsContextSocket.Demand(url: "ws://127.0.0.1:9/")
        let task = Task { try await waiting.wait() }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }

    @Test("a fallback chain's session voice keeps ElevenLabs' socket across replies")
    func chainSessionVoice() async throws {
        try await FakeElevenLabsServer.run { fake in
            let chain = FallbackTextToSpeech(
                [ElevenLabsMultiContextTextToSpeech(configuration: Support.configuration(fake)), ToneTextToSpeech()],
                chain: ProviderChain(stage: "tts", timeout: nil))
            try await chain.withSessionVoice { voice in
                #expect(voice.name == "elevenlabs,tone-tts")
                for sentence in ["One.", "Two."] {
                    let samples = try await Self.speak([sentence], through: voice)
                    #expect(!samples.isEmpty)
                }
            }
            #expect(fake.multiStreamInputCount == 1)
            #expect(fake.multiStreamInput.first?.contextIDs == ["c1-1", "c1-2"])
        }
    }
}
