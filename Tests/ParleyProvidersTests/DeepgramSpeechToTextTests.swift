import ParleyCore
import ParleyProviders
import ParleyTesting
import Testing

@Suite("Deepgram live STT client against the fake Deepgram")
struct DeepgramSpeechToTextTests {
    typealias Support = DeepgramTestSupport

    /// One utterance: speech then enough silence for endpointing and UtteranceEnd.
    static let utterance = Support.speech(.milliseconds(800)) + Support.silence(.milliseconds(1400))

    @Test("connects with the documented query, Token auth and the session's tag, and records the healthy connection")
    func handshake() async throws {
        try await FakeDeepgramServer.run(.init(apiKey: Support.key)) { fake in
            let health = ConnectionHealth()
            let client = Support.client(fake, health: health) { $0.keyterms = ["Parley", "voice agent"] }
            let outcome = await ProviderContext.$sessionID.withValue("session-42") {
                await Support.transcribe(client) { _ in }
            }
            #expect(outcome.error == nil)
            let record = try #require(fake.connections.first)
            #expect(record.path == "/v1/listen")
            #expect(record.authScheme == "Token")
            #expect(record.authorized)
            let expected = [
                ("model", "nova-3"), ("language", "en-US"), ("encoding", "linear16"), ("sample_rate", "16000"), ("channels", "1"),
                ("interim_results", "true"), ("endpointing", "300"), ("utterance_end_ms", "1000"), ("vad_events", "true"),
                ("smart_format", "true"), ("no_delay", "true"), ("keyterm", "Parley"), ("keyterm", "voice agent"), ("tag", "session-42"),
            ]
            #expect(record.query.map(\.0) == expected.map(\.0))
            #expect(record.query.map(\.1) == expected.map(\.1))
            let snapshot = health.snapshot
            #expect(snapshot.lastSucceeded == true && snapshot.attempts == 1 && snapshot.failures == 0 && snapshot.lastError == nil)
        }
    }

    @Test("SpeechStarted, interims as partials, and the speech_final final that ends the turn")
    func interimsAndFinal() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["What is the weather like?"])
        try await FakeDeepgramServer.run(configuration) { fake in
            let outcome = await Support.transcribe(Support.client(fake)) { input in
                try await Support.yield(Support.frames(Self.utterance), to: input)
            }
            #expect(outcome.error == nil)
            #expect(outcome.events.first == .speechStarted)
            #expect(Support.partials(outcome.events) == ["What", "What is", "What is the"])
            #expect(outcome.events.last == .final("What is the weather like?", endsTurn: true))
            // UtteranceEnd came after speech_final had ended the turn, and was ignored.
            #expect(fake.connections.first?.sentTypes.contains("UtteranceEnd") == true)
            #expect(outcome.events.filter { $0 == .final("", endsTurn: true) }.isEmpty)
        }
    }

    @Test("several finals per utterance arrive in order and only the last ends the turn")
    func severalFinals() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["One two three. Four five six."])
        configuration.finalsPerUtterance = 3
        try await FakeDeepgramServer.run(configuration) { fake in
            let outcome = await Support.transcribe(Support.client(fake)) { input in
                try await Support.yield(Support.frames(Self.utterance), to: input)
            }
            let finals = Support.finals(outcome.events)
            #expect(finals == [.final("One two", endsTurn: false), .final("three. Four", endsTurn: false), .final("five six.", endsTurn: true)])
        }
    }

    /// Sends `duration` of speech with no silence after it, then Parley's end of speech (its VAD
    /// ending the turn before Deepgram's endpointing could); returns once a final arrived.
    static func speakThenEndSpeech(
        _ duration: Duration, to fake: FakeDeepgramServer.Running
    ) async -> (events: [TranscriptEvent], error: (any Error)?) {
        let recorder = Support.Recorder()
        return await Support.transcribe(Support.client(fake), recorder: recorder) { input in
            input.yield(.speechStarted)
            try await Support.yield(Support.frames(Support.speech(duration)), to: input)
            let heard = await recorder.wait { !Support.partials($0).isEmpty }
            try #require(heard)
            input.yield(.speechEnded)
            let finalized = await recorder.wait { !Support.finals($0).isEmpty }
            try #require(finalized)
        }
    }

    @Test("Parley's end of speech sends Finalize, and the from_finalize result ends the turn")
    func finalizeOnSpeechEnded() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Stop right there."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let outcome = await Self.speakThenEndSpeech(.milliseconds(800), to: fake)
            #expect(outcome.error == nil)
            #expect(outcome.events.last == .final("Stop right there.", endsTurn: true))
            let record = try #require(fake.connections.first)
            #expect(record.controlTypes == ["Finalize", "CloseStream"])
            let final = record.sent.compactMap(JSONValue.parse).first { $0["is_final"]?.boolValue == true }
            #expect(final?["from_finalize"]?.boolValue == true)
            #expect(final?["speech_final"]?.boolValue == false)
        }
    }

    @Test("without speech, audio goes out in 200 ms messages; the start of speech flushes them, then 40 ms messages")
    func quietAudioInLargerMessages() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Stop right there."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let recorder = Support.Recorder()
            let outcome = await Support.transcribe(Support.client(fake), recorder: recorder) { input in
                try await Support.yield(Support.frames(Support.silence(.milliseconds(1010))), to: input)
                // The 10 ms past the last whole 200 ms are held until speech starts.
                input.yield(.speechStarted)
                try await Support.yield(Support.frames(Support.speech(.milliseconds(800))), to: input)
                let heard = await recorder.wait { !Support.partials($0).isEmpty }
                try #require(heard)
                input.yield(.speechEnded)
                let finalized = await recorder.wait { !Support.finals($0).isEmpty }
                try #require(finalized)
            }
            #expect(outcome.error == nil)
            let record = try #require(fake.connections.first)
            let sizes = record.audioFrames.map(\.bytes)
            let silenceBytes = 16 * 1010 * 2
            let speechBytes = 16 * 800 * 2
            #expect(sizes.reduce(0, +) == silenceBytes + speechBytes)
            // The silence: 200 ms messages (6400 bytes), a tick on a loaded machine may flush one
            // early; the onset's flush carries the rest. Then the speech, 40 ms at most.
            // The onset's flush ends a message exactly where the silence ends.
            var sent = 0
            let onset = try #require(
                sizes.firstIndex { size in
                    sent += size
                    return sent == silenceBytes
                }, "\(sizes)")
            let quiet = sizes[...onset]
            let fullQuiet = quiet.filter { $0 == 6400 }.count
            #expect(quiet.allSatisfy { $0 <= 6400 } && fullQuiet >= 3, "\(sizes)")
            let speech = sizes[(onset + 1)...]
            #expect(speech.allSatisfy { $0 <= 1280 }, "\(sizes)")
        }
    }

    @Test("20 ms frames go out in 40 ms messages, and the half message held back is sent before Finalize")
    func batchedAudio() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Stop right there."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let outcome = await Self.speakThenEndSpeech(.milliseconds(820), to: fake)
            #expect(outcome.error == nil)
            let record = try #require(fake.connections.first)
            // 41 frames of 640 bytes: 20 messages of two, then the odd one flushed by the end of
            // speech. On a loaded machine the 250 ms tick may flush a lone frame between two, so
            // a few more single frames are allowed; never a bigger message, never a byte lost.
            let sizes = record.audioFrames.map(\.bytes)
            #expect(sizes.reduce(0, +) == 41 * 640)
            #expect(sizes.allSatisfy { $0 == 1280 || $0 == 640 })
            #expect(sizes.filter { $0 == 1280 }.count >= 17, "\(sizes)")
            #expect(sizes.last == 640)
            let finalize = try #require(record.textMessages.first { JSONValue.parse($0.text)?["type"] == "Finalize" })
            #expect(record.audioFrames.allSatisfy { $0.at <= finalize.at })
        }
    }

    @Test("no Finalize when Deepgram already ended the turn")
    func noFinalizeWhenEnded() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Already done."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let recorder = Support.Recorder()
            _ = await Support.transcribe(Support.client(fake), recorder: recorder) { input in
                try await Support.yield(Support.frames(Self.utterance), to: input)
                let ended = await recorder.wait { $0.contains(.final("Already done.", endsTurn: true)) }
                try #require(ended)
                input.yield(.speechEnded)
            }
            #expect(fake.connections.first?.controlTypes == ["CloseStream"])
        }
    }

    @Test("UtteranceEnd ends the turn when speech_final never comes")
    func utteranceEndFallback() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Noisy room here."])
        configuration.speechFinal = false
        try await FakeDeepgramServer.run(configuration) { fake in
            let outcome = await Support.transcribe(Support.client(fake)) { input in
                try await Support.yield(Support.frames(Self.utterance), to: input)
            }
            let finals = Support.finals(outcome.events)
            #expect(finals == [.final("Noisy room here.", endsTurn: false), .final("", endsTurn: true)])
            #expect(fake.connections.first?.sentTypes.contains("UtteranceEnd") == true)
        }
    }

    @Test("unknown message types, extra fields, empty finals and a malformed message are ignored")
    func robustToChaos() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["First thing.", "Second thing."])
        configuration.chaos = true
        configuration.emptyFinalsEvery = .milliseconds(400)
        configuration.faults = [.malformedAfterResults(2)]
        try await FakeDeepgramServer.run(configuration) { fake in
            let audio = Support.silence(.seconds(1)) + Self.utterance + Self.utterance
            let outcome = await Support.transcribe(Support.client(fake)) { input in
                try await Support.yield(Support.frames(audio), to: input)
            }
            #expect(outcome.error == nil)
            let finals = Support.finals(outcome.events)
            #expect(finals == [.final("First thing.", endsTurn: true), .final("Second thing.", endsTurn: true)])
            let sent = try #require(fake.connections.first?.sentTypes)
            #expect(sent.contains("Weird") && sent.contains("?"))
            #expect(fake.connections.count == 1)
        }
    }

    @Test("an Error message from Deepgram is logged as a warning and the stream goes on")
    func errorMessage() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Still here."])
        let error = #"{"type":"Error","variant":"ProcessingError","description":"Transient hiccup.","message":""}"#
        configuration.faults = [.sendAfterResults(1, text: error)]
        try await FakeDeepgramServer.run(configuration) { fake in
            let logs = Support.CapturingLogHandler.Store()
            let client = Support.client(fake) { $0.logger = Support.capturingLogger(logs) }
            let outcome = await Support.transcribe(client) { input in
                try await Support.yield(Support.frames(Self.utterance), to: input)
            }
            #expect(outcome.error == nil)
            #expect(Support.finals(outcome.events) == [.final("Still here.", endsTurn: true)])
            #expect(fake.connections.first?.sentTypes.contains("Error") == true)
            let warnings = logs.entries.filter { $0.level == .warning }.map(\.text)
            #expect(warnings.count == 1)
            #expect(warnings.first?.contains("ProcessingError: Transient hiccup.") == true)
            #expect(!logs.entries.contains { $0.text.contains(Support.key) })
        }
    }

    @Test("KeepAlive goes out while no audio flows, never while it flows, and keeps an idle-strict server open")
    func keepAlive() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        // Wall time on purpose (the manual-clock test below pins the exact schedule): a pause of
        // 2.6 s against a 2 s idle timeout, so the KeepAlives are what hold the connection open,
        // with room for a loaded machine's late wake-ups (a 1 s timeout fired once in about ten
        // runs of the parallel suite: the client's tasks stalled that long).
        configuration.idleTimeout = .seconds(2)
        let interval = Duration.milliseconds(150)
        try await FakeDeepgramServer.run(configuration) { fake in
            let client = Support.client(fake) {
                $0.keepAliveInterval = interval
                $0.quietMessageDuration = .milliseconds(40)
            }
            let outcome = await Support.transcribe(client) { input in
                try await Support.yield(Support.frames(Support.silence(.milliseconds(600))), to: input, pace: .milliseconds(20))
                try await Task.sleep(for: .milliseconds(2600))
                try await Support.yield(Support.frames(Support.silence(.milliseconds(200))), to: input, pace: .milliseconds(20))
            }
            #expect(outcome.error == nil)
            let record = try #require(fake.connections.first)
            #expect(fake.connections.count == 1)
            #expect(record.serverClose?.code == 1000)
            let keepAlives = record.textMessages.filter { JSONValue.parse($0.text)?["type"] == "KeepAlive" }.map(\.at)
            let audio = record.audioFrames.map(\.at)
            // In the 2.6 s pause, one every 150 ms or so. The pause starts when the last 20 ms
            // held back is sent: at the first tick after the input stopped, which the ticker (looking
            // every 150 ms while audio flows) may take up to 190 ms to send.
            let pause = zip(audio, audio.dropFirst()).map { $1 - $0 }.max() ?? .zero
            #expect(pause >= .milliseconds(2350))
            #expect(keepAlives.count >= 3 && Double(keepAlives.count) <= pause / interval + 1, "\(keepAlives.count) KeepAlives in \(pause)")
            // Each follows a stretch without audio (half an interval allows for delivery jitter;
            // audio frames are 20 ms apart).
            let duringAudio = keepAlives.filter { keepAlive in
                audio.last { $0 <= keepAlive }.map { keepAlive - $0 < interval * 0.5 } ?? false
            }
            #expect(duringAudio.isEmpty, "\(duringAudio.count) KeepAlives while audio flowed")
        }
    }

    @Test("on a manual clock: no KeepAlive before the interval passes without audio, exactly one as it passes")
    func keepAliveOnManualClock() async throws {
        let manual = ManualClock()
        try await FakeDeepgramServer.run(FakeDeepgramServer.Configuration(apiKey: Support.key)) { fake in
            let client = Support.client(fake) {
                $0.clock = SessionClock(manual)
                // Silence in 40 ms messages, as within speech, so the audio goes out before the clock moves.
                $0.quietMessageDuration = .milliseconds(40)
            }
            @Sendable func keepAlives() -> Int {
                fake.connections.first?.textMessages.filter { JSONValue.parse($0.text)?["type"] == "KeepAlive" }.count ?? 0
            }
            let outcome = await Support.transcribe(client) { input in
                try await Support.yield(Support.frames(Support.silence(.milliseconds(100))), to: input)
                // Connected and its audio sent (two 40 ms messages; the last 20 ms is held back for
                // the next): the ticks (every 250 ms for the 4 s interval) wait on the clock.
                while fake.connections.first?.audioBytes ?? 0 < 2560 { try await Task.sleep(for: .milliseconds(2)) }
                #expect(await manual.waitForSleepers())
                // The ticker saw input arrive at its first look (250 ms), so it looks again 1 s later:
                // that tick, without input since, sends the held-back audio. The interval counts from then.
                await manual.advance(by: .milliseconds(1250), step: .milliseconds(250))
                let flushDeadline = ContinuousClock.now + .seconds(30)
                while fake.connections.first?.audioBytes ?? 0 < 3200, ContinuousClock.now < flushDeadline {
                    try await Task.sleep(for: .milliseconds(2))
                }
                #expect(fake.connections.first?.audioBytes == 3200)
                await manual.advance(by: .milliseconds(3750), step: .milliseconds(250))
                try await Task.sleep(for: .milliseconds(50))
                #expect(keepAlives() == 0, "a KeepAlive before 4 s without audio")
                await manual.advance(by: .milliseconds(250), step: .milliseconds(250))
                // Generous: on a loaded 2-core CI machine the stream's task can lag seconds behind.
                let deadline = ContinuousClock.now + .seconds(30)
                while keepAlives() == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
                #expect(keepAlives() == 1)
            }
            #expect(outcome.error == nil)
        }
    }

    @Test("the end of input sends CloseStream; the results for the last speech still arrive, then Metadata, then a clean return")
    func closeStream() async throws {
        let configuration = FakeDeepgramServer.Configuration(apiKey: Support.key, utterances: ["Goodbye for now."])
        try await FakeDeepgramServer.run(configuration) { fake in
            let started = ContinuousClock.now
            let outcome = await Support.transcribe(Support.client(fake)) { input in
                try await Support.yield(Support.frames(Support.speech(.milliseconds(800))), to: input)
            }
            #expect(outcome.error == nil)
            #expect(ContinuousClock.now - started < .seconds(2))
            #expect(outcome.events.last == .final("Goodbye for now.", endsTurn: true))
            let record = try #require(fake.connections.first)
            #expect(record.controlTypes.last == "CloseStream")
            #expect(record.sentTypes.last == "Metadata")
            #expect(record.serverClose?.code == 1000)
            #expect(record.audioBytes == 800 * 32)
            #expect(record.audioFrames.allSatisfy { $0.bytes > 0 })
        }
    }

    @Test("a server that never answers CloseStream is left after the close timeout")
    func stalledClose() async throws {
        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.faults = [.stallResults]
        try await FakeDeepgramServer.run(configuration) { fake in
            let client = Support.client(fake) { $0.closeTimeout = .milliseconds(300) }
            let started = ContinuousClock.now
            let outcome = await Support.transcribe(client) { input in
                try await Support.yield(Support.frames(Self.utterance), to: input)
            }
            #expect(outcome.error == nil)
            #expect(outcome.events.isEmpty)
            #expect(ContinuousClock.now - started < .seconds(2))
            let ended = await fake.waitUntil { $0.connections.first?.ended != nil }
            #expect(ended)
        }
    }

    @Test("a refused key is a ProviderError naming Deepgram and HTTP 401, never the key, and health records it")
    func unauthorized() async throws {
        try await FakeDeepgramServer.run(.init(apiKey: "the-right-key")) { fake in
            let health = ConnectionHealth()
            let logs = Support.CapturingLogHandler.Store()
            let client = Support.client(fake, health: health) { $0.logger = Support.capturingLogger(logs) }
            let outcome = await Support.transcribe(client) { _ in }
            #expect(!logs.entries.contains { $0.text.contains(Support.key) })
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.provider == "deepgram")
            #expect(error.status == 401)
            #expect(error.kind == .rejected)
            #expect(error.message == "Deepgram refused the API key (HTTP 401) — check DEEPGRAM_API_KEY")
            #expect(!error.description.contains(Support.key))
            #expect(health.snapshot.lastSucceeded == false)
            #expect(health.snapshot.failures == 1)
            #expect(health.snapshot.lastError?.contains(Support.key) == false)
        }
    }

    @Test("invalid parameters are a ProviderError with HTTP 400 and Deepgram's reason")
    func badRequest() async throws {
        try await FakeDeepgramServer.run(.init(apiKey: Support.key)) { fake in
            let client = Support.client(fake) { $0.utteranceEnd = .milliseconds(500) }
            let outcome = await Support.transcribe(client) { _ in }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.status == 400)
            #expect(error.message.hasPrefix("Deepgram rejected the connection parameters (HTTP 400): "))
            #expect(error.message.contains("utterance_end_ms"))
            #expect(!error.description.contains(Support.key))
        }
    }

    @Test("an unreachable server or a handshake that never completes is a clear error naming the host")
    func unreachable() async throws {
        let port = try await FakeProviderServer().run { $0 }
        let client = DeepgramSpeechToText(apiKey: Support.key, baseURL: "http://127.0.0.1:\(port)")
        let refusedOutcome = await Support.transcribe(client) { _ in }
        let refused = try #require(refusedOutcome.error as? ProviderError)
        #expect(refused.kind == .unreachable)
        #expect(refused.message.hasPrefix("could not reach Deepgram at 127.0.0.1:\(port)"))
        #expect(!refused.description.contains(Support.key))

        var configuration = FakeDeepgramServer.Configuration(apiKey: Support.key)
        configuration.handshakeDelay = .seconds(1)
        try await FakeDeepgramServer.run(configuration) { fake in
            let client = Support.client(fake) { $0.connectTimeout = .milliseconds(200) }
            let started = ContinuousClock.now
            let outcome = await Support.transcribe(client) { _ in }
            let error = try #require(outcome.error as? ProviderError)
            #expect(error.kind == .timeout)
            #expect(error.message.contains("Deepgram at 127.0.0.1"))
            #expect(ContinuousClock.now - started < .seconds(2))
        }
    }
}
