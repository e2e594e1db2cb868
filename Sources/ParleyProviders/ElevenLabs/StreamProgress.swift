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
}
