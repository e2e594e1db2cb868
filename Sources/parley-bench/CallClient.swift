import ParleyCore
import ParleyProviders
import ParleyTesting
import Synchronization

/// One simulated phone call for `parley-bench calls`: a ``FakeTwilioCall`` (Twilio's media
/// servers in real time: 20 ms μ-law frames in, Parley's media played at 8000 bytes/s with marks
/// echoed) that repeats a cycle until the plan's end: a question, silence until the reply's first
/// `media`, 1 s of the reply, speech over it (which must `clear` Twilio and becomes the next
/// question), that reply heard out to its end mark, a pause.
struct CallClient {
    /// The same schedule as the browser callers' (`CapacityClient.Plan`).
    typealias Plan = CapacityClient.Plan

    /// What the caller says: the question and the speech over the reply, at 8 kHz.
    struct Audio: Sendable {
        let question: [Int16]
        let bargeIn: [Int16]
        let isSpeech: Bool

        /// Tones: a voiced sound to the energy VAD, no voice to Silero.
        static let tones = Audio(
            question: AudioFixtures.tone(frequency: 220, duration: .seconds(1), amplitude: 0.4, sampleRate: 8000),
            bargeIn: AudioFixtures.tone(frequency: 330, duration: .milliseconds(800), amplitude: 0.4, sampleRate: 8000), isSpeech: false)

        /// Sentences spoken by espeak-ng, without its quiet lead-in and tail, so the last frame
        /// sent is the end of the speech. The question is one smart-turn judges finished (0.97–0.99).
        static func spoken() async throws -> Audio {
            func say(_ text: String) async throws -> [Int16] {
                PCM.trimmingQuiet(try await EspeakEngine.shared.synthesize(text, sampleRate: 8000))
            }
            return Audio(
                question: try await say("My name is John and I live in Paris."), bargeIn: try await say("Wait, tell me about London instead."),
                isSpeech: true)
        }
    }

    static let heardBeforeBargeIn: Duration = .seconds(1)
    static let pause: Duration = .milliseconds(1500)
    static let replyTimeout: Duration = .seconds(10)
    /// After a `clear`, no old media may come until the barge-in's speech has ended and the next
    /// reply could have started (the recogniser's 300 ms endpointing at the earliest).
    static let staleWindowAfterSpeech: Duration = .milliseconds(250)

    let id: Int
    let plan: Plan
    let audio: Audio
    let results: CallResults

    func run() async {
        var options = FakeTwilioCall.Options()
        options.streamSID = "MZbench\(id)"
        options.callSID = "CAbench\(id)"
        options.eventsKept = 64
        do {
            try await FakeTwilioCall.run(port: plan.port, options: options) { call in
                try await call.start()
                let offset = plan.spread * (Double(id % 97) / 97)
                try await Task.sleep(until: plan.activeStart + offset, clock: .continuous)
                while ContinuousClock.now < plan.stop - .seconds(4) {
                    guard try await cycle(call) else { break }
                }
                try await call.stop()
            }
        } catch is CancellationError {
        } catch {
            results.error("call failed: \(String(describing: error).prefix(80))")
        }
    }

    /// One question, reply, barge-in and heard-out reply; false when the call cannot go on.
    private func cycle(_ call: FakeTwilioCall) async throws -> Bool {
        // The question and its reply.
        guard let questionEnd = await speak(audio.question, call),
            let firstMedia = await mediaArrival(after: questionEnd, call)
        else { return false }
        if counts(questionEnd) { results.voiceToVoice(firstMedia - questionEnd) }

        // Talking over the reply: Twilio must be cleared, and nothing old may play after.
        try await Task.sleep(until: firstMedia + Self.heardBeforeBargeIn, clock: .continuous)
        let bargeAt = ContinuousClock.now
        call.say(audio.bargeIn)
        guard await call.wait(timeout: Self.replyTimeout, until: { $0.received.contains { $0.at > bargeAt && $0.event == .clear } }),
            let clearedAt = call.snapshot.received.first(where: { $0.at > bargeAt && $0.event == .clear })?.at
        else {
            results.error("no clear within \(Self.replyTimeout) of speech over the reply")
            return false
        }
        if counts(bargeAt) { results.clear(clearedAt - bargeAt) }
        guard await call.wait(timeout: Self.replyTimeout, until: { ($0.speechSentAt ?? bargeAt) > bargeAt }),
            let bargeEnd = call.snapshot.speechSentAt
        else { return false }
        let staleUntil = bargeEnd + Self.staleWindowAfterSpeech
        // The next reply's first media comes after this; check for old media once it has.
        guard let nextMedia = await mediaArrival(after: bargeEnd, call) else { return false }
        let staleEnd = Swift.min(staleUntil, nextMedia)
        let stale = call.snapshot.received.filter { $0.at > clearedAt && $0.at < staleEnd && Self.isMedia($0.event) }
        if !stale.isEmpty { results.stale(stale.count) }
        if counts(bargeEnd) { results.voiceToVoice(nextMedia - bargeEnd) }

        // Heard out to its end mark, then a pause.
        // Only the marks echoed since: the call's list grows for as long as it lasts, and
        // splitting every name in it at every 10 ms look was a fifth of the generator's CPU.
        let seen = call.snapshot.echoedMarks.count
        guard await call.wait(timeout: .seconds(30), until: { $0.echoedMarks[seen...].contains(where: Self.isEndMark) }) else {
            results.error("the reply's end mark was not echoed within 30 s")
            return false
        }
        try await Task.sleep(for: Self.pause)
        return true
    }

    /// Queues `samples` as the caller's speech; returns when its last frame was sent.
    private func speak(_ samples: [Int16], _ call: FakeTwilioCall) async -> ContinuousClock.Instant? {
        let before = ContinuousClock.now
        call.say(samples)
        guard await call.wait(timeout: .seconds(5), until: { ($0.speechSentAt ?? before) > before }) else { return nil }
        return call.snapshot.speechSentAt
    }

    /// The arrival of the first `media` after `instant`; nil (an error) after the reply timeout.
    private func mediaArrival(after instant: ContinuousClock.Instant, _ call: FakeTwilioCall) async -> ContinuousClock.Instant? {
        func find(_ snapshot: FakeTwilioCall.Snapshot) -> ContinuousClock.Instant? {
            snapshot.received.first { $0.at > instant && Self.isMedia($0.event) }?.at
        }
        guard await call.wait(timeout: Self.replyTimeout, until: { find($0) != nil }), let at = find(call.snapshot) else {
            results.error("no reply media within \(Self.replyTimeout)")
            return nil
        }
        return at
    }

    /// Whether a figure whose moment is `instant` falls in the measured window.
    private func counts(_ instant: ContinuousClock.Instant) -> Bool {
        instant >= plan.measureStart && instant < plan.stop
    }

    static func isMedia(_ event: FakeTwilioCall.Received) -> Bool {
        if case .media = event { true } else { false }
    }

    /// `reply-<turn>` or `reply-<turn>-end-<epoch>`: a reply's end mark.
    static func isEndMark(_ name: String) -> Bool {
        let fields = name.split(separator: "-")
        return fields.count == 2 || (fields.count == 4 && fields[2] == "end")
    }
}

/// What the calls measured, gathered from every call's task.
final class CallResults: Sendable {
    struct Samples: Sendable {
        var voiceToVoice: [Double] = []
        var clear: [Double] = []
        var staleMedia = 0
        var errors: [String: Int] = [:]
    }
    private let samples = Mutex(Samples())

    func voiceToVoice(_ duration: Duration) { samples.withLock { $0.voiceToVoice.append(duration.milliseconds) } }
    func clear(_ duration: Duration) { samples.withLock { $0.clear.append(duration.milliseconds) } }
    func stale(_ count: Int) { samples.withLock { $0.staleMedia += count } }
    func error(_ kind: String) { samples.withLock { $0.errors[kind, default: 0] += 1 } }

    var snapshot: Samples { samples.withLock { $0 } }
}
