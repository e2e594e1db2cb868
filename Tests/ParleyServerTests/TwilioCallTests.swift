import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ParleyCore
import ParleyServer
import ParleyTesting
import Testing

@Suite("Phone calls over Twilio Media Streams")
struct TwilioCallTests {
    static let reply = "It is time for a long and detailed answer."

    static func providers() -> SessionProviders {
        SessionProviders(
            speechToText: ScriptedSpeechToText(transcripts: ["What time is it?", "Tell me a story."]),
            languageModel: StreamingFakeLanguageModel(reply: reply, firstTokenDelay: .milliseconds(10), tokenDelay: .milliseconds(5)),
            textToSpeech: ToneTextToSpeech(durationPerCharacter: .milliseconds(30)))
    }

    static func application(greeting: String? = nil) -> some ApplicationProtocol {
        let providers = providers()
        return buildApplication(
            configuration: ServerConfiguration(
                port: 0, webRoot: nil, session: SessionConfiguration(greeting: greeting), maximumSessions: 4),
            providers: providers, health: HealthMonitor(providers: providers), logger: Logger(label: "parley.test"))
    }

    /// Silence sent before the first words: the VAD learns its noise floor from the first frames.
    static let calibration: Duration = .milliseconds(300)

    /// 600 ms of voice at 8 kHz.
    static let question = AudioFixtures.tone(frequency: 440, duration: .milliseconds(600), sampleRate: 8000)

    static func isMedia(_ event: FakeTwilioCall.Received) -> Bool {
        if case .media = event { true } else { false }
    }

    @Test("a whole call: greeting, a question, the reply as μ-law media with its mark, a barge-in that clears it, stop")
    func wholeCall() async throws {
        try await Self.application(greeting: "Welcome to Parley.").test(.live) { client in
            let port = try #require(client.port)
            try await FakeTwilioCall.run(port: port) { call in
                try await call.start()
                let greeted = await call.wait { $0.echoedMarks.contains("reply-0") }
                #expect(greeted)
                #expect(call.snapshot.receivedBytes >= 18 * 30 * 8 - 160)

                call.say(Self.question)
                let spoken = await call.wait { $0.speechSentAt != nil }
                #expect(spoken)
                let spokenAt = try #require(call.snapshot.speechSentAt)
                let answered = await call.wait { $0.echoedMarks.contains("reply-1") }
                #expect(answered)
                let first = try #require(call.snapshot.received.first { $0.at > spokenAt && Self.isMedia($0.event) })
                let reply = call.snapshot.received(after: spokenAt)
                // Whole 160-byte frames (20 ms), one or a burst of them per message (the last frame
                // may be short), progress marks after each 200 ms, and the end mark last.
                let media = reply.compactMap { if case .media(let bytes) = $0 { bytes } else { nil } }
                let burst = 160 * AudioPacer(outputRate: 8000, batch: SessionConfiguration(systemPrompt: "").outputBatch).maximumBurst
                #expect(media.dropLast().allSatisfy { $0 % 160 == 0 && $0 <= burst }, "\(media)")
                #expect(media.last.map { $0 > 0 && $0 <= burst } == true)
                #expect(reply.last == .mark("reply-1"))
                #expect(reply.contains { if case .mark(let name) = $0 { name.hasPrefix("reply-1-") } else { false } })
                #expect(media.reduce(0, +) >= (Self.reply.count * 30 / 20 - 1) * 160)
                print("twilio voice-to-voice (end of caller audio → first agent media, fake providers): \((first.at - spokenAt).milliseconds) ms")

                // A second question, then talking over its reply.
                let before = ContinuousClock.now
                call.say(Self.question)
                let replying = await call.wait { snapshot in
                    guard let sent = snapshot.speechSentAt, sent > before else { return false }
                    return snapshot.received.contains { $0.at > sent && Self.isMedia($0.event) }
                }
                #expect(replying)
                try await Task.sleep(for: .milliseconds(300))
                let bargeIn = ContinuousClock.now
                call.say(AudioFixtures.tone(frequency: 300, duration: .milliseconds(800), sampleRate: 8000))
                let cleared = await call.wait { $0.received.contains { $0.event == .clear } }
                #expect(cleared)
                let clearedAt = try #require(call.snapshot.received.first { $0.event == .clear }?.at)
                print("twilio barge-in (caller starts talking → clear received): \((clearedAt - bargeIn).milliseconds) ms")
                try await Task.sleep(for: .milliseconds(800))
                let snapshot = call.snapshot
                #expect(snapshot.received(after: clearedAt).isEmpty)
                #expect(!snapshot.echoedMarks.contains("reply-2"))
                #expect(snapshot.problems.isEmpty)
                try await call.stop()
            }
        }
    }

    @Test("a false start over a reply clears Twilio at once; the reply resumes from its first unplayed sample")
    func falseStartResumes() async throws {
        try await Self.application().test(.live) { client in
            let port = try #require(client.port)
            try await FakeTwilioCall.run(port: port) { call in
                try await call.start()
                try await Task.sleep(for: Self.calibration)
                // The first answer, heard out: its length is what the second must add up to.
                call.say(Self.question)
                #expect(await call.wait { $0.playedAtMark["reply-1"] != nil })
                let whole = try #require(call.snapshot.playedAtMark["reply-1"])

                let before = ContinuousClock.now
                call.say(Self.question)
                #expect(
                    await call.wait { snapshot in
                        guard let sent = snapshot.speechSentAt, sent > before else { return false }
                        return snapshot.received.contains { $0.at > sent && Self.isMedia($0.event) }
                    })
                try await Task.sleep(for: .milliseconds(300))
                // A cough: long enough for the VAD (80 ms), too short to interrupt (200 ms), no words.
                let coughAt = ContinuousClock.now
                call.say(AudioFixtures.tone(frequency: 300, duration: .milliseconds(120), sampleRate: 8000))
                #expect(await call.wait { $0.received.contains { $0.event == .clear } })
                let clearedAt = try #require(call.snapshot.received.first { $0.event == .clear }?.at)
                print("twilio false start (caller starts → clear received): \((clearedAt - coughAt).milliseconds) ms")

                // Resumed: the rest of the reply, with the audio the clear dropped sent again.
                #expect(await call.wait { $0.playedAtMark["reply-2-end-1"] != nil })
                let snapshot = call.snapshot
                let heard = try #require(snapshot.playedAtMark["reply-2-end-1"]) - whole
                print("twilio false start: the reply played \(heard - whole) samples more than it has (a repeat, in ms: \((heard - whole) / 8))")
                #expect(heard >= whole - 16, "nothing skipped (2 ms for rounding)")
                #expect(heard <= whole + 1600, "at most 200 ms said twice")
                #expect(snapshot.received.filter { $0.event == .clear }.count == 1)
                #expect(snapshot.received(after: clearedAt).contains(where: Self.isMedia))
                #expect(!snapshot.echoedMarks.contains("reply-2"), "marks before the clear come back only as returned")
                #expect(snapshot.problems.isEmpty)
                try await call.stop()
            }
        }
    }

    @Test("malformed events are skipped and the call goes on")
    func malformedEvents() async throws {
        try await Self.application().test(.live) { client in
            let port = try #require(client.port)
            try await FakeTwilioCall.run(port: port) { call in
                let sid = call.options.streamSID
                try await call.sendRaw(#"{"event":"media","streamSid":"\#(sid)","media":{"payload":"/////w=="}}"#)
                try await call.start()
                try await call.sendRaw("{oops")
                try await call.sendRaw(#"{"event":"dance","streamSid":"\#(sid)"}"#)
                try await call.sendRaw(#"{"event":"media","streamSid":"\#(sid)","media":{"payload":"!!not base64!!"}}"#)
                try await call.sendRaw(#"{"event":"media","streamSid":"\#(sid)","media":{}}"#)
                try await call.sendRaw(#"{"event":"mark","streamSid":"\#(sid)","mark":{"name":"reply-99-5"}}"#)
                try await call.sendRaw(#"{"event":"start","streamSid":"MZother","start":{"streamSid":"MZother"}}"#)
                try await call.sendRaw("[1,2,3]")
                try await call.sendRaw(String(repeating: "x", count: 20000))
                try await call.sendBinary([1, 2, 3, 4])
                try await call.press("5")
                try await Task.sleep(for: Self.calibration)
                call.say(Self.question)
                let answered = await call.wait { $0.echoedMarks.contains("reply-1") }
                #expect(answered)
                #expect(call.snapshot.problems.isEmpty)
                #expect(!call.snapshot.closed)
                try await call.stop()
            }
        }
    }

    @Test("a second concurrent call is unaffected when the first hangs up abruptly")
    func concurrentCalls() async throws {
        try await Self.application().test(.live) { client in
            let port = try #require(client.port)
            let second: FakeTwilioCall.Options = {
                var options = FakeTwilioCall.Options()
                options.streamSID = "MZsecond"
                return options
            }()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Hangs up mid-reply without `stop`.
                    try await FakeTwilioCall.run(port: port) { call in
                        try await call.start()
                        try await Task.sleep(for: Self.calibration)
                        call.say(Self.question)
                        _ = await call.wait { $0.receivedBytes > 0 }
                    }
                }
                group.addTask {
                    try await FakeTwilioCall.run(port: port, options: second) { call in
                        try await call.start()
                        try await Task.sleep(for: Self.calibration)
                        call.say(Self.question)
                        let answered = await call.wait { $0.echoedMarks.contains("reply-1") }
                        #expect(answered)
                        #expect(call.snapshot.problems.isEmpty)
                        try await call.stop()
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("a stream that is not μ-law 8 kHz mono is closed")
    func wrongFormat() async throws {
        try await Self.application().test(.live) { client in
            let port = try #require(client.port)
            var options = FakeTwilioCall.Options()
            options.encoding = "audio/l16"
            options.sampleRate = 16000
            try await FakeTwilioCall.run(port: port, options: options) { call in
                try await call.start()
                let closed = await call.wait(timeout: .seconds(5)) { $0.closed }
                #expect(closed)
                #expect(call.snapshot.receivedBytes == 0)
            }
        }
    }
}
