public import Logging
public import ParleyCore

/// The server's session count and drain state, shared by the routes, the socket runner and the
/// drain on SIGTERM.
///
/// Draining (``drain(timeout:logger:)``): readiness turns 503 and new sessions are refused at once;
/// each open session hears out the reply in flight (no new turn starts), then is told `going_away`
/// and closed with 1001; sessions still open when the timeout passes are closed then.
public final class ServerLifecycle: Sendable {
    /// Fired when the drain begins.
    let windDown = CancellationSignal()
    /// Fired when the drain timeout has passed: sessions still open are cancelled and closed.
    let hardStop = CancellationSignal()
    /// Fired when the last session closes while draining.
    private let drained = CancellationSignal()
    let sessions: SessionLimiter

    /// How long sessions cut off by the drain timeout get to send their close.
    static let closeGrace: Duration = .seconds(5)

    /// Creates the state of a server that takes at most `maximumSessions` sessions at once.
    public init(maximumSessions: Int) {
        sessions = SessionLimiter(maximum: max(1, maximumSessions))
        HeapAllocator.purgeInBackground()
    }

    /// Whether the server is draining.
    public var isDraining: Bool { windDown.isFired }
    /// Sessions open now, browser and Twilio together.
    public var activeSessions: Int { sessions.active }
    /// The most sessions open at once (`--max-sessions`).
    public var maximumSessions: Int { sessions.maximum }

    /// Ends a session's hold on its slot (taken with `sessions.acquire()`).
    func release() {
        // The drain fires `windDown` before it reads the count: a last session that ends after
        // that sees the drain here, one that ended before leaves a count of 0 for the drain to see.
        if sessions.release() == 0 && isDraining { drained.fire() }
    }

    /// Why a new session cannot start now, or nil when it can.
    func refusal(health: HealthMonitor) -> SessionError? {
        if isDraining {
            return SessionError(.goingAway, "The server is shutting down; connect again to reach another instance.", fatal: true)
        }
        if !health.isReady {
            return SessionError(.notReady, "The speech engines are still starting; try again shortly.", fatal: true)
        }
        if activeSessions >= maximumSessions { return full }
        return nil
    }

    /// The refusal of a session over ``maximumSessions``.
    var full: SessionError {
        SessionError(.serverBusy, "The server is at its limit of \(maximumSessions) sessions.", fatal: true)
    }

    /// Drains the server: returns once every session has closed, at most `timeout` plus
    /// ``closeGrace`` after it is called.
    public func drain(timeout: Duration, logger: Logger) async {
        windDown.fire()
        logger.notice(
            "draining: sessions finish their replies, then close",
            metadata: ["parley.sessions": "\(activeSessions)", "parley.drain_timeout_s": "\(timeout.components.seconds)"])
        if await waitUntilEmpty(for: timeout) {
            logger.notice("drained: no session open")
            return
        }
        logger.warning("drain timeout: closing the sessions still open", metadata: ["parley.sessions": "\(activeSessions)"])
        hardStop.fire()
        if await !waitUntilEmpty(for: Self.closeGrace) {
            logger.error("sessions still open after the drain", metadata: ["parley.sessions": "\(activeSessions)"])
        }
    }

    /// Whether the last session closed within `limit`.
    private func waitUntilEmpty(for limit: Duration) async -> Bool {
        if activeSessions == 0 { return true }
        return await withTaskGroup(of: Bool.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                await self.drained.wait()
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            return await group.next() ?? false
        }
    }
}
