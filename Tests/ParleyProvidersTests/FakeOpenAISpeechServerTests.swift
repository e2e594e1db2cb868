import AsyncHTTPClient
import Foundation
import NIOCore
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

@Suite("Fake OpenAI-compatible speech server follows docs/providers.md")
struct FakeOpenAISpeechServerTests {
    static let key = "sk-test-speech-secret"

    /// A response as the client saw it: the body as it arrived, piece by piece.
    /// Header fields; a name gives every value, compared without case.
    struct Fields {
        var pairs: [(String, String)]
        subscript(name: String) -> [String] { pairs.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }
    }

    struct Answer {
        var status: Int
        var headers: Fields
        var pieces: [[UInt8]]
        var bodyError: (any Error)?
        var headAfter: Duration

        var bytes: [UInt8] { pieces.flatMap { $0 } }
        var json: JSONValue? { JSONValue.parse(String(decoding: bytes, as: UTF8.self)) }
        var error: JSONValue? { json?["error"] }
        /// The `data:` payloads of an event stream.
        var events: [JSONValue] {
            String(decoding: bytes, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("data: ") }.compactMap {
                JSONValue.parse(String($0.dropFirst(6)))
            }
        }
    }

    static func body(
        input: String = "Hello there.", voice: JSONValue = "alloy", model: String = "gpt-4o-mini-tts", format: String? = "pcm",
        _ change: (inout [String: JSONValue]) -> Void = { _ in }
    ) -> String {
        var fields: [String: JSONValue] = ["model": .string(model), "input": .string(input), "voice": voice]
        if let format { fields["response_format"] = .string(format) }
        change(&fields)
        return JSONValue.object(fields).serialized
    }

    static func post(
        _ fake: FakeOpenAISpeechServer.Running, _ client: HTTPClient, _ body: String = body(), key: String? = key,
        path: String = "/audio/speech", timeout: Duration = .seconds(5)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: fake.baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/octet-stream")
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(string: body))
        let sent = ContinuousClock.now
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout.milliseconds)))
        var answer = Answer(
            status: Int(response.status.code), headers: Fields(pairs: response.headers.map { ($0.name, $0.value) }), pieces: [],
            headAfter: sent.duration(to: .now))
        do {
            for try await buffer in response.body { answer.pieces.append(Array(buffer.readableBytesView)) }
        } catch {
            answer.bodyError = error
        }
        return answer
    }

    static func configuration(_ change: (inout FakeOpenAISpeechServer.Configuration) -> Void = { _ in }) -> FakeOpenAISpeechServer.Configuration {
        var configuration = FakeOpenAISpeechServer.Configuration(apiKey: key)
        change(&configuration)
        return configuration
    }

    @Test("pcm: 24 kHz PCM16LE written chunked in odd sizes, which reassemble into the request's tone, 0.06 s per character")
    func pcm() async throws {
        let configuration = Self.configuration { $0.chunkDelay = .milliseconds(1) }
        try await FakeOpenAISpeechServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let answer = try await Self.post(fake, client)
                #expect(answer.status == 200)
                #expect(answer.headers["Content-Type"] == ["audio/pcm"])
                #expect(answer.headers["Transfer-Encoding"] == ["chunked"])
                #expect(answer.headers["x-ratelimit-limit-requests"].count == 1)
                #expect(answer.bodyError == nil)
                #expect(answer.pieces.contains { $0.count % 2 == 1 }, "some pieces split a sample")
                let samples = PCM.samples(fromLittleEndian: answer.bytes)
                #expect(samples.count == 12 * 1440, "\"Hello there.\" is 0.72 s at 24 kHz")
                #expect(samples == fake.speech(for: "Hello there.", request: 0))
                // The same text as the next request is another pitch.
                let second = PCM.samples(fromLittleEndian: try await Self.post(fake, client).bytes)
                #expect(second == fake.speech(for: "Hello there.", request: 1))
                #expect(second != samples)
                #expect(fake.completedStreams == 2)
                let request = try #require(fake.requests.first)
                #expect(request.path == "/v1/audio/speech")
                #expect(request.authorized)
                #expect(request.accept == "application/octet-stream")
                #expect(request.json?["voice"] == "alloy")
                #expect(!"\(fake.requests)".contains(Self.key))
            }
        }
    }

    @Test("sentences split after . ! ? … before whitespace and join back; speed shortens the speech")
    func sentencesAndSpeed() {
        let text = "Hello there. It costs 3.50 today! \"Really?\" Yes…  Fine"
        let sentences = FakeOpenAISpeechServer.sentences(in: text)
        #expect(sentences == ["Hello there. ", "It costs 3.50 today! ", "\"Really?\" ", "Yes…  ", "Fine"])
        #expect(sentences.joined() == text)
        let parts = FakeOpenAISpeechServer.speechBySentence(for: "One. Two.", request: 3, sampleRate: 16000)
        #expect(parts.map(\.count) == [5 * 960, 4 * 960])
        #expect(abs(Double(parts[1].map { abs(Int($0)) }.max() ?? 0) / 32767 - FakeOpenAISpeechServer.amplitude(forSentence: 1)) < 0.01)
        #expect(FakeOpenAISpeechServer.speech(for: "One. Two.", request: 3, sampleRate: 16000, speed: 2).count == 9 * 480)
    }

    @Test("Kokoro style: a burst per sentence, 22050 Hz with the rate in the Content-Type, no key, no SSE, FastAPI's headers")
    func kokoroBursts() async throws {
        var configuration = FakeOpenAISpeechServer.Configuration(errorShape: .kokoro)
        configuration.sentenceBursts = true
        configuration.sampleRate = 22050
        configuration.pcmContentType = "audio/pcm;rate=22050"
        configuration.chunkBytes = [Int.max]
        configuration.chunkDelay = .milliseconds(30)
        configuration.voices = ["af_heart", "af_bella"]
        try await FakeOpenAISpeechServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let text = "One. Two three. Four!"
                let body = Self.body(input: text, voice: "af_heart+af_bella(0.5)", model: "kokoro") { $0["stream_format"] = "sse" }
                let answer = try await Self.post(fake, client, body, key: nil)
                #expect(answer.status == 200)
                #expect(answer.headers["Content-Type"] == ["audio/pcm;rate=22050"])
                #expect(answer.headers["Content-Disposition"] == ["attachment; filename=speech.pcm"])
                #expect(answer.headers["x-ratelimit-limit-requests"].isEmpty)
                let sentences = FakeOpenAISpeechServer.speechBySentence(for: text, request: 0, sampleRate: 22050)
                // 30 ms between sentences: each arrives as its own piece (or pieces).
                #expect(answer.pieces.count >= 3)
                #expect(answer.bytes == sentences.flatMap { PCM.littleEndianBytes($0) })
                #expect(fake.requests.first?.authorized == true)
            }
        }
    }

    @Test("wav: a RIFF header with the true sizes, or 0xFFFFFFFF as streaming servers write, then the PCM")
    func wav() async throws {
        for unknown in [false, true] {
            let configuration = Self.configuration { $0.wavUnknownSizes = unknown }
            try await FakeOpenAISpeechServer.run(configuration) { fake in
                try await withHTTPClient { client in
                    let answer = try await Self.post(fake, client, Self.body(input: "Hi.", format: "wav"))
                    #expect(answer.headers["Content-Type"] == ["audio/wav"])
                    let bytes = answer.bytes
                    #expect(Array(bytes.prefix(4)) == Array("RIFF".utf8))
                    #expect(Array(bytes[8..<16]) == Array("WAVEfmt ".utf8))
                    let dataSize = bytes[40..<44].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    #expect(dataSize == (unknown ? UInt32.max : UInt32(bytes.count - 44)))
                    let file = try WAVFile(bytes: bytes)
                    #expect(file.sampleRate == 24000)
                    #expect(PCM.samples(fromLittleEndian: bytes.dropFirst(44)) == fake.speech(for: "Hi.", request: 0))
                }
            }
        }
    }

    @Test("mp3 is the default format: canned bytes as audio/mpeg")
    func mp3() async throws {
        try await FakeOpenAISpeechServer.run(Self.configuration()) { fake in
            try await withHTTPClient { client in
                let answer = try await Self.post(fake, client, Self.body(format: nil))
                #expect(answer.status == 200)
                #expect(answer.headers["Content-Type"] == ["audio/mpeg"])
                #expect(Array(answer.bytes.prefix(3)) == Array("ID3".utf8))
            }
        }
    }

    @Test("sse: speech.audio.delta events whose base64 audio joins into the PCM, then speech.audio.done with usage; not for tts-1")
    func sse() async throws {
        try await FakeOpenAISpeechServer.run(Self.configuration()) { fake in
            try await withHTTPClient { client in
                let answer = try await Self.post(fake, client, Self.body { $0["stream_format"] = "sse" })
                #expect(answer.status == 200)
                #expect(answer.headers["Content-Type"] == ["text/event-stream"])
                let events = answer.events
                let deltas = events.dropLast()
                #expect(deltas.count > 1)
                #expect(deltas.allSatisfy { $0["type"] == "speech.audio.delta" })
                let audio = deltas.flatMap { Array(Data(base64Encoded: $0["audio"]?.stringValue ?? "") ?? Data()) }
                #expect(PCM.samples(fromLittleEndian: audio) == fake.speech(for: "Hello there.", request: 0))
                #expect(events.last?["type"] == "speech.audio.done")
                let usage = try #require(events.last?["usage"])
                #expect(usage["input_tokens"] == 3)
                #expect(usage["output_tokens"] == 15)
                #expect(usage["total_tokens"] == 18)
                let classic = try await Self.post(fake, client, Self.body(model: "tts-1") { $0["stream_format"] = "sse" })
                #expect(classic.status == 400)
                #expect(classic.error?["param"] == "stream_format")
            }
        }
    }

    @Test("OpenAI's refusals: 401 for a missing or wrong key, 400 for the body, each in the error envelope with rate-limit headers")
    func openAIErrors() async throws {
        let long = String(repeating: "é", count: 4097)
        let cases: [(String, String?, Int, String?, String?)] = [
            (Self.body(), nil, 401, nil, "invalid_api_key"),
            (Self.body(), "sk-wrong", 401, nil, "invalid_api_key"),
            ("{not json", Self.key, 400, nil, nil),
            (Self.body { $0["input"] = nil }, Self.key, 400, "input", "missing_required_parameter"),
            (Self.body { $0["voice"] = nil }, Self.key, 400, "voice", "missing_required_parameter"),
            (Self.body { $0["model"] = nil }, Self.key, 400, "model", "missing_required_parameter"),
            (Self.body(input: long), Self.key, 400, nil, nil),
            (Self.body(input: ""), Self.key, 400, nil, nil),
            (Self.body(voice: "bob"), Self.key, 400, "voice", "invalid_value"),
            (Self.body(format: "ogg"), Self.key, 400, "response_format", "invalid_value"),
            (Self.body { $0["speed"] = 4.5 }, Self.key, 400, "speed", "decimal_above_max_value"),
            (Self.body(model: "tts-1-hd") { $0["instructions"] = "Speak warmly." }, Self.key, 400, "instructions", "unsupported_value"),
        ]
        // 4096 characters of speech are minutes long: keep them short here.
        try await FakeOpenAISpeechServer.run(Self.configuration { $0.secondsPerCharacter = .microseconds(50) }) { fake in
            try await withHTTPClient { client in
                for (body, key, status, param, code) in cases {
                    let answer = try await Self.post(fake, client, body, key: key)
                    #expect(answer.status == status, "\(body.prefix(80))")
                    let error = try #require(answer.error, "\(body.prefix(80))")
                    #expect(error["type"] == "invalid_request_error")
                    #expect(error["message"]?.stringValue?.isEmpty == false)
                    #expect(error["param"] == (param.map { .string($0) } ?? .null), "\(body.prefix(80))")
                    #expect(error["code"] == (code.map { .string($0) } ?? .null), "\(body.prefix(80))")
                    #expect(answer.headers["x-ratelimit-remaining-requests"].count == 1)
                }
                let tooLong = try await Self.post(fake, client, Self.body(input: long))
                #expect(tooLong.error?["message"]?.stringValue?.contains("string_too_long") == true)
                // 4096 characters (code points) are fine; so is a custom voice object.
                let longest = try await Self.post(fake, client, Self.body(input: String(long.dropLast()), voice: ["id": "voice_1234"]))
                #expect(longest.status == 200)
                #expect(fake.requests.filter { !$0.authorized }.count == 2)
                #expect(!"\(fake.requests)".contains(Self.key))
                let unknownPath = try await Self.post(fake, client, path: "/audio/voices")
                #expect(unknownPath.status == 404)
            }
        }
    }

    @Test("Kokoro's refusals: 400 detail objects for a voice or model, FastAPI's 422 list for a body that does not validate")
    func kokoroErrors() async throws {
        var configuration = FakeOpenAISpeechServer.Configuration(errorShape: .kokoro)
        configuration.voices = ["af_heart", "af_bella"]
        configuration.models = ["kokoro", "tts-1"]
        configuration.secondsPerCharacter = .microseconds(50)
        try await FakeOpenAISpeechServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let voice = try await Self.post(fake, client, Self.body(voice: "x", model: "kokoro"), key: nil)
                #expect(voice.status == 400)
                #expect(voice.json?["detail"]?["error"] == "validation_error")
                #expect(voice.json?["detail"]?["message"] == "Voice 'x' not found. Available voices: af_bella, af_heart")
                let model = try await Self.post(fake, client, Self.body(voice: "af_heart", model: "gpt-4o-mini-tts"), key: nil)
                #expect(model.status == 400)
                #expect(model.json?["detail"]?["error"] == "invalid_model")
                let missing = try await Self.post(fake, client, Self.body { $0["input"] = nil }, key: nil)
                #expect(missing.status == 422)
                let problem = try #require(missing.json?["detail"]?.arrayValue?.first)
                #expect(problem["type"] == "missing")
                #expect(problem["loc"] == ["body", "input"])
                let format = try await Self.post(fake, client, Self.body(voice: "af_heart", model: "kokoro", format: "ogg"), key: nil)
                #expect(format.status == 422)
                #expect(format.json?["detail"]?.arrayValue?.first?["type"] == "literal_error")
                // model and voice have defaults, and there is no length limit.
                let defaults = try await Self.post(
                    fake, client, #"{"input":"\#(String(repeating: "a", count: 4100))","response_format":"pcm"}"#, key: nil)
                #expect(defaults.status == 200)
            }
        }
        var faulty = FakeOpenAISpeechServer.Configuration(errorShape: .kokoro)
        faulty.faults = [.status(500)]
        try await FakeOpenAISpeechServer.run(faulty) { fake in
            try await withHTTPClient { client in
                let answer = try await Self.post(fake, client, key: nil)
                #expect(answer.status == 500)
                #expect(answer.json?["detail"]?["error"] == "processing_error")
            }
        }
    }

    @Test("scripted faults in arrival order: 429 with retry-after headers, 503, then normal service")
    func statusFaults() async throws {
        let configuration = Self.configuration { $0.faults = [.status(429, retryAfter: "2", retryAfterMilliseconds: "1500"), .status(503)] }
        try await FakeOpenAISpeechServer.run(configuration) { fake in
            try await withHTTPClient { client in
                // A refused body takes no fault.
                #expect(try await Self.post(fake, client, Self.body(voice: "bob")).status == 400)
                let limited = try await Self.post(fake, client)
                #expect(limited.status == 429)
                #expect(limited.headers["retry-after"] == ["2"])
                #expect(limited.headers["retry-after-ms"] == ["1500"])
                #expect(limited.headers["x-ratelimit-reset-requests"].count == 1)
                #expect(limited.error?["code"] == "rate_limit_exceeded")
                let unavailable = try await Self.post(fake, client)
                #expect(unavailable.status == 503)
                #expect(unavailable.error?["type"] == "internal_server_error")
                let served = try await Self.post(fake, client)
                #expect(served.status == 200)
                #expect(PCM.samples(fromLittleEndian: served.bytes) == fake.speech(for: "Hello there.", request: 3))
            }
        }
    }

    @Test("dropAfter: HTTP 200, exactly that many bytes, then the connection resets without ending the body")
    func dropAfter() async throws {
        try await FakeOpenAISpeechServer.run(Self.configuration { $0.faults = [.dropAfter(bytes: 1001 + 333 + 5)] }) { fake in
            try await withHTTPClient { client in
                let answer = try await Self.post(fake, client)
                #expect(answer.status == 200)
                #expect(answer.bodyError != nil)
                #expect(answer.bytes.count == 1339)
                #expect(fake.completedStreams == 0)
                #expect(fake.abandonedStreams == 0)
            }
        }
    }

    @Test("stall: no response head, so only the client's deadline ends the request; slowHead: the head comes late")
    func stallAndSlowHead() async throws {
        let configuration = Self.configuration { $0.faults = [.stall, .slowHead(.milliseconds(300))] }
        try await FakeOpenAISpeechServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let started = ContinuousClock.now
                await #expect(throws: HTTPClientError.deadlineExceeded) {
                    _ = try await Self.post(fake, client, timeout: .milliseconds(300))
                }
                #expect(started.duration(to: .now) < .seconds(3))
                let slow = try await Self.post(fake, client)
                #expect(slow.status == 200)
                #expect(slow.headAfter >= .milliseconds(300))
                #expect(slow.bytes.count == 2 * 12 * 1440)
            }
        }
    }

    @Test("the client closing the connection mid-stream stops the audio and is counted")
    func clientDisconnect() async throws {
        let configuration = Self.configuration { $0.chunkDelay = .milliseconds(20) }
        try await FakeOpenAISpeechServer.run(configuration) { fake in
            try await withHTTPClient { client in
                let received = Counter()
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var request = HTTPClientRequest(url: fake.baseURL + "/audio/speech")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer \(Self.key)")
                        request.body = .bytes(ByteBuffer(string: Self.body(input: String(repeating: "Long speech. ", count: 20))))
                        guard let response = try? await client.execute(request, timeout: .seconds(5)) else { return }
                        do {
                            for try await _ in response.body { received.add() }
                        } catch {}
                    }
                    while received.value < 3 { try? await Task.sleep(for: .milliseconds(5)) }
                    group.cancelAll()
                }
                let deadline = ContinuousClock.now + .seconds(3)
                while fake.abandonedStreams == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                #expect(fake.abandonedStreams == 1)
                #expect(fake.completedStreams == 0)
            }
        }
    }

    @Test("random faults: refuse answers a 5xx envelope, drop cuts the audio short, each counted")
    func randomFaults() async throws {
        for kind in [FakeRandomFaults.Kind.refuse, .drop] {
            let configuration = Self.configuration { $0.randomFaults = FakeRandomFaults(seed: 7, probabilities: [kind: 1]) }
            try await FakeOpenAISpeechServer.run(configuration) { fake in
                try await withHTTPClient { client in
                    let answer = try await Self.post(fake, client)
                    switch kind {
                    case .refuse:
                        #expect([500, 502, 503].contains(answer.status))
                        #expect(answer.error?["type"] == "internal_server_error")
                    default:
                        #expect(answer.status == 200)
                        #expect(answer.bodyError != nil)
                        #expect(answer.bytes.count < 2 * 12 * 1440)
                    }
                    #expect(fake.randomFaultCounts == [kind: 1])
                }
            }
        }
    }
}
