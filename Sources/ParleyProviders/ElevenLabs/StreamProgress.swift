import ParleyCore
import Synchronization

/// What has gone each way on one `stream-input` socket, shared by the sender, the keep-alive,
/// the watchdog and the reader.
final class StreamProgress: Sendable {
    /// A kind of message sent.
    enum Sent {
        case initialize, flush, keepAlive, endOfStream
    }

    private struct State {
        var lastSent: SessionClock.Instant
        var awaitingSince: SessionClock.Instant?
        var endOfStreamSent = false
        var finalReceived = false
        var timedOut = false
    }

    private let state: Mutex<State>
    private let clock: SessionClock

    /// Creates the record of a socket just opened, timed by `clock`.
    init(clock: SessionClock) {
        self.clock = clock
        state = Mutex(State(lastSent: clock.now))
    }

    /// When the last message was sent.
    var lastSent: SessionClock.Instant { state.withLock { $0.lastSent } }
    /// Since when an answer has been due and none has come (nil when none is due).
    var awaitingSince: SessionClock.Instant? { state.withLock { $0.awaitingSince } }
    /// Whether ElevenLabs said `isFinal`.
    var finalReceived: Bool { state.withLock { $0.finalReceived } }
    /// Whether the watchdog gave up before `isFinal`.
    var timedOut: Bool { state.withLock { $0.timedOut } }

    /// Records a message sent.
    func sent(_ kind: Sent) {
        let now = clock.now
        state.withLock { state in
            state.lastSent = now
            switch kind {
            case .initialize, .keepAlive:
                break
            case .flush:
                if state.awaitingSince == nil { state.awaitingSince = now }
            case .endOfStream:
                state.endOfStreamSent = true
                state.awaitingSince = now
            }
        }
    }

    /// Records a message received. Audio answers a flush; after end of stream every message
    /// shows progress towards `isFinal`, and after `isFinal` only the close is due.
    func received(audio: Bool, isFinal: Bool) {
        let now = clock.now
        state.withLock { state in
            if state.finalReceived { return }
            if isFinal {
                state.finalReceived = true
                state.awaitingSince = now
            } else if state.endOfStreamSent {
                state.awaitingSince = now
            } else if audio {
                state.awaitingSince = nil
            }
        }
    }

    /// Records that the watchdog gave up (which only counts as a failure before `isFinal`).
    func markTimedOut() {
        state.withLock { state in
            if !state.finalReceived { state.timedOut = true }
        }
    }

    /// Sends a keep-alive (`send`) whenever nothing has been sent for `interval`; runs until cancelled.
    func keepAlive(every interval: Duration, send: () async throws -> Void) async throws {
        while true {
            let due = lastSent + interval
            if clock.now >= due {
                try await send()
                sent(.keepAlive)
            } else {
                try await clock.sleep(until: due)
            }
        }
    }

    /// Gives up on a stalled stream: once an answer has been due for `timeout` and none has come,
    /// marks the stream timed out and calls `giveUp` (which closes the connection, so the reader
    /// ends with a timeout, or after `isFinal` with success).
    func watch(timeout: Duration, giveUp: () async throws -> Void) async throws {
        while true {
            try await clock.sleep(until: (awaitingSince ?? clock.now) + timeout)
            guard let stalled = awaitingSince, clock.now - stalled >= timeout else { continue }
            markTimedOut()
            try await giveUp()
            return
        }
    }
}
