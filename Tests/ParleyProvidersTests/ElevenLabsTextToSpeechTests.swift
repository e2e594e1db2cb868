import Foundation
import ParleyCore
import ParleyTesting
import Testing

@testable import ParleyProviders

@Suite("ElevenLabs stream-input client")
struct ElevenLabsTextToSpeechTests {
    typealias Support = ElevenLabsTestSupport

    @Test("the socket URL carries voice, model, PCM format, alignment and inactivity timeout; the key goes in the header")
    func urlQueryAndHeader() async throws {
        try await FakeElevenLabsServer.run { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake) { $0.inactivityTimeout = .seconds(30) })
            try await tts.synthesize(Support.sentences(["Hi."]), sampleRate: 16000) { _ in }
            let record = try #require(fake.streamInput.first)
            #expect(record.voiceID == "21m00Tcm4TlvDq8ikWAM")
            #expect(record.queryValue("model_id") == "eleven_flash_v2_5")
            #expect(record.queryValue("output_format") == "pcm_16000")
            #expect(record.queryValue("sync_alignment") == "true")
            #expect(record.queryValue("inactivity_timeout") == "30")
            #expect(record.keySource == .header)
            #expect(record.messages.allSatisfy { !$0.contains(fake.configuration.apiKey) })
        }
        let secure = ElevenLabsConfiguration(apiKey: "k", voiceID: "JBFqnCBsd6RMkjVDRZzb")
        #expect(secure.streamInputURL(sampleRate: 24000).hasPrefix("wss://api.elevenlabs.io/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream-input?"))
        #expect(
            secure.streamURL(sampleRate: 24000) == "https://api.elevenlabs.io/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream?output_format=pcm_24000")
    }

    @Test("messages: initialize with one space first, one flushed message per sentence ending in one space, end of stream last")
    func messageSequence() async throws {
        try await FakeElevenLabsServer.run { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            try await tts.synthesize(Support.sentences(["Hello there.", "  How are you?\n\n", " \n", "Fine"]), sampleRate: 16000) { _ in }
            let record = try #require(fake.streamInput.first)
            let json = record.json.compactMap { $0 }
            #expect(json.count == record.messages.count)
            try #require(json.count == 5)
            #expect(json[0]["text"] == " ")
            #expect(json[0]["generation_config"]?["chunk_length_schedule"] == [50])
            #expect(json[0]["voice_settings"]?["stability"] == 0.5)
            #expect(json[0]["voice_settings"]?["use_speaker_boost"] == true)
            #expect(json[1] == ["text": "Hello there. ", "flush": true])
            #expect(json[2] == ["text": "How are you? ", "flush": true])
            #expect(json[3] == ["text": "Fine ", "flush": true])
            #expect(json[4] == ["text": ""])
            #expect(record.generations == ["Hello there. ", "How are you? ", "Fine "])
            #expect(record.violations.isEmpty)
            #expect(record.serverCloseCode == 1000)
        }
    }

    @Test("the socket is open and initialised before the first sentence exists")
    func connectsEarly() async throws {
        try await FakeElevenLabsServer.run { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            let (sentences, sink) = AsyncStream.makeStream(of: String.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask { try await tts.synthesize(sentences, sampleRate: 16000) { _ in } }
                let initialised = await fake.waitUntil { $0.streamInput.first?.messages.count == 1 }
                #expect(initialised, "no initialize message arrived while the LLM had not produced a sentence")
                #expect(fake.streamInput.first.flatMap { $0.json.first ?? nil }?["text"] == " ")
                sink.yield("Now the first sentence.")
                sink.finish()
                try await group.waitForAll()
            }
            #expect(fake.streamInput.count == 1)
            #expect(fake.streamInput.first?.generations == ["Now the first sentence. "])
        }
    }

    @Test("audio decodes to exactly the fake's samples although every message ends on an odd byte")
    func oddByteAudio() async throws {
        try await FakeElevenLabsServer.run(.init(audioChunkBytes: 1001)) { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            var chunks: [AudioChunk] = []
            try await tts.synthesize(Support.sentences(["Hello there.", "How are you?"]), sampleRate: 16000) { chunks.append($0) }
            let record = try #require(fake.streamInput.first)
            let expected = fake.speech(for: "Hello there. How are you? ", sampleRate: 16000)
            #expect(record.audioMessages > 4)
            #expect(PCM.samples(fromLittleEndian: record.audio) == expected)
            #expect(Support.samples(chunks) == expected)
            #expect(chunks.allSatisfy { $0.sampleRate == 16000 })
        }
    }

    @Test(
        "alignment is carried: characters join to the text as sent, times lie inside their chunk",
        arguments: [
            FakeElevenLabsServer.DurationKey.charsDurationsMs, .charDurationsMs,
        ])
    func alignment(durationKey: FakeElevenLabsServer.DurationKey) async throws {
        try await FakeElevenLabsServer.run(.init(durationPerCharacter: .milliseconds(10), audioChunkBytes: 1001, durationKey: durationKey)) { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            var chunks: [AudioChunk] = []
            try await tts.synthesize(Support.sentences(["Hello there.", "How are you?"]), sampleRate: 16000) { chunks.append($0) }
            let aligned = chunks.compactMap(\.alignment)
            #expect(aligned.map(\.text).joined() == "Hello there. How are you? ")
            for chunk in chunks {
                guard let alignment = chunk.alignment else { continue }
                let length = Duration.seconds(Double(chunk.samples.count) / Double(chunk.sampleRate))
                let starts = alignment.characters.map(\.start)
                #expect(starts == starts.sorted())
                #expect(starts.allSatisfy { $0 >= .zero && $0 <= length })
                #expect(alignment.characters.allSatisfy { $0.duration == .milliseconds(10) })
            }
        }
    }

    @Test(
        "sample rates ElevenLabs offers are asked for; others get the next one up, reported in the chunks",
        arguments: [
            (16000, 16000), (24000, 24000), (8000, 8000), (11025, 16000), (48000, 44100),
        ])
    func sampleRates(requested: Int, expected: Int) async throws {
        try await FakeElevenLabsServer.run { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            var chunks: [AudioChunk] = []
            try await tts.synthesize(Support.sentences(["Hi."]), sampleRate: requested) { chunks.append($0) }
            #expect(fake.streamInput.first?.queryValue("output_format") == "pcm_\(expected)")
            #expect(!chunks.isEmpty)
            #expect(chunks.allSatisfy { $0.sampleRate == expected })
            #expect(Support.samples(chunks) == fake.speech(for: "Hi. ", sampleRate: expected))
        }
        #expect(ElevenLabsConfiguration.outputSampleRate(for: requested) == expected)
    }

    @Test("an empty reply still opens, ends the stream and closes normally")
    func emptyReply() async throws {
        try await FakeElevenLabsServer.run { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            var chunks: [AudioChunk] = []
            try await tts.synthesize(Support.sentences([]), sampleRate: 16000) { chunks.append($0) }
            #expect(chunks.isEmpty)
            #expect(fake.streamInput.first?.json.count == 2)
            #expect(fake.streamInput.first?.json.last == ["text": ""])
            #expect(fake.streamInput.first?.serverCloseCode == 1000)
        }
    }

    @Test("the connection attempt is recorded as healthy")
    func healthRecorded() async throws {
        try await FakeElevenLabsServer.run { fake in
            let health = ConnectionHealth()
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake) { $0.health = health })
            try await tts.synthesize(Support.sentences(["One."]), sampleRate: 16000) { _ in }
            try await tts.synthesize(Support.sentences(["Two."]), sampleRate: 16000) { _ in }
            let snapshot = health.snapshot
            #expect(snapshot.lastSucceeded == true)
            #expect(snapshot.attempts == 2)
            #expect(snapshot.failures == 0)
        }
    }
}
