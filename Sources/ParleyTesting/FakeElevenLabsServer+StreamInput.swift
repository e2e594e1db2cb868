import Foundation
import ParleyCore
import ParleyProviders
import Synchronization

extension FakeElevenLabsServer {
    /// One accepted `stream-input` socket: reads the client's messages, buffers text, generates
    /// speech in a second task and watches for inactivity in a third.
    final class StreamInputConnection: FakeElevenLabsSocket {
        /// Work for the generator, in order.
        enum Job: Sendable {
            case speak(String)
            case final
        }

        struct State {
            var lastMessage = ContinuousClock.now
            var keySource: KeySource?
            var initialized = false
            var initialSettings: [String: JSONValue] = [:]
            var schedule = [120, 160, 250, 290]
            var generationIndex = 0
            var buffer = ""
            var endOfStream = false
            var closing = false
            var errorFaultActed = false
        }

        /// What the reader must do after a message.
        struct Outcome {
            var jobs: [Job] = []
            var failure: (error: String, message: String)?
        }

        let fake: FakeElevenLabsServer
        let socket: FakeWebSocket
        let options: StreamInputOptions
        let index: Int
        let state: Mutex<State>

        init(fake: FakeElevenLabsServer, socket: FakeWebSocket, options: StreamInputOptions) {
            self.fake = fake
            self.socket = socket
            self.options = options
            var initial = State()
            initial.keySource = options.keySource
            state = Mutex(initial)
            index = fake.records.withLock { records in
                records.streamInput.append(
                    StreamInputRecord(
                        voiceID: options.voiceID, query: options.query, keySource: options.keySource, messages: [],
                        openedAt: .now))
                return records.streamInput.count - 1
            }
        }

        /// Serves the socket until the client closes it or the connection drops.
        func serve() async throws {
            let (jobs, jobSink) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .bufferingOldest(1024))
            defer { fake.updateStreamInput(index) { $0.closedAt = .now } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask { try await self.generate(jobs) }
                group.addTask { try await self.watchInactivity() }
                try await readMessages { text in
                    let outcome = handle(text)
                    for job in outcome.jobs {
                        if case .dropped = jobSink.yield(job) {
                            await fail("fake_overloaded", "The fake's generation queue is full.")
                        }
                    }
                    if let failure = outcome.failure { await fail(failure.error, failure.message) }
                }
            }
        }

        func record(message: String) {
            fake.updateStreamInput(index) { $0.messages.append(message) }
        }

        func recordClientClose(code: Int?) {
            fake.updateStreamInput(index) { record in
                record.clientCloseCode = code
                record.clientDropped = code == nil
            }
        }

        /// Marks the socket as closing by the fake; false if it already was.
        /// `code` nil means the fake drops the connection without a close frame.
        func beginClosing(code: Int?) -> Bool {
            let first = state.withLock { state in
                defer { state.closing = true }
                return !state.closing
            }
            if first {
                fake.updateStreamInput(index) { record in
                    record.serverCloseCode = code
                    record.serverDropped = code == nil
                }
            }
            return first
        }

        var isClosing: Bool { state.withLock { $0.closing } }

        /// Closes with `input_timeout_exceeded` once no message has come for the inactivity timeout.
        func watchInactivity() async throws {
            let timeout = options.inactivityTimeout
            while true {
                let (last, done) = state.withLock { ($0.lastMessage, $0.endOfStream || $0.closing) }
                if done { return }
                if ContinuousClock.now >= last + timeout {
                    await fail("input_timeout_exceeded", FakeElevenLabsServer.inactivityMessage(timeout))
                    return
                }
                try await FakeClock.sleep(until: last + timeout)
            }
        }
    }
}
