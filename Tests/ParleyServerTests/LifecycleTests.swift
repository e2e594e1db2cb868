import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Synchronization
import Testing

@Suite("Liveness, readiness, admission at the handshake and the drain")
struct LifecycleTests {
    static let greeting = "Welcome to the drain test. This greeting lasts long enough to be talked over by a shutdown."

    /// An application with a long greeting (tone audio, 30 ms a character: about 2.8 s).
    func application(
        lifecycle: ServerLifecycle, origins: OriginPolicy = .sameOrigin, health: HealthMonitor? = nil
    ) -> some ApplicationProtocol {
        let providers = SessionProviders(
            speechToText: ScriptedSpeechToText(transcripts: ["Hello there."]),
            languageModel: StreamingFakeLanguageModel(reply: "Hi!", tokenDelay: .milliseconds(5)),
            textToSpeech: ToneTextToSpeech(durationPerCharacter: .milliseconds(30)))
        return buildApplication(
            configuration: ServerConfiguration(
                port: 0, webRoot: nil, session: SessionConfiguration(greeting: Self.greeting), maximumSessions: lifecycle.maximumSessions,
                origins: origins),
            providers: providers, health: health ?? HealthMonitor(providers: providers), lifecycle: lifecycle,
            logger: Logger(label: "parley.test"))
    }

    static func body(_ response: TestResponse) -> JSONValue? {
        JSONValue.parse(String(buffer: response.body))
    }

    @Test("/health/live answers 200; /health/ready 200 with sessions and max_sessions")
    func liveAndReady() async throws {
        let app = application(lifecycle: ServerLifecycle(maximumSessions: 7))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health/live", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.body(response)?["status"] == "live")
            }
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
                let body = Self.body(response)
                #expect(body?["status"] == "ready")
                #expect(body?["sessions"] == 0)
                #expect(body?["max_sessions"] == 7)
            }
        }
    }

    @Test("while an engine starts, /health/ready is 503 (starting) and the upgrade is refused with 503")
    func notReady() async throws {
        let health = HealthMonitor(stages: [
            .init(stage: "stt", provider: "local-whisper", status: EngineStatus()),
            .init(stage: "llm", provider: "fake-llm"), .init(stage: "tts", provider: "tone-tts"),
        ])
        let app = application(lifecycle: ServerLifecycle(maximumSessions: 4), health: health)
        try await app.test(.live) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.body(response)?["reason"] == "starting")
                #expect(Self.body(response)?["stages_not_ready"] == ["stt"])
            }
            #expect(try await RawSocket.handshakeStatus(port: try #require(client.port)) == 503)
            #expect(try await RawSocket.handshakeStatus(port: try #require(client.port), path: "/twilio") == 503)
        }
    }

    @Test("a session over --max-sessions is refused at the handshake with 503; readiness says full")
    func full() async throws {
        let lifecycle = ServerLifecycle(maximumSessions: 1)
        let app = application(lifecycle: lifecycle)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let result = try await RawSocket.conversation(port: port) { _, received in
                await received.wait { $0.contains { if case .agentAudioStart = $0 { true } else { false } } }
                #expect(lifecycle.activeSessions == 1)
                #expect(try await RawSocket.handshakeStatus(port: port) == 503)
                try await client.execute(uri: "/health/ready", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(Self.body(response)?["reason"] == "full")
                    #expect(Self.body(response)?["sessions"] == 1)
                }
            }
            #expect(result.events.first.map { if case .ready = $0 { true } else { false } } == true)
        }
    }

    @Test("with the origin list unset, same-origin pages and clients without Origin are admitted; others get 403")
    func sameOrigin() async throws {
        let app = application(lifecycle: ServerLifecycle(maximumSessions: 4))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            #expect(try await RawSocket.handshakeStatus(port: port, origin: "http://evil.example") == 403)
            #expect(try await RawSocket.handshakeStatus(port: port, origin: "null") == 403)
            for origin in [nil, "http://127.0.0.1:\(port)"] {
                let result = try await RawSocket.conversation(port: port, origin: origin) { _, received in
                    await received.wait { !$0.isEmpty }
                }
                #expect(result.events.first.map { if case .ready = $0 { true } else { false } } == true)
            }
        }
    }

    @Test("--allowed-origins admits the listed origins and refuses others with 403, also on /twilio")
    func allowList() async throws {
        let origins = try OriginPolicy(list: "https://app.example.com, http://127.0.0.1:5173")
        let app = application(lifecycle: ServerLifecycle(maximumSessions: 4), origins: origins)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            #expect(try await RawSocket.handshakeStatus(port: port, origin: "https://evil.example") == 403)
            #expect(try await RawSocket.handshakeStatus(port: port, origin: "http://127.0.0.1:\(port)") == 403)
            #expect(try await RawSocket.handshakeStatus(port: port, path: "/twilio", origin: "https://evil.example") == 403)
            for origin in ["https://app.example.com", "HTTPS://APP.EXAMPLE.COM:443", "http://127.0.0.1:5173", nil] {
                let result = try await RawSocket.conversation(port: port, origin: origin) { _, received in
                    await received.wait { !$0.isEmpty }
                }
                #expect(result.events.first.map { if case .ready = $0 { true } else { false } } == true, "origin \(origin ?? "none")")
            }
        }
    }

    @Test("draining: the reply in flight is heard out, then going_away and a 1001 close; readiness and new sockets get 503")
    func drain() async throws {
        let lifecycle = ServerLifecycle(maximumSessions: 4)
        let app = application(lifecycle: lifecycle)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let result = try await RawSocket.conversation(port: port) { outbound, received in
                let microphone = RealTimeMicrophone(outbound: outbound)
                _ = try await microphone.silence(upTo: .seconds(5), in: received) {
                    $0.contains { if case .agentAudioStart = $0 { true } else { false } }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await lifecycle.drain(timeout: .seconds(20), logger: Logger(label: "drain")) }
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(100))
                        #expect(lifecycle.isDraining)
                        try await client.execute(uri: "/health/ready", method: .get) { response in
                            #expect(response.status == .serviceUnavailable)
                            #expect(Self.body(response)?["reason"] == "draining")
                        }
                        #expect(try await RawSocket.handshakeStatus(port: port) == 503)
                        // Audio goes on: the client keeps talking to the session until it closes.
                        _ = try? await microphone.silence(upTo: .seconds(15), in: received) {
                            $0.contains { if case .error = $0 { true } else { false } }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let events = result.events
            let turnEnd = events.firstIndex { if case .turnEnd(let summary) = $0 { !summary.interrupted } else { false } }
            let goingAway = events.firstIndex { if case .error(let error) = $0 { error.code == .goingAway && error.fatal } else { false } }
            #expect(events.contains { if case .agentAudioEnd = $0 { true } else { false } })
            #expect(turnEnd != nil && goingAway != nil && turnEnd! < goingAway!)
            #expect(result.close?.closeCode == .goingAway)
            #expect(lifecycle.activeSessions == 0)
        }
    }

    @Test("a phone call drains the same way: the greeting plays out (its end mark), then a 1001 close")
    func twilioDrain() async throws {
        let lifecycle = ServerLifecycle(maximumSessions: 4)
        let app = application(lifecycle: lifecycle)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let close = try await FakeTwilioCall.run(port: port) { call in
                try await call.start()
                #expect(await call.wait { $0.receivedBytes > 1600 })
                await lifecycle.drain(timeout: .seconds(20), logger: Logger(label: "drain"))
                // Twilio echoes marks as it plays; the end mark itself is what Parley sent last. The
                // drain returns when the server side is done: the call may still be reading.
                #expect(await call.wait { $0.closed })
                #expect(call.snapshot.received.contains { $0.event == .mark("reply-0") }, "the greeting's end mark came before the close")
            }
            #expect(close?.closeCode == .goingAway)
            #expect(lifecycle.activeSessions == 0)
        }
    }

    @Test("the drain timeout closes a reply that runs longer, with going_away and 1001")
    func drainTimeout() async throws {
        let lifecycle = ServerLifecycle(maximumSessions: 4)
        let app = application(lifecycle: lifecycle)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let started = Mutex<ContinuousClock.Instant?>(nil)
            let result = try await RawSocket.conversation(port: port) { _, received in
                await received.wait { $0.contains { if case .agentAudioStart = $0 { true } else { false } } }
                started.withLock { $0 = .now }
                await lifecycle.drain(timeout: .milliseconds(300), logger: Logger(label: "drain"))
                await received.wait { $0.contains { if case .error = $0 { true } else { false } } }
            }
            let elapsed = ContinuousClock.now - (started.withLock { $0 } ?? .now)
            #expect(elapsed < .seconds(2), "the greeting lasts about 2.8 s; the drain cut it after 0.3 s")
            #expect(result.events.contains { if case .error(let error) = $0 { error.code == .goingAway } else { false } })
            #expect(result.close?.closeCode == .goingAway)
            #expect(lifecycle.activeSessions == 0)
        }
    }
}

@Suite("Origin policy")
struct OriginPolicyTests {
    @Test("entries are normalised: case, trailing slash and default ports")
    func normalised() throws {
        let policy = try OriginPolicy(list: "HTTPS://App.Example.com:443/ , http://localhost:80,http://127.0.0.1:5173")
        #expect(policy.allowed == ["https://app.example.com", "http://localhost", "http://127.0.0.1:5173"])
        #expect(policy.admits(origin: "https://app.example.com", host: "parley.example.com"))
        #expect(policy.admits(origin: "http://localhost:80", host: nil))
        #expect(!policy.admits(origin: "http://127.0.0.1:5174", host: "127.0.0.1:5174"))
    }

    @Test("bad entries are rejected with a message naming them")
    func invalid() {
        for entry in ["example.com", "ftp://example.com", "https://example.com/path", "https://", "https://user@example.com"] {
            #expect(throws: OriginPolicy.InvalidOrigin.self) { try OriginPolicy(list: entry) }
        }
        #expect(throws: OriginPolicy.InvalidOrigin.self) { try OriginPolicy(list: "https://ok.example, nope") }
    }

    @Test("unset: same origin by the Host header (default ports ignored), no Origin admitted; * admits all")
    func sameOriginAndWildcard() throws {
        let policy = try OriginPolicy(list: "  ")
        #expect(policy == .sameOrigin)
        #expect(policy.admits(origin: nil, host: "example.com"))
        #expect(policy.admits(origin: "https://example.com", host: "example.com"))
        #expect(policy.admits(origin: "https://example.com", host: "example.com:443"))
        #expect(policy.admits(origin: "http://127.0.0.1:8080", host: "127.0.0.1:8080"))
        #expect(!policy.admits(origin: "http://127.0.0.1:8081", host: "127.0.0.1:8080"))
        #expect(!policy.admits(origin: "https://example.com", host: nil))
        #expect(!policy.admits(origin: "null", host: "example.com"))
        #expect(try OriginPolicy(list: "*").admits(origin: "https://anything.example", host: nil))
    }

    @Test("a WebSocket library's ws:// origin counts as none; every browser origin sent must be admitted")
    func libraryOrigins() throws {
        let policy = try OriginPolicy(list: "https://app.example.com")
        #expect(policy.admits(origin: "ws://127.0.0.1", host: "127.0.0.1:8080"))
        #expect(policy.admits(origins: ["ws://127.0.0.1", "https://app.example.com"], host: nil))
        #expect(!policy.admits(origins: ["ws://127.0.0.1", "https://evil.example"], host: nil))
        #expect(!policy.admits(origins: ["https://app.example.com", "https://evil.example"], host: nil))
        #expect(!policy.admits(origin: "chrome-extension://abc", host: nil))
    }
}
