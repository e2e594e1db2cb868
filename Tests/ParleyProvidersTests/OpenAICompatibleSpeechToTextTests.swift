import ParleyCore
@testable import ParleyProviders
import ParleyTesting
import Synchronization
import Testing

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
        #expect(body == "--XYZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
            + "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n\u{0}\u{1}\u{2}\r\n--XYZ--\r\n")
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
