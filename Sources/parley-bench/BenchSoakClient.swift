import Foundation
import ParleyCore
import ParleyProviders
import Synchronization

/// One `parley-bench soak` session: connects to `/ws`, acts out its script in real time (20 ms
/// frames on deadlines, `playback.progress` every 250 ms as the browser client sends it) and
/// reports what became of each question.
///
/// It speaks through ``ProviderWebSocket`` rather than a WebSocket library because leaving must be
/// under its control: a polite close frame, or a vanish, where the TCP connection closes with no
/// close frame at all (the body throws, and the connection is closed under it).
struct BenchSoakClient {
    /// The finished session.
    struct Result: Sendable {
        var end: BenchSoakTally.SessionEnd
        var reason: String?
        var state: BenchSoakSessionState
    }

    /// The reader's findings, shared with the writer.
    final class Shared: Sendable {
        let state = Mutex(BenchSoakSessionState())
    }

    /// The script leaves without a close frame.
    struct Vanish: Error {}
    /// The server ended the session (or the connection) before the script did.
    struct ServerEnded: Error {}
    /// The session outlived its deadline.
    struct Hung: Error {}

    let port: Int
    let script: BenchSoakScript
    /// The longest the caller waits for an answer's first audio (and then for its end).
    let answerTimeout: Duration

    /// Runs the session to its end, within its deadline; failures are reported, never thrown.
    func run() async -> Result {
        let shared = Shared()
        let deadline = script.deadline(answerTimeout: answerTimeout)
        var end = BenchSoakTally.SessionEnd.completed
        var reason: String?
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask {
                    try await Task.sleep(for: deadline)
                    throw Hung()
                }
                group.addTask { try await session(shared) }
                try await group.next()
            }
        } catch is Vanish {
        } catch is Hung {
            end = .hung
            reason = "still open after \(deadline)"
        } catch let refusal as ProviderWebSocket.HandshakeRejected {
            end = .refused
            reason = "handshake refused with HTTP \(refusal.status)"
        } catch {
            let state = shared.state.withLock { $0 }
            if state.ready || state.ended != nil {
                end = .endedByServer
                reason = state.fatal.map { "fatal error \($0)" } ?? state.ended ?? "connection failed: \(error)"
            } else {
                end = .refused
                reason = "cannot connect: \(error)"
            }
        }
        return shared.state.withLock { state in
            state.finish(callerLeft: end == .completed)
            return Result(end: end, reason: reason, state: state)
        }
    }

    private func session(_ shared: Shared) async throws {
        try await ProviderWebSocket.connect(to: "ws://127.0.0.1:\(port)/ws", maximumMessageSize: 1 << 20, timeout: .seconds(10)) {
            connection in
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask { await read(connection, into: shared) }
                var microphone = Microphone(connection: connection, shared: shared)
                try await perform(&microphone)
                try await connection.close(code: 1000, reason: "done")
                // The server answers the close; a server that does not is dropped after 5 s.
                _ = try await microphone.wait(for: .seconds(5)) { $0.ended != nil }
            }
        }
    }

    // MARK: The script

    private func perform(_ microphone: inout Microphone) async throws {
        guard try await microphone.wait(for: .seconds(10), until: \.ready) else {
            throw BenchError("no session.ready within 10 s")
        }
        switch script.kind {
        case .connect:
            try await microphone.quiet(for: script.pause)
        case .talk, .conversation:
            for _ in 0..<script.questions {
                try await microphone.quiet(for: script.pause)
                try await ask(&microphone)
                guard try await awaitAnswer(&microphone) else { continue }
                _ = try await microphone.quiet(for: answerTimeout, until: \.latestTurnEnded)
            }
            try await microphone.quiet(for: .milliseconds(300))
        case .bargeIn:
            try await microphone.quiet(for: script.pause)
            try await ask(&microphone)
            // Without audio to speak over there is no barge-in; the failure is already counted.
            guard try await awaitAnswer(&microphone), microphone.state.questions.last?.audio == true else { return }
            try await microphone.quiet(for: script.actAfter)
            try await ask(&microphone)
            guard try await awaitAnswer(&microphone) else { return }
            _ = try await microphone.quiet(for: answerTimeout, until: \.latestTurnEnded)
        case .drop, .vanish:
            try await microphone.quiet(for: script.pause)
            if script.kind == .vanish && script.midQuestion {
                microphone.shared.state.withLock { $0.ask() }
                try await microphone.speak(for: BenchSoakScript.questionLength / 2)
                throw Vanish()
            }
            try await ask(&microphone)
            if try await microphone.quiet(for: answerTimeout, until: \.latestInFlight) {
                try await microphone.quiet(for: script.actAfter)
            } else {
                microphone.shared.state.withLock { $0.timedOut(after: answerTimeout) }
            }
            if script.kind == .vanish { throw Vanish() }
        }
    }

    /// Speaks a question.
    private func ask(_ microphone: inout Microphone) async throws {
        microphone.shared.state.withLock { $0.ask() }
        try await microphone.speak(for: BenchSoakScript.questionLength)
    }

    /// Waits for the latest question's first audio (or its failure); false when it failed or timed out.
    private func awaitAnswer(_ microphone: inout Microphone) async throws -> Bool {
        guard try await microphone.quiet(for: answerTimeout, until: \.latestHeard) else {
            microphone.shared.state.withLock { $0.timedOut(after: answerTimeout) }
            return false
        }
        return microphone.state.questions.last?.audio == true
    }

    // MARK: Reading

    private func read(_ connection: ProviderWebSocketConnection, into shared: Shared) async {
        do {
            for try await message in connection.messages {
                let now = ContinuousClock.now
                switch message {
                case .text(let text):
                    guard let event = try? WireProtocol.decodeServerText(text) else { continue }
                    shared.state.withLock { $0.receive(event, at: now) }
                case .binary(let bytes):
                    shared.state.withLock { $0.audio(samples: bytes.count / 2, at: now) }
                case .closed(let code, _):
                    shared.state.withLock { $0.closed(code: code) }
                }
            }
        } catch {
            shared.state.withLock { $0.closed(code: nil) }
        }
    }
}
