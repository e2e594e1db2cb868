import Foundation
import ParleyCore
import ParleyProviders
import ParleyTesting
import Synchronization
import Testing

/// Talking over a reply whose webhook is slow: the barge-in cancels the HTTP request.
@Suite("Barge-in during a slow webhook")
struct AgentToolBargeInTests {
    typealias T = AgentToolsServerTests

    @Test("speech over a reply waiting on a webhook cancels its request; the next turn works", .timeLimit(.minutes(1)))
    func bargeInCancelsWebhook() async throws {
        // The webhook's own timeout is far off: only the barge-in can end the call early.
        try await T.withToolServer(
            webhookTimeout: .seconds(30), transcripts: ["What's the weather in Paris?", "Never mind."],
            respond: { _, response, log in
                let since = ContinuousClock.now
                await response.stall(upTo: .seconds(20))  // returns when the client closes the connection
                log.record(WebhookLog.Held(since: since, gone: .now))
            }
        ) { port, groq, log in
            let bargedIn = ClockBox<ContinuousClock.Instant>()
            let conversation = try await WireConversation.run(port: port) { outbound, conversation in
                let received = conversation.received
                let microphone = RealTimeMicrophone(outbound: outbound)
                try await microphone.say(spokenQuestion)
                // The filler is said as the model starts the call; the reply then waits on the webhook,
                // whose request may arrive a moment after the filler.
                let waiting = try await microphone.silence(upTo: .seconds(10), in: received) { events in
                    !Events.toolCalls(events).isEmpty && Events.agentText(1, in: events).contains("One moment")
                        && log.requests.count == 1
                }
                try #require(waiting, "no tool call and filler: \(received.controlEvents)")
                #expect(log.requests.count == 1)
                #expect(log.held.isEmpty)

                bargedIn.set(.now)
                try await microphone.say(AudioFixtures.tone(frequency: 300, duration: .milliseconds(700)))
                let next = try await microphone.silence(upTo: .seconds(15), in: received, until: Events.turnEnd(2))
                try #require(next, "turn 2 never ended: \(received.controlEvents)")
            }.conversation
            let events = conversation.received.events
            let bargeIn = try #require(bargedIn.value)

            // The reply was interrupted and its request went away at once, not at the 20 s hold.
            #expect(events.contains(.agentInterrupted(turnID: 1)))
            #expect(Events.summary(1, in: events)?.interrupted == true)
            let gone = await log.wait(timeout: .seconds(5)) { !$0.held.isEmpty }
            #expect(gone, "the webhook's request was not closed")
            if let held = log.held.first {
                #expect(held.gone - bargeIn < .seconds(3), "request closed \(held.gone - bargeIn) after the barge-in")
                #expect(held.gone - held.since < .seconds(10))
            }
            // A result for the cancelled call, if any, is a failure; nothing claims it answered.
            #expect(Events.toolResults(events).allSatisfy { !$0.ok })
            #expect(log.requests.count == 1)

            // The next turn is answered, and the fake Groq accepted its history (every call answered).
            let second = try #require(Events.summary(2, in: events))
            #expect(!second.interrupted)
            #expect(second.text == "Alright, ask me anything.")
            #expect(!events.contains { if case .error = $0 { true } else { false } }, "\(conversation.received.controlEvents)")
            let last = try #require(groq.requests.last)
            #expect(last.messages.last == .user("Never mind."))
        }
    }
}

/// An instant set by one task and read by another.
final class ClockBox<Instant: Sendable>: Sendable {
    private let instant = Mutex<Instant?>(nil)

    var value: Instant? { instant.withLock { $0 } }
    func set(_ value: Instant) { instant.withLock { $0 = value } }
}
