import ParleyCore
import ParleyTesting
import Synchronization
import Testing

@testable import ParleyProviders

@Suite("Whisper-style transcription client")
struct OpenAICompatibleSpeechToTextTests {
    @Test("Whisper's stock phrases on short utterances count as no speech")
    func hallucinations() {
        #expect(OpenAICompatibleSpeechToText.isLikelyHallucination("Thank you.", duration: 0.8))
        #expect(!OpenAICompatibleSpeechToText.isLikelyHallucination("Thank you.", duration: 2.5))
        #expect(!OpenAICompatibleSpeechToText.isLikelyHallucination("My name is John.", duration: 0.8))
    }

    @Test("multipart bodies carry the boundary, fields and file bytes")
    func multipart() {
        var form = MultipartFormData(boundary: "XYZ")
        form.add(name: "model", value: "whisper-1")
        form.add(name: "file", filename: "a.wav", contentType: "audio/wav", data: [0, 1, 2])
        let body = String(decoding: form.encoded(), as: UTF8.self)
        #expect(form.contentType == "multipart/form-data; boundary=XYZ")
        #expect(
            body == "--XYZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
                + "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n\u{0}\u{1}\u{2}\r\n--XYZ--\r\n"
        )
    }

    /// Speaks one utterance (a second of tone between VAD marks) into a client for `fake`.
    static func transcribeOnce(
        _ configuration: FakeOpenAIServer.Configuration, key: String
    ) async throws -> (events: [TranscriptEvent], requests: [FakeOpenAIServer.Request]) {
        try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(
                    name: "groq-whisper", baseURL: fake.groqBaseURL, apiKey: key, httpClient: client, keyVariable: "GROQ_API_KEY",
                    maximumRetryDelay: .seconds(1))
                let stt = OpenAICompatibleSpeechToText(endpoint: endpoint, model: "whisper-large-v3-turbo")
                let (input, sink) = AsyncStream.makeStream(of: SpeechInput.self)
                sink.yield(.speechStarted)
                for frame in AudioFixtures.frames(AudioFixtures.tone(frequency: 300, duration: .seconds(1))) { sink.yield(.audio(frame)) }
                sink.yield(.speechEnded)
                sink.finish()
                let events = Mutex<[TranscriptEvent]>([])
                try await stt.transcribe(input) { event in events.withLock { $0.append(event) } }
                return (events.withLock { $0 }, fake.requests)
            }
        }
    }

    @Test("an utterance is uploaded as a WAV in a multipart form and its text ends the turn")
    func groqWhisper() async throws {
        var configuration = FakeOpenAIServer.Configuration(apiKey: "gsk_k")
        configuration.transcripts = ["What is the weather like?"]
        let (events, requests) = try await Self.transcribeOnce(configuration, key: "gsk_k")
        #expect(events == [.final("What is the weather like?", endsTurn: true)])
        let request = try #require(requests.first)
        #expect(request.path == "/openai/v1/audio/transcriptions")
        #expect(request.fields["model"] == "whisper-large-v3-turbo")
        #expect(request.fields["language"] == "en")
        let file = try #require(request.file)
        #expect(file.name.hasSuffix(".wav"))
        let wav = try WAVFile(bytes: file.bytes)
        #expect(wav.sampleRate == 16000)
        #expect(wav.duration >= 1.0)
    }

    @Test("a refused key fails that utterance with a message naming the provider, and a 429 is retried")
    func errors() async throws {
        let (refused, _) = try await Self.transcribeOnce(FakeOpenAIServer.Configuration(apiKey: "gsk_right"), key: "gsk_wrong")
        guard case .failed(let error) = refused.first else {
            Issue.record("expected a failure, got \(refused)")
            return
        }
        #expect(error.status == 401)
        #expect(error.description.hasPrefix("groq-whisper: "))
        #expect(!error.description.contains("gsk_wrong"))

        var limited = FakeOpenAIServer.Configuration(apiKey: "gsk_k")
        limited.faults = [.status(429, retryAfter: "0.05")]
        let (events, requests) = try await Self.transcribeOnce(limited, key: "gsk_k")
        #expect(events == [.final("Hello there.", endsTurn: true)])
        #expect(requests.count == 2)
    }
}

@Suite("Whisper-style transcription started at a pause")
struct SpeculativeTranscriptionTests {
    /// Runs `script` through a client for a fake whose transcripts come in order; returns the
    /// events and the requests the fake saw.
    static func run(
        transcripts: [String], _ script: @escaping @Sendable (AsyncStream<SpeechInput>.Continuation) async throws -> Void
    ) async throws -> (events: [TranscriptEvent], requests: [FakeOpenAIServer.Request]) {
        var configuration = FakeOpenAIServer.Configuration()
        configuration.transcripts = transcripts
        return try await FakeOpenAIServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let endpoint = OpenAICompatibleEndpoint(name: "local-whisper", baseURL: fake.baseURL, httpClient: client)
                let stt = OpenAICompatibleSpeechToText(endpoint: endpoint, model: "whisper-tiny.en")
                let (input, sink) = AsyncStream.makeStream(of: SpeechInput.self)
                let events = try await withThrowingTaskGroup(of: [TranscriptEvent].self) { group in
                    group.addTask {
                        var events: [TranscriptEvent] = []
                        try await stt.transcribe(input) { events.append($0) }
                        return events
                    }
                    try await script(sink)
                    sink.finish()
                    return try await group.next() ?? []
                }
                return (events, fake.requests)
            }
        }
    }

    static let second = AudioFixtures.frames(AudioFixtures.tone(frequency: 300, duration: .seconds(1)))

    @Test("a pause followed by the end of speech: the transcript asked for at the pause is the turn's, asked for once")
    func pauseThenEnd() async throws {
        let (events, requests) = try await Self.run(transcripts: ["What is the capital of France?", "unused"]) { sink in
            sink.yield(.speechStarted)
            for frame in Self.second { sink.yield(.audio(frame)) }
            sink.yield(.paused)
            // The request leaves now, before the VAD's silence runs out; silence frames keep coming.
            for frame in AudioFixtures.frames(AudioFixtures.silence(.milliseconds(200))) {
                sink.yield(.audio(frame))
                try await Task.sleep(for: .milliseconds(20))
            }
            sink.yield(.speechEnded)
        }
        // Ready before the end: told as a tentative transcript, then final at the end.
        #expect(events == [.tentative("What is the capital of France?"), .final("What is the capital of France?", endsTurn: true)])
        #expect(requests.count == 1)
    }

    @Test("voice after the pause: the early transcript is dropped and the whole utterance transcribed at the end")
    func pauseResumeEnd() async throws {
        let (events, requests) = try await Self.run(transcripts: ["What is", "What is the capital of France?"]) { sink in
            sink.yield(.speechStarted)
            for frame in Self.second { sink.yield(.audio(frame)) }
            sink.yield(.paused)
            try await Task.sleep(for: .milliseconds(100))
            sink.yield(.resumed)
            for frame in Self.second { sink.yield(.audio(frame)) }
            sink.yield(.speechEnded)
        }
        // The tentative transcript may or may not have come before the voice did; the final is the whole.
        #expect(events.last == .final("What is the capital of France?", endsTurn: true))
        #expect(events.dropLast().allSatisfy { $0 == .tentative("What is") })
        #expect(requests.count == 2)
        // The last upload holds both seconds of speech (plus the pre-roll): 16-bit samples at 16 kHz.
        let last = try #require(requests.last?.file?.bytes.count)
        #expect(last > 2 * 2 * 16000)
    }
}
