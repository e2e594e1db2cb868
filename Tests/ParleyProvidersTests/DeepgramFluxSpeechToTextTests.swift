import Logging
import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

/// `DeepgramFluxSpeechToText` against the fake Flux server: the query, the turn events, the
/// eager end of turn, the end of input, keeping the stream alive, and failures.
@Suite("Deepgram Flux client")
struct DeepgramFluxSpeechToTextTests {
    typealias Support = DeepgramTestSupport

    static func client(
        _ fake: FakeDeepgramFluxServer.Running, key: String = Support.key, health: ConnectionHealth = ConnectionHealth(),
        configure: (inout DeepgramFluxSpeechToText) -> Void = { _ in }
    ) -> DeepgramFluxSpeechToText {
        var client = DeepgramFluxSpeechToText(
            apiKey: key, baseURL: fake.baseURL, connectTimeout: .seconds(5), closeTimeout: .seconds(3), health: health)
        configure(&client)
        return client
    }

    /// Speech, then silence long enough for the fake's end of turn.
    static func turn(_ speech: Duration = .milliseconds(1000), sampleRate: Int = 16000) -> [SpeechInput] {
        Support.frames(
            Support.speech(speech, sampleRate: sampleRate) + Support.silence(.milliseconds(900), sampleRate: sampleRate), sampleRate: sampleRate)
    }

    static func index(of wanted: TranscriptEvent, in events: [TranscriptEvent]) -> Int? {
        events.firstIndex(of: wanted)
    }

    @Test("connects to /v2/listen with Token auth, the model, the eager threshold and the session's tag")
    func handshake() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key)) { fake in
            let health = ConnectionHealth()
            let client = Self.client(fake, health: health) {
                $0.endOfTurnThreshold = 0.8
                $0.endOfTurnTimeout = .milliseconds(3000)
                $0.keyterms = ["Parley"]
            }
            let outcome = await ProviderContext.$sessionID.withValue("session-7") { await Support.transcribe(client) { _ in } }
            #expect(outcome.error == nil)
            let record = try #require(fake.connections.first)
            #expect(record.path == "/v2/listen")
            #expect(record.authorized)
            for (name, value) in [
                ("model", "flux-general-en"), ("encoding", "linear16"), ("sample_rate", "16000"), ("eot_threshold", "0.8"),
                ("eager_eot_threshold", "0.5"), ("eot_timeout_ms", "3000"), ("keyterm", "Parley"), ("tag", "session-7"),
            ] {
                #expect(record.queryValue(name) == value, "\(name)")
            }
            #expect(record.controlMessages == ["ForceEndTurn", "CloseStream"], "ForceEndTurn goes out even with no turn seen open")
            #expect(record.sent.contains { $0.event == "Warning" }, "Flux had no turn open: a warning, nothing else")
            #expect(health.snapshot.lastSucceeded == true)
        }
    }

    @Test("a turn: StartOfTurn, partials, the eager end that starts the LLM, then EndOfTurn with the same words")
    func eagerTurn() async throws {
        let configuration = FakeDeepgramFluxServer.Configuration(apiKey: Support.key, turns: ["What is the weather like?"])
        try await FakeDeepgramFluxServer.run(configuration) { fake in
            let outcome = await Support.transcribe(Self.client(fake)) { input in
                try await Support.yield(Self.turn(), to: input)
            }
            #expect(outcome.error == nil)
            let events = outcome.events
            #expect(events.first == .turnStarted)
            #expect(!Support.partials(events).isEmpty)
            let eager = try #require(Self.index(of: .likelyEndOfTurn("What is the weather like?"), in: events))
            let final = try #require(Self.index(of: .final("What is the weather like?", endsTurn: true), in: events))
            #expect(eager < final)
            #expect(Support.finals(events).count == 1)
            #expect(!events.contains(.turnResumed))
            #expect(!events[eager...].contains { if case .partial = $0 { true } else { false } }, "no news after the eager end")
        }
    }

    @Test("with eager end of turn off, only EndOfTurn: no likely end")
    func eagerOff() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key, turns: ["Hello there."])) { fake in
            let client = Self.client(fake) { $0.eagerEndOfTurnThreshold = nil }
            let outcome = await Support.transcribe(client) { input in try await Support.yield(Self.turn(), to: input) }
            #expect(outcome.error == nil)
            #expect(fake.connections.first?.queryValue("eager_eot_threshold") == nil)
            #expect(!outcome.events.contains { if case .likelyEndOfTurn = $0 { true } else { false } })
            #expect(Support.finals(outcome.events) == [.final("Hello there.", endsTurn: true)])
        }
    }

    @Test("speech after an eager end: TurnResumed takes it back, and the turn ends once with every word")
    func resumed() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key, turns: ["My number is five five five, one two one two."])) { fake in
            let outcome = await Support.transcribe(Self.client(fake)) { input in
                let audio =
                    Support.speech(.milliseconds(700)) + Support.silence(.milliseconds(320)) + Support.speech(.milliseconds(700))
                    + Support.silence(.milliseconds(900))
                try await Support.yield(Support.frames(audio), to: input)
            }
            #expect(outcome.error == nil)
            let events = outcome.events
            let eager = try #require(events.firstIndex { if case .likelyEndOfTurn = $0 { true } else { false } })
            let resumed = try #require(Self.index(of: .turnResumed, in: events))
            let final = try #require(Self.index(of: .final("My number is five five five, one two one two.", endsTurn: true), in: events))
            #expect(eager < resumed && resumed < final)
            #expect(Support.finals(events).count == 1)
        }
    }

    @Test("the end of input inside a turn sends ForceEndTurn before CloseStream, so the last words still end a turn")
    func endOfInputForcesTheTurn() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key, turns: ["Goodbye now."])) { fake in
            let outcome = await Support.transcribe(Self.client(fake)) { input in
                try await Support.yield(Support.frames(Support.speech(.milliseconds(800))), to: input)
                // The fake has opened the turn before the input ends.
                #expect(await fake.waitUntil { $0.connections.first?.sent.contains { $0.event == "StartOfTurn" } == true })
            }
            #expect(outcome.error == nil, "Flux's close without a status code after CloseStream is the normal end")
            let record = try #require(fake.connections.first)
            #expect(record.controlMessages == ["ForceEndTurn", "CloseStream"])
            #expect(Support.finals(outcome.events) == [.final("Goodbye now.", endsTurn: true)])
            #expect(record.sent.last { $0.event == "EndOfTurn" }?.trigger == "manual")
        }
    }

    @Test("phone calls: μ-law at 8 kHz in 80 ms messages")
    func mulaw() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key, turns: ["Hi."])) { fake in
            let client = Self.client(fake) {
                $0.encoding = .mulaw
                $0.sampleRate = 8000
            }
            let outcome = await Support.transcribe(client) { input in try await Support.yield(Self.turn(sampleRate: 8000), to: input) }
            #expect(outcome.error == nil)
            let record = try #require(fake.connections.first)
            #expect(record.queryValue("encoding") == "mulaw" && record.queryValue("sample_rate") == "8000")
            #expect(record.audioBytes == 8000 * 19 / 10, "1.9 s of audio, one byte a sample")
            #expect(Support.finals(outcome.events) == [.final("Hi.", endsTurn: true)])
        }
    }

    @Test("no KeepAlive text (it would close the stream): silence keeps an idle stream alive")
    func silenceKeepsAlive() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key)) { fake in
            let client = Self.client(fake) { $0.keepAliveInterval = .milliseconds(200) }
            // Idle for 1.5 s: on a loaded machine (the full parallel test run) the connection alone
            // took most of the 0.9 s this once waited, leaving time for a single silence message.
            let outcome = await Support.transcribe(client) { _ in try await Task.sleep(for: .milliseconds(1500)) }
            #expect(outcome.error == nil)
            let record = try #require(fake.connections.first)
            #expect(!record.controlMessages.contains("KeepAlive"))
            #expect(record.audioBytes >= 2 * 2560, "at least two 80 ms messages of silence, got \(record.audioBytes) bytes")
        }
    }

    @Test("a refused key is a ProviderError naming Deepgram and HTTP 401, never the key, and health records it")
    func refusedKey() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: "the-right-key")) { fake in
            let health = ConnectionHealth()
            let outcome = await Support.transcribe(Self.client(fake, key: Support.key, health: health)) { _ in }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.provider == "deepgram-flux")
            #expect(error.kind == .rejected && error.status == 401)
            #expect(error.message.contains("DEEPGRAM_API_KEY"))
            #expect(!"\(error)".contains(Support.key))
            #expect(health.snapshot.lastSucceeded == false)
        }
    }

    @Test("out-of-range thresholds are refused with HTTP 400 and Deepgram's reason")
    func badThreshold() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key)) { fake in
            let outcome = await Support.transcribe(Self.client(fake) { $0.eagerEndOfTurnThreshold = 0.95 }) { _ in }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.kind == .rejected && error.status == 400)
            #expect(error.message.contains("rejected the connection parameters"))
        }
    }

    @Test("an Error from Flux ends recognition with its code and description, the key redacted")
    func fluxError() async throws {
        var configuration = FakeDeepgramFluxServer.Configuration(apiKey: Support.key, turns: ["One.", "Two."])
        configuration.faults = [.errorAfterTurns(1, code: "INTERNAL_SERVER_ERROR", description: "the model went away from \(Support.key)")]
        try await FakeDeepgramFluxServer.run(configuration) { fake in
            let store = Support.CapturingLogHandler.Store()
            let outcome = await Support.transcribe(Self.client(fake) { $0.logger = Support.capturingLogger(store) }) { input in
                try await Support.yield(Self.turn() + Self.turn(), to: input)
                try await Task.sleep(for: .seconds(1))
            }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.provider == "deepgram-flux")
            #expect(error.message.contains("INTERNAL_SERVER_ERROR") && error.message.contains("the model went away from [redacted]"))
            #expect(!store.entries.contains { $0.text.contains(Support.key) })
            #expect(Support.finals(outcome.events).first == .final("One.", endsTurn: true))
        }
    }

    @Test("a turn left open with no events gets ForceEndTurn, then the stream is given up with a timeout")
    func stalledTurn() async throws {
        var configuration = FakeDeepgramFluxServer.Configuration(apiKey: Support.key)
        configuration.faults = [.stallAfterStartOfTurn]
        try await FakeDeepgramFluxServer.run(configuration) { fake in
            let client = Self.client(fake) { $0.turnWatchdog = .milliseconds(300) }
            let outcome = await Support.transcribe(client) { input in
                // Audio keeps flowing, in real time, while the fake says nothing.
                try await Support.yield(Self.turn() + Support.frames(Support.silence(.seconds(3))), to: input, pace: .milliseconds(10))
            }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.kind == .timeout)
            #expect(error.message.contains("even after ForceEndTurn"))
            #expect(fake.connections.first?.controlMessages.first == "ForceEndTurn")
        }
    }

    @Test("a dropped connection before the end of input is a stream-ended error")
    func dropped() async throws {
        var configuration = FakeDeepgramFluxServer.Configuration(apiKey: Support.key)
        configuration.faults = [.dropAfterBytes(16000)]
        try await FakeDeepgramFluxServer.run(configuration) { fake in
            let outcome = await Support.transcribe(Self.client(fake)) { input in
                try await Support.yield(Self.turn(.seconds(2)), to: input)
                try await Task.sleep(for: .seconds(2))
            }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.kind == .streamEnded)
            #expect(error.message.contains("Deepgram Flux"))
        }
    }

    @Test("cancelling the task closes the stream at once")
    func cancellation() async throws {
        try await FakeDeepgramFluxServer.run(.init(apiKey: Support.key)) { fake in
            let client = Self.client(fake)
            let task = Task {
                await Support.transcribe(client) { _ in try await Task.sleep(for: .seconds(30)) }
            }
            #expect(await fake.waitUntil { $0.connections.count == 1 })
            let start = ContinuousClock.now
            task.cancel()
            _ = await task.value
            #expect(ContinuousClock.now - start < .seconds(2))
        }
    }
}
