import ParleyCore
import Testing

@Suite("Barge-in policy, driven by instants")
struct BargeInPolicyTests {
    static let frame: Duration = .milliseconds(20)
    let start = SessionClock.Instant(offset: .zero)

    @Test("speech over a reply pauses it, and enough voiced audio makes it an interruption")
    func minimumSpeech() {
        var policy = BargeInPolicy()
        #expect(policy.speechStarted() == .pause)
        for _ in 0..<9 { #expect(policy.frame(counts: true, duration: Self.frame) == .none) }
        #expect(policy.frame(counts: false, duration: Self.frame) == .none)  // a quiet frame does not count
        #expect(policy.frame(counts: true, duration: Self.frame) == .interrupt)  // the 10th voiced frame: 200 ms
        #expect(!policy.isJudging)
    }

    @Test("words from the recogniser interrupt at once; without a pending judgement they do nothing")
    func words() {
        var policy = BargeInPolicy()
        #expect(policy.words() == .none)
        #expect(policy.speechStarted() == .pause)
        #expect(policy.frame(counts: true, duration: Self.frame) == .none)
        #expect(policy.words() == .interrupt)
    }

    @Test("a short noise resumes the reply once the resume delay has passed without words")
    func falseStart() {
        var policy = BargeInPolicy(configuration: .init(resumeAfter: .milliseconds(1500)))
        #expect(policy.speechStarted() == .pause)
        #expect(policy.frame(counts: true, duration: .milliseconds(100)) == .none)
        #expect(policy.speechEnded(at: start) == .none)
        #expect(policy.tick(at: start + .milliseconds(1499)) == .none)
        #expect(policy.tick(at: start + .milliseconds(1500)) == .resume)
        #expect(!policy.isJudging)
        #expect(policy.tick(at: start + .seconds(5)) == .none)
    }

    @Test("words after the noise but before the resume delay still interrupt")
    func lateWords() {
        var policy = BargeInPolicy()
        _ = policy.speechStarted()
        _ = policy.speechEnded(at: start)
        #expect(policy.tick(at: start + .milliseconds(600)) == .none)
        #expect(policy.words() == .interrupt)
    }

    @Test("speech starting again before the deadline keeps the reply paused and the voiced time adds up")
    func speechAgain() {
        var policy = BargeInPolicy()
        _ = policy.speechStarted()
        #expect(policy.frame(counts: true, duration: .milliseconds(120)) == .none)
        _ = policy.speechEnded(at: start)
        #expect(policy.speechStarted() == .none)  // already paused
        #expect(policy.tick(at: start + .seconds(3)) == .none)  // the deadline was cancelled by new speech
        #expect(policy.frame(counts: true, duration: .milliseconds(80)) == .interrupt)
    }

    @Test("a reset forgets pending speech")
    func reset() {
        var policy = BargeInPolicy()
        _ = policy.speechStarted()
        policy.reset()
        #expect(policy.frame(counts: true, duration: .seconds(1)) == .none)
        #expect(policy.words() == .none)
    }
}
