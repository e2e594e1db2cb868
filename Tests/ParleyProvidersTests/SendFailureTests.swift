import ParleyCore
import ParleyTesting
import Testing

@testable import ParleyProviders

@Suite("A streaming recogniser's failed send")
struct SendFailureTests {
    struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    @Test("keeps the first failure and is overdue only once its grace has passed since it")
    func firstFailureAndGrace() async {
        let manual = ManualClock()
        let clock = SessionClock(manual)
        var failure = SendFailure(grace: .milliseconds(100))
        #expect(!failure.happened)
        #expect(!failure.isOverdue(at: clock.now + .seconds(60)), "nothing failed: never overdue")

        manual.advance(by: .milliseconds(30))
        let failedAt = clock.now
        failure.record(Refused(description: "connection reset"), at: failedAt)
        manual.advance(by: .milliseconds(50))
        failure.record(Refused(description: "socket closed"), at: clock.now)

        #expect(failure.happened)
        #expect(failure.reason == "connection reset")
        #expect(!failure.isOverdue(at: failedAt + .milliseconds(99)))
        #expect(failure.isOverdue(at: failedAt + .milliseconds(100)))
    }
}
