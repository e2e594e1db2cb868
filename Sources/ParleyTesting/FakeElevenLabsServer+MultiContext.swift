import Foundation
import ParleyCore
import Synchronization

extension FakeElevenLabsServer {
    /// One accepted `multi-stream-input` socket (docs/providers.md): several independent contexts
    /// on one connection, each with its own text buffer, chunk schedule, inactivity timer and final
    /// message, so that a client can start the next reply's context before closing the one the
    /// user barged into.
    ///
    /// The reader applies each message; every context then has a generator task of its own that
    /// speaks its jobs in order, so contexts interleave on the wire and a long context never holds
    /// back another's first audio. A watcher task enforces the inactivity timeout.
    final class MultiContextConnection: FakeElevenLabsSocket {
        typealias Job = StreamInputConnection.Job

        /// One context that exists: created, and its final message not yet sent.
        struct Context {
            var id: String
            /// Its first message's `voice_settings` and `generation_config`.
            var settings: [String: JSONValue]
            var schedule: [Int]
            var generationIndex = 0
            var buffer = ""
            /// The last message naming it, for its inactivity timer.
            var lastMessage = ContinuousClock.now
            /// Whether the client closed it (`close_context` or `close_socket`).
            var closed = false
        }

        struct State {
            var lastMessage = ContinuousClock.now
            /// When the last context ended, for the timer of a socket without contexts.
            var lastEnded = ContinuousClock.now
            var keySource: KeySource?
            var initialized = false
            /// The socket's first message's chunk schedule, for contexts that name none.
            var defaultSchedule = [120, 160, 250, 290]
            /// The contexts that exist, by serial number (their index in the record).
            var contexts: [Int: Context] = [:]
            /// The serial of each context id the client has not closed.
            var open: [String: Int] = [:]
            var nextSerial = 0
            /// Final messages taken out of `contexts` and not yet sent.
            var finalsInFlight = 0
            /// Whether the client sent `close_socket`.
            var socketClosed = false
            var closing = false
            var errorFaultActed = false
            var audioSent = false
        }

        /// What the reader must do after a message.
        struct Outcome {
            /// Contexts created, which need a generator.
            var created: [(serial: Int, id: String)] = []
            var jobs: [(serial: Int, job: Job)] = []
            var failure: SocketFailure?
            /// Whether the socket is to be closed with 1000 at once (`close_socket` with no context).
            var closeNow = false
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
                records.multiStreamInput.append(
                    MultiStreamInputRecord(voiceID: options.voiceID, query: options.query, keySource: options.keySource, openedAt: .now))
                return records.multiStreamInput.count - 1
            }
        }

        /// Serves the socket until the client closes it or the connection drops.
        func serve() async throws {
            defer { fake.updateMultiStreamInput(index) { $0.closedAt = .now } }
            try await withThrowingDiscardingTaskGroup { group in
                defer { group.cancelAll() }
                group.addTask { try? await self.watchInactivity() }
                var queues: [Int: AsyncStream<Job>.Continuation] = [:]
                try await readMessages { text in
                    let outcome = handle(text)
                    for (serial, id) in outcome.created {
                        let (jobs, sink) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .bufferingOldest(1024))
                        queues[serial] = sink
                        group.addTask { try? await self.generate(serial, id: id, jobs) }
                    }
                    for (serial, job) in outcome.jobs {
                        guard let sink = queues[serial] else { continue }
                        if case .dropped = sink.yield(job) { await fail("fake_overloaded", "The fake's generation queue is full.") }
                        if case .final = job {
                            sink.finish()
                            queues[serial] = nil
                        }
                    }
                    if outcome.closeNow, beginClosing(code: 1000) { try? await socket.close(code: 1000, reason: "") }
                    if let failure = outcome.failure { await fail(failure.error, failure.message) }
                }
            }
        }

        func record(message: String) {
            fake.updateMultiStreamInput(index) { $0.messages.append(message) }
        }

        func recordClientClose(code: Int?) {
            fake.updateMultiStreamInput(index) { record in
                record.clientCloseCode = code
                record.clientDropped = code == nil
            }
        }

        func beginClosing(code: Int?) -> Bool {
            let first = state.withLock { state in
                defer { state.closing = true }
                return !state.closing
            }
            if first {
                fake.updateMultiStreamInput(index) { record in
                    record.serverCloseCode = code
                    record.serverDropped = code == nil
                }
            }
            return first
        }

        var isClosing: Bool { state.withLock { $0.closing } }
    }
}
