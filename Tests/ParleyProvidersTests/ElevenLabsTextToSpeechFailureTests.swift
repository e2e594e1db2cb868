import Foundation
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

@Suite("ElevenLabs stream-input client: errors, faults and cancellation")
struct ElevenLabsTextToSpeechFailureTests {
    typealias Support = ElevenLabsTestSupport

    @Test("an error message and close 1008 become a ProviderError naming ElevenLabs and the error code")
    func errorMessage() async throws {
        let fault = FakeElevenLabsServer.Fault.errorMessage(error: "quota_exceeded", message: "This request exceeds your quota.")
        try await FakeElevenLabsServer.run(.init(fault: fault)) { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in }
            }
            #expect(error?.provider == "elevenlabs")
            #expect(error?.kind == .rejected)
            #expect(error?.message == "quota_exceeded: This request exceeds your quota.")
            #expect(fake.streamInput.first?.serverCloseCode == 1008)
        }
    }

    @Test("ElevenLabs' inactivity timeout (when the client's keep-alive comes too late) is reported with its code and message")
    func inactivityTimeout() async throws {
        // The fake times out after 0.3 s; the client, told 20 s, would send its keep-alive after 15 s.
        try await FakeElevenLabsServer.run(.init(inactivityTimeout: .milliseconds(300))) { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            let (sentences, sink) = AsyncStream.makeStream(of: String.self)
            sink.yield("The LLM then goes quiet.")
            let error = await Support.providerError {
                try await tts.synthesize(sentences, sampleRate: 16000) { _ in }
            }
            sink.finish()
            #expect(error?.kind == .rejected)
            #expect(error?.message.hasPrefix("input_timeout_exceeded: Have not received a new text input") == true)
            #expect(fake.streamInput.first?.serverCloseCode == 1008)
        }
    }

    @Test("a refused key fails the handshake: HTTP 401, a hint, no key in the message, health marked failed")
    func refusedKey() async throws {
        let secret = "sk_wrong_secret_0123456789"
        try await FakeElevenLabsServer.run { fake in
            let health = ConnectionHealth()
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake, apiKey: secret) { $0.health = health })
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in }
            }
            #expect(error?.status == 401)
            #expect(error?.kind == .rejected)
            #expect(error?.message.hasPrefix("ElevenLabs refused the API key (HTTP 401) — check ELEVENLABS_API_KEY") == true)
            #expect(error?.description.contains(secret) == false)
            #expect(fake.streamInput.isEmpty)
            let snapshot = health.snapshot
            #expect(snapshot.lastSucceeded == false)
            #expect(snapshot.failures == 1)
            #expect(snapshot.lastError?.contains(secret) == false)
        }
    }

    @Test("an unknown voice is refused with ElevenLabs' code and message")
    func unknownVoice() async throws {
        try await FakeElevenLabsServer.run { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake) { $0.voiceID = "NoSuchVoice" })
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in }
            }
            #expect(error?.status == 404)
            #expect(error?.message.hasPrefix("HTTP 404: voice_not_found: A voice with voice_id NoSuchVoice") == true)
        }
    }

    @Test(
        "a close mid-stream (1011) or a dropped connection is streamEnded, after the audio that did arrive",
        arguments: [
            FakeElevenLabsServer.Fault.closeAfterFirstAudio(code: 1011, reason: "internal server error"), .dropAfterFirstAudio,
        ])
    func midStreamClose(fault: FakeElevenLabsServer.Fault) async throws {
        try await FakeElevenLabsServer.run(.init(audioChunkBytes: 1001, fault: fault)) { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            var chunks: [AudioChunk] = []
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["A sentence long enough for several messages."]), sampleRate: 16000) {
                    chunks.append($0)
                }
            }
            #expect(error?.kind == .streamEnded)
            #expect(error?.message.contains("ElevenLabs") == true)
            if case .closeAfterFirstAudio = fault { #expect(error?.message.contains("1011") == true) }
            // The first message's 1001 bytes are 500 whole samples; the odd byte is never completed.
            let spoken = fake.speech(for: "A sentence long enough for several messages. ", sampleRate: 16000)
            #expect(Support.samples(chunks) == Array(spoken.prefix(500)))
        }
    }

    @Test(
        "a message that is not JSON, or audio that is not base64, is a bad response",
        arguments: [
            FakeElevenLabsServer.Fault.nonJSONMessage, .audioNotBase64,
        ])
    func malformed(fault: FakeElevenLabsServer.Fault) async throws {
        try await FakeElevenLabsServer.run(.init(fault: fault)) { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            var chunks = 0
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in chunks += 1 }
            }
            #expect(error?.kind == .badResponse)
            #expect(error?.message.hasPrefix("ElevenLabs sent") == true)
            #expect(chunks == 0)
        }
    }

    @Test("a stream that sends no audio gives up after the response timeout")
    func stalled() async throws {
        try await FakeElevenLabsServer.run(.init(fault: .stallFirstByte)) { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake) { $0.responseTimeout = .milliseconds(300) })
            let started = ContinuousClock.now
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in }
            }
            #expect(error?.kind == .timeout)
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test("a server that never answers the upgrade times out; one that is not there is unreachable")
    func connectFailures() async throws {
        try await FakeElevenLabsServer.run(.init(handshakeDelay: .seconds(5))) { fake in
            let health = ConnectionHealth()
            let tts = ElevenLabsTextToSpeech(
                configuration: Support.configuration(fake) {
                    $0.connectTimeout = .milliseconds(300)
                    $0.health = health
                })
            let error = await Support.providerError {
                try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in }
            }
            #expect(error?.kind == .timeout)
            #expect(health.snapshot.failures == 1)
        }
        let port = try await FakeProviderServer().run { $0 }
        let tts = ElevenLabsTextToSpeech(configuration: .init(apiKey: "k", baseURL: "http://127.0.0.1:\(port)"))
        let error = await Support.providerError {
            try await tts.synthesize(Support.sentences(["Hello."]), sampleRate: 16000) { _ in }
        }
        #expect(error?.kind == .unreachable)
        #expect(error?.message.contains("ElevenLabs") == true)
    }

    @Test("cancelling mid-reply closes the socket at once and no audio is delivered after")
    func cancellation() async throws {
        // 40 pieces 20 ms apart: the reply would take most of a second without the cancellation.
        try await FakeElevenLabsServer.run(.init(audioChunkBytes: 1001, chunkPacing: .milliseconds(20))) { fake in
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake))
            let log = AudioLog()
            let (sentences, sink) = AsyncStream.makeStream(of: String.self)
            sink.yield(String(repeating: "A long sentence. ", count: 8))
            let cancelledAt = try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask { try await tts.synthesize(sentences, sampleRate: 16000) { log.record($0) } }
                await log.firstAudio.wait()
                let cancelledAt = ContinuousClock.now
                group.cancelAll()
                await #expect(throws: CancellationError.self) { try await group.next() }
                #expect(ContinuousClock.now - cancelledAt < .seconds(2))
                return cancelledAt
            }
            let closed = await fake.waitUntil { $0.streamInput.first?.closedAt != nil }
            #expect(closed)
            let record = try #require(fake.streamInput.first)
            #expect(try #require(record.closedAt) - cancelledAt < .seconds(2))
            #expect(record.clientDropped || record.clientCloseCode != nil)
            #expect(record.serverCloseCode == nil)
            // 136 characters of 10 ms at 16 kHz are 43 520 bytes: 44 messages had the reply run on.
            #expect(record.audioMessages < 22)
            let delivered = log.chunks.count
            #expect(delivered <= record.audioMessages)
            #expect(log.deliveredAfterCancellation == 0)
            try await Task.sleep(for: .milliseconds(100))
            #expect(log.chunks.count == delivered)
            sink.finish()
        }
    }

    @Test("keep-alives hold the socket open while the LLM is slower than ElevenLabs' inactivity timeout")
    func keepAlive() async throws {
        try await FakeElevenLabsServer.run { fake in
            // inactivity_timeout=2 (the fake honours it): the client keeps alive every second, which
            // leaves a second of slack for a loaded machine.
            let tts = ElevenLabsTextToSpeech(configuration: Support.configuration(fake) { $0.inactivityTimeout = .seconds(2) })
            let (sentences, sink) = AsyncStream.makeStream(of: String.self)
            var chunks: [AudioChunk] = []
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask {
                    sink.yield("First.")
                    try await Task.sleep(for: .milliseconds(4400))
                    sink.yield("Second, much later.")
                    sink.finish()
                }
                try await tts.synthesize(sentences, sampleRate: 16000) { chunks.append($0) }
                try await group.waitForAll()
            }
            let record = try #require(fake.streamInput.first)
            let texts = record.json.map { $0?["text"]?.stringValue }
            #expect(record.queryValue("inactivity_timeout") == "2")
            #expect(record.serverCloseCode == 1000)
            #expect(texts.first == " ")
            #expect(texts.last == "")
            let keepAlives = texts.dropFirst().dropLast().filter { $0 == " " }.count
            #expect(keepAlives >= 3)
            #expect(record.generations == ["First. ", "Second, much later. "])
            #expect(Support.samples(chunks) == fake.speech(for: "First. Second, much later. ", sampleRate: 16000))
        }
    }
}
