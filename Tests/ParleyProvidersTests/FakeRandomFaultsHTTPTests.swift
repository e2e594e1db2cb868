import AsyncHTTPClient
import Foundation
import NIOCore
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// Random faults ("chaos") of the fake OpenAI-compatible server, driven by a bare HTTP client so
/// that each fault's protocol behaviour is checked on the wire: the seeded draws, a 5xx with the
/// error envelope, a stream dropped mid-reply, a response head that never comes, and a late one.
@Suite("Fake providers' random faults over HTTP")
struct FakeRandomFaultsHTTPTests {
    /// A streamed chat request's status, the `data:` payloads read, and how the body ended.
    struct Answer {
        var status: Int
        var events: [String]
        var body: String
        var bodyError: (any Error)?
        var headAfter: Duration
    }

    static func chat(_ fake: FakeOpenAIServer.Running, _ client: HTTPClient, timeout: Duration = .seconds(5)) async throws -> Answer {
        var request = HTTPClientRequest(url: "\(fake.baseURL)/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"model":"m","stream":true,"messages":[{"role":"user","content":"Hi?"}]}"#))
        let sent = ContinuousClock.now
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout.milliseconds)))
        var answer = Answer(status: Int(response.status.code), events: [], body: "", headAfter: sent.duration(to: .now))
        do {
            for try await buffer in response.body { answer.body += String(buffer: buffer) }
        } catch {
            answer.bodyError = error
        }
        answer.events = answer.body.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        return answer
    }

    static func configuration(_ probabilities: [FakeRandomFaults.Kind: Double], seed: UInt64 = 7) -> FakeOpenAIServer.Configuration {
        var configuration = FakeOpenAIServer.Configuration()
        configuration.reply = { _ in "One two three four five six seven eight." }
        configuration.randomFaults = FakeRandomFaults(seed: seed, probabilities: probabilities)
        configuration.randomFaults?.slowDelay = .milliseconds(300)...(.milliseconds(300))
        return configuration
    }

    @Test("the same seed draws the same faults in the same order; the rate is about what was asked; scripted faults come first")
    func seededDraws() async throws {
        func statuses(seed: UInt64, scripted: [FakeOpenAIServer.Fault] = []) async throws -> ([Int], Int) {
            var configuration = Self.configuration([.refuse: 0.3], seed: seed)
            configuration.faults = scripted
            return try await FakeOpenAIServer.run(configuration) { fake in
                try await withHTTPClient { client in
                    var statuses: [Int] = []
                    for _ in 0..<200 { statuses.append(try await Self.chat(fake, client).status) }
                    return (statuses, fake.randomFaultCounts[.refuse] ?? 0)
                }
            }
        }
        let (first, refused) = try await statuses(seed: 7)
        let (again, _) = try await statuses(seed: 7)
        let (other, _) = try await statuses(seed: 8)
        #expect(first == again)
        #expect(first != other)
        let failures = first.filter { $0 >= 500 }
        #expect(failures.count == refused)
        #expect((30...90).contains(failures.count), "about 30 % of 200")
        #expect(Set(failures).isSubset(of: [500, 502, 503]))
        #expect(Set(first).isSubset(of: [200, 500, 502, 503]))
        let (scripted, _) = try await statuses(seed: 7, scripted: [.status(429)])
        #expect(scripted.first == 429)
        #expect(Array(scripted.dropFirst()) == Array(first.dropLast()), "a scripted fault draws nothing")
    }

    @Test("refuse: a 5xx with the OpenAI error envelope")
    func refuse() async throws {
        try await FakeOpenAIServer.run(Self.configuration([.refuse: 1])) { fake in
            try await withHTTPClient { client in
                let answer = try await Self.chat(fake, client)
                #expect([500, 502, 503].contains(answer.status))
                #expect(JSONValue.parse(answer.body)?["error"]?["type"]?.stringValue == "internal_server_error")
                #expect(fake.randomFaultCounts == [.refuse: 1])
            }
        }
    }

    @Test("drop: HTTP 200 and part of the stream, then the connection ends without [DONE]")
    func drop() async throws {
        try await FakeOpenAIServer.run(Self.configuration([.drop: 1])) { fake in
            try await withHTTPClient { client in
                for _ in 0..<5 {
                    let answer = try await Self.chat(fake, client)
                    #expect(answer.status == 200)
                    #expect(answer.bodyError != nil, "the chunked body is cut off")
                    #expect(!answer.events.contains("[DONE]"))
                    #expect(answer.events.count < 10, "the role chunk, at most 7 of 8 words")
                }
                // The fake counts a drop once its handler returns, which can be just after the client
                // saw the connection end.
                #expect(await poll(timeout: .seconds(5)) { fake.randomFaultCounts == [.drop: 5] }, "\(fake.randomFaultCounts)")
            }
        }
    }

    @Test("stall: no response head, so only the client's deadline ends the request; the fake lets go")
    func stall() async throws {
        try await FakeOpenAIServer.run(Self.configuration([.stall: 1])) { fake in
            try await withHTTPClient { client in
                let started = ContinuousClock.now
                await #expect(throws: HTTPClientError.deadlineExceeded) {
                    _ = try await Self.chat(fake, client, timeout: .milliseconds(300))
                }
                #expect(started.duration(to: .now) < .seconds(5))
                #expect(fake.randomFaultCounts == [.stall: 1])
            }
        }
    }

    @Test("slow: the response head comes after the drawn delay, then the whole reply")
    func slow() async throws {
        try await FakeOpenAIServer.run(Self.configuration([.slow: 1])) { fake in
            try await withHTTPClient { client in
                let answer = try await Self.chat(fake, client)
                #expect(answer.status == 200)
                #expect(answer.headAfter >= .milliseconds(300))
                #expect(answer.events.last == "[DONE]")
                #expect(fake.randomFaultCounts == [.slow: 1])
            }
        }
    }

    @Test("transcription: refuse answers a 5xx envelope, drop closes the connection before the answer")
    func transcription() async throws {
        let wav = WAVFile.encodePCM16(AudioFixtures.silence(.milliseconds(300)), sampleRate: 16000)
        var multipart = MultipartFormData()
        multipart.add(name: "model", value: "whisper")
        multipart.add(name: "file", filename: "a.wav", contentType: "audio/wav", data: wav)
        let form = multipart
        for (kind, expectation) in [(FakeRandomFaults.Kind.refuse, "status"), (.drop, "dropped")] {
            try await FakeOpenAIServer.run(Self.configuration([kind: 1])) { fake in
                try await withHTTPClient { client in
                    var request = HTTPClientRequest(url: "\(fake.baseURL)/audio/transcriptions")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: form.contentType)
                    request.body = .bytes(ByteBuffer(bytes: form.encoded()))
                    do {
                        let response = try await client.execute(request, timeout: .seconds(5))
                        #expect(expectation == "status" && response.status.code >= 500)
                    } catch {
                        #expect(expectation == "dropped", "\(error)")
                    }
                    #expect(fake.randomFaultCounts == [kind: 1])
                }
            }
        }
    }
}
