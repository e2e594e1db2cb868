import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ParleyCore
import ParleyServer
import ParleyTesting
import Synchronization
import Testing

@testable import ParleyProviders

@Suite("Prometheus metrics at /metrics")
struct MetricsTests {
    /// Answers the first request and fails every later one, as an overloaded LLM would.
    struct FlakyLanguageModel: LanguageModel {
        final class Calls: Sendable {
            let count = Mutex(0)
        }
        let calls = Calls()
        var name: String { "flaky-llm" }

        func complete(_ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void) async throws -> [ToolCall] {
            let call = calls.count.withLock { count in
                count += 1
                return count
            }
            guard call == 1 else {
                throw ProviderError(provider: "flaky-llm", kind: .rejected, message: "HTTP 500: overloaded", status: 500)
            }
            try await onText("Hi! Nice to hear you.")
            return []
        }
    }

    static let authToken = "twilio-secret-token-0123456789"

    static func application(providers: SessionProviders, health: HealthMonitor? = nil) -> some ApplicationProtocol {
        buildApplication(
            configuration: ServerConfiguration(port: 0, webRoot: nil, maximumSessions: 4, twilioAuthToken: Self.authToken),
            providers: providers, health: health ?? HealthMonitor(providers: providers), logger: Logger(label: "parley.test"))
    }

    static func isTurnEnd(_ turnID: Int) -> @Sendable ([SessionEvent]) -> Bool {
        { events in events.contains { if case .turnEnd(let summary) = $0 { summary.turnID == turnID } else { false } } }
    }

    @Test("after a full turn and an LLM failure, /metrics counts them, with stage samples and no transcripts or keys")
    func turnAndFailure() async throws {
        let providers = SessionProviders(
            speechToText: ScriptedSpeechToText(transcripts: ["Hello there.", "Again."]),
            languageModel: FlakyLanguageModel(),
            textToSpeech: ToneTextToSpeech(durationPerCharacter: .milliseconds(5)))
        try await Self.application(providers: providers).test(.live) { client in
            let port = try #require(client.port)
            let question = AudioFixtures.silence(.milliseconds(300)) + AudioFixtures.tone(frequency: 200, duration: .milliseconds(700))
            let events = try await RawSocket.converse(port: port) { outbound, received in
                let microphone = RealTimeMicrophone(outbound: outbound)
                try await microphone.say(question)
                let first = try await microphone.silence(upTo: .seconds(10), in: received, until: Self.isTurnEnd(1))
                try #require(first, "turn 1 never ended: \(received.events)")
                let open = try await scrape(client)
                #expect(open.value("parley_sessions_active") == 1)
                try await microphone.say(question)
                let second = try await microphone.silence(upTo: .seconds(10), in: received, until: Self.isTurnEnd(2))
                try #require(second, "turn 2 never ended: \(received.events)")
            }
            #expect(events.contains { if case .error(let error) = $0 { error.code == .llmFailed } else { false } })

            // The slot is given back once the handler has wound down after the close.
            var metrics = try await scrape(client)
            for _ in 0..<100 where metrics.value("parley_sessions_active") != 0 {
                try await Task.sleep(for: .milliseconds(20))
                metrics = try await scrape(client)
            }
            #expect(metrics.contentType == "text/plain; version=0.0.4; charset=utf-8")
            #expect(metrics.value("parley_sessions_active") == 0)
            #expect(metrics.value("parley_sessions_total") == 1)
            #expect(metrics.value("parley_turns_total") == 2)
            #expect(metrics.value("parley_interruptions_total") == 0)
            #expect(metrics.value(#"parley_provider_errors_total{provider="flaky-llm",stage="llm"}"#) == 1)
            #expect(metrics.value(#"parley_provider_errors_total{provider="scripted-stt",stage="stt"}"#) == 0)
            for stage in ["vad_end", "stt_final", "llm_request"] {
                #expect(metrics.value(#"parley_turn_stage_seconds_count{stage="\#(stage)"}"#) == 2, "\(stage)")
            }
            for stage in ["llm_first_token", "first_sentence", "tts_first_audio", "first_audio_sent", "last_audio_sent"] {
                #expect(metrics.value(#"parley_turn_stage_seconds_count{stage="\#(stage)"}"#) == 1, "\(stage)")
            }
            #expect(metrics.value(#"parley_turn_stage_seconds_count{stage="interrupted"}"#) == 0)
            #expect(metrics.value(#"parley_turn_stage_seconds_bucket{stage="stt_final",le="+Inf"}"#) == 2)
            #expect((metrics.value(#"parley_turn_stage_seconds_sum{stage="first_audio_sent"}"#) ?? 0) > 0)
            #expect(metrics.value("parley_turn_overhead_seconds_count") == 1)
            #expect(metrics.text.contains("# TYPE parley_turn_stage_seconds histogram"))
            for segment in ["endpointing", "stt"] {
                #expect(metrics.value(#"parley_turn_segment_seconds_count{segment="\#(segment)"}"#) == 2, "\(segment)")
            }
            for segment in ["llm", "first_chunk", "tts", "send"] {
                #expect(metrics.value(#"parley_turn_segment_seconds_count{segment="\#(segment)"}"#) == 1, "\(segment)")
            }
            // This client reports no playback, so no turn has a voice-to-voice time.
            #expect(metrics.value(#"parley_turn_segment_seconds_count{segment="playback"}"#) == 0)
            #expect(metrics.value("parley_voice_to_voice_seconds_count") == 0)
            for secret in ["Hello there", "Again", "Nice to hear", "overloaded", Self.authToken] {
                #expect(!metrics.text.contains(secret), "\(secret)")
            }
        }
    }

    /// Judges every pause complete, with probability 0.9, after 10 ms.
    struct CertainTurnModel: TurnCompletionModel {
        var name: String { "certain-turn" }
        func probability(of audio: [Int16], sampleRate: Int) async throws -> Float {
            try await Task.sleep(for: .milliseconds(10))
            return 0.9
        }
    }

    @Test("a turn the end-of-turn model judged is counted by verdict, with the model's wait")
    func endOfTurnVerdicts() async throws {
        let providers = SessionProviders(
            speechToText: ScriptedSpeechToText(transcripts: ["Hello there."]), languageModel: FlakyLanguageModel(),
            textToSpeech: ToneTextToSpeech(durationPerCharacter: .milliseconds(5)))
        var configuration = ServerConfiguration(port: 0, webRoot: nil, maximumSessions: 4)
        configuration.session.endOfTurn = EndOfTurnConfiguration(model: CertainTurnModel())
        let application = buildApplication(
            configuration: configuration, providers: providers, health: HealthMonitor(providers: providers), logger: Logger(label: "parley.test"))
        try await application.test(.live) { client in
            let port = try #require(client.port)
            _ = try await RawSocket.converse(port: port) { outbound, received in
                let microphone = RealTimeMicrophone(outbound: outbound)
                try await microphone.say(AudioFixtures.silence(.milliseconds(300)) + AudioFixtures.tone(frequency: 200, duration: .milliseconds(700)))
                let ended = try await microphone.silence(upTo: .seconds(10), in: received, until: Self.isTurnEnd(1))
                try #require(ended, "turn 1 never ended: \(received.events)")
            }
            let metrics = try await scrape(client)
            #expect(metrics.value(#"parley_end_of_turn_verdicts_total{verdict="complete"}"#) == 1, "\(metrics.text)")
            #expect(metrics.value("parley_end_of_turn_wait_seconds_count") == 1)
            #expect((metrics.value("parley_end_of_turn_wait_seconds_sum") ?? 0) >= 0.01)
        }
    }

    @Test("a phone call over /twilio counts as a session, and its turn as a turn")
    func twilioCall() async throws {
        // A reply long enough (630 ms) for Twilio to echo a progress mark before it ends: playback
        // start is known when the turn ends.
        let providers = SessionProviders(
            speechToText: ScriptedSpeechToText(transcripts: ["What time is it?"]),
            languageModel: StreamingFakeLanguageModel(reply: "Hi! Nice to hear you.", tokenDelay: .milliseconds(5)),
            textToSpeech: ToneTextToSpeech(durationPerCharacter: .milliseconds(30)))
        try await Self.application(providers: providers).test(.live) { client in
            let port = try #require(client.port)
            // With TWILIO_AUTH_TOKEN set the upgrade must carry Twilio's signature of its wss:// URL.
            let signature = TwilioSignature.compute(authToken: Self.authToken, url: "wss://127.0.0.1:\(port)/twilio", parameters: [])
            try await FakeTwilioCall.run(port: port, headers: ["X-Twilio-Signature": signature]) { call in
                try await call.start()
                try await Task.sleep(for: .milliseconds(300))
                call.say(AudioFixtures.tone(frequency: 440, duration: .milliseconds(600), sampleRate: 8000))
                let answered = await call.wait { $0.echoedMarks.contains("reply-1") }
                #expect(answered)
                try await call.stop()
            }
            var metrics = try await scrape(client)
            for _ in 0..<100 where metrics.value("parley_turns_total") != 1 || metrics.value("parley_sessions_active") != 0 {
                try await Task.sleep(for: .milliseconds(20))
                metrics = try await scrape(client)
            }
            #expect(metrics.value("parley_sessions_total") == 1)
            #expect(metrics.value("parley_sessions_active") == 0)
            #expect(metrics.value("parley_turns_total") == 1)
            #expect(metrics.value(#"parley_turn_stage_seconds_count{stage="first_audio_sent"}"#) == 1)
            // Twilio's echoed marks say when playback started: the segments sum to voice to voice.
            #expect(metrics.value("parley_voice_to_voice_seconds_count") == 1)
            let total = try #require(metrics.value("parley_voice_to_voice_seconds_sum"))
            let segments = ["endpointing", "stt", "tools", "llm", "first_chunk", "tts", "send", "playback"].compactMap {
                metrics.value(#"parley_turn_segment_seconds_sum{segment="\#($0)"}"#)
            }
            #expect(segments.count == 8)
            #expect(abs(segments.reduce(0, +) - total) < 1e-6, "\(segments) vs \(total)")
            #expect(total > 0.3, "at least the VAD's 300 ms of silence")
        }
    }

    @Test("local-engine restarts are read from the engine's status when scraped")
    func engineRestarts() async throws {
        let providers = fakeProviders()
        let whisper = EngineStatus()
        whisper.update { $0.ready = true }
        let health = HealthMonitor(stages: [
            .init(stage: "stt", provider: "local-whisper", status: whisper),
            .init(stage: "llm", provider: "fake-llm"), .init(stage: "tts", provider: "tone-tts"),
        ])
        try await Self.application(providers: providers, health: health).test(.router) { client in
            let series = #"parley_engine_restarts_total{engine="local-whisper"}"#
            let before = try await scrape(client).value(series)
            whisper.update { $0.restarts = 2 }
            let restarted = try await scrape(client).value(series)
            // A second scrape adds nothing new.
            let again = try await scrape(client).value(series)
            whisper.update { $0.restarts = 3 }
            let later = try await scrape(client).value(series)
            #expect([before, restarted, again, later] == [0, 2, 2, 3])
        }
    }
}
