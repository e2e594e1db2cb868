import Logging
import ParleyCore

/// What the browser (`/ws`) and Twilio (`/twilio`) socket handlers share: admission (readiness,
/// drain, session limit), the session's inbox, the session and frame-reader tasks, the wind-down
/// after the client leaves, the connection's limits (``ConnectionLimits``) and the closes they and
/// the drain cause.
struct SessionSocketRunner: Sendable {
    let health: HealthMonitor
    let lifecycle: ServerLifecycle
    let metrics: ServerMetrics
    let limits: ConnectionLimits

    /// How long a session whose client left may take to finish before it is cancelled.
    static let windDown: Duration = .seconds(6)

    /// What a transport's session task gets.
    struct SessionInputs: Sendable {
        /// Where the reader puts the decoded client messages, in order, and transports their
        /// own events turned into messages.
        let inbox: SessionInbox
        /// Fires when the server starts draining: the session ends after the reply in flight.
        let windDown: CancellationSignal
    }

    /// How a run ended.
    enum Outcome<Ending: Sendable>: Sendable {
        /// The client left (or the reader gave up) with `Ending`; the session wound down.
        case clientLeft(Ending)
        /// The session ended first: a fatal error, or the drain.
        case sessionEnded
        /// A limit closed the connection (the reader's, or the idle or duration watchdog's).
        case limited(LimitClosure)
        /// The session never started (`refuse` was called).
        case refused
    }

    /// Why no session can start now (not ready, draining, full), or nil: checked at the handshake,
    /// so that a refusal is an HTTP 503 before a socket and its tasks exist.
    func refusal() -> SessionError? {
        lifecycle.refusal(health: health)
    }

    /// Runs one session: `session` consumes the inputs `read` produces; whichever ends first ends
    /// the other (a client that left gets ``windDown`` first). `refuse` answers a session that
    /// cannot start after all (the handshake check raced another session); `close` closes a
    /// session ended by a limit or the drain. `read` checks each message with the guard it is given
    /// and returns as soon as the guard answers a limit.
    func run<Ending: Sendable>(
        logger: Logger,
        refuse: @Sendable (SessionError) async -> Void,
        close: @Sendable (LimitClosure) async -> Void,
        session: @escaping @Sendable (SessionInputs) async -> Void,
        read: @escaping @Sendable (SessionInbox, ConnectionGuard) async -> Ending
    ) async -> Outcome<Ending> {
        if let refusal = lifecycle.refusal(health: health) {
            logger.warning("session refused", metadata: ["parley.reason": "\(refusal.code)", "parley.sessions": "\(lifecycle.activeSessions)"])
            await refuse(refusal)
            return .refused
        }
        guard lifecycle.sessions.acquire() else {
            logger.warning("session refused: server full", metadata: ["parley.sessions": "\(lifecycle.maximumSessions)"])
            await refuse(lifecycle.full)
            return .refused
        }
        metrics.sessionOpened()
        defer {
            metrics.sessionClosed()
            lifecycle.release()
        }
        let inbox = SessionInbox()
        let inputs = SessionInputs(inbox: inbox, windDown: lifecycle.windDown)
        let hardStop = lifecycle.hardStop
        let guarding = ConnectionGuard(limits: limits)
        let outcome = await withTaskGroup(of: Outcome<Ending>?.self) { group -> Outcome<Ending> in
            // The session ending (a fatal error, the drain) ends the connection at once; the client
            // leaving ends the session's input, and the session gets a moment to wind down on its
            // own (stop the reply, let the recogniser close its provider stream) before it is cancelled.
            defer { group.cancelAll() }
            group.addTask {
                // The drain's timeout cancels a session still open.
                _ = try? await hardStop.run { await session(inputs) }
                return .sessionEnded
            }
            group.addTask {
                let ending = await read(inbox, guarding)
                // A limit ends the session by cancellation, not by ending its input (which would
                // let it finish first and look like a session that ended on its own).
                if let limit = guarding.trippedLimit { return .limited(limit) }
                inbox.finish()
                return .clientLeft(ending)
            }
            group.addTask {
                do {
                    try await guarding.idleExpiry()
                    return .limited(.idle(guarding.limits.idleTimeout))
                } catch {
                    return nil
                }
            }
            group.addTask {
                do {
                    try await guarding.durationExpiry()
                    return .limited(.duration(guarding.limits.maximumSessionDuration))
                } catch {
                    return nil
                }
            }
            let first = await group.next() ?? nil
            if let limit = guarding.trippedLimit { return .limited(limit) }
            if case .limited = first { return first! }
            guard case .clientLeft = first else { return .sessionEnded }
            group.addTask {
                try? await Task.sleep(for: Self.windDown)
                return nil
            }
            // The session ending, or the wind-down's timer; the watchdogs' ends no longer matter.
            while let next = await group.next() {
                if case .limited = next { continue }
                break
            }
            return first ?? .sessionEnded
        }
        inbox.finish()
        if case .limited(let limit) = outcome {
            logger.notice("session closed by a limit", metadata: ["parley.limit": "\(limit.limit)"])
            metrics.recordLimitClosure(limit.limit)
            await close(limit)
        } else if case .sessionEnded = outcome, lifecycle.isDraining {
            logger.info("session closed by the drain")
            await close(.goingAway)
        }
        return outcome
    }
}
