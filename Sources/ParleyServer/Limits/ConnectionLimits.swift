import ParleyCore

/// What one WebSocket connection may do (README, "Security and limits"): each limit closes the connection with
/// an `error` event (browser) and a close reason, and counts in `parley_limit_closures_total`.
public struct ConnectionLimits: Sendable, Equatable {
    /// The largest message read (`--max-message-bytes`); a bigger one closes the connection (1009).
    /// The browser client sends 20 ms audio frames of 640 bytes, Twilio about 300-byte events.
    public var maximumMessageBytes = 64 * 1024
    /// The sustained messages per second allowed (`--max-messages-per-second`); twice as many may
    /// arrive at once, as after a network stall. More close the connection (1008). Audio alone is
    /// 50 messages a second.
    public var maximumMessagesPerSecond = 100
    /// How long a session may go without audio from its client before it is closed (`--idle-timeout`).
    public var idleTimeout: Duration = .seconds(60)
    /// The longest a session may last (`--max-session-duration`).
    public var maximumSessionDuration: Duration = .seconds(3600)
    /// Concurrent `/ws` connections from one client address (`--max-connections-per-address`);
    /// more are refused at the handshake with HTTP 429.
    public var maximumConnectionsPerAddress = 20
    /// Take the client address from the last `X-Forwarded-For` entry, which the nearest proxy
    /// (a load balancer, Modal, an ingress) appends (`--trust-forwarded-for`). Off, every client
    /// behind a proxy shares the proxy's address.
    public var trustForwardedFor = false

    /// The largest message the WebSocket layer reads at all: bigger frames close the connection
    /// before they are buffered.
    public static let hardMessageCeiling = 1 << 20

    /// The defaults.
    public init() {}
}

/// A limit a connection ran into, and how its close is told.
struct LimitClosure: Sendable, Equatable {
    /// The metric label: `message_size`, `message_rate`, `idle`, `duration` or `going_away`.
    let limit: String
    /// The event sent to a browser client before the close.
    let error: SessionError
    /// The WebSocket close code.
    let closeCode: UInt16
    /// The close frame's reason (at most 123 bytes).
    let closeReason: String

    static func messageTooLarge(_ bytes: Int, limit: Int) -> LimitClosure {
        LimitClosure(
            limit: "message_size",
            error: SessionError(.messageTooLarge, "A message of \(bytes) bytes is over this server's \(limit)-byte limit; closing.", fatal: true),
            closeCode: 1009, closeReason: "message too large")
    }

    static func rateExceeded(_ perSecond: Int) -> LimitClosure {
        LimitClosure(
            limit: "message_rate",
            error: SessionError(.rateLimited, "More than \(perSecond) messages a second (send 20 ms audio frames); closing.", fatal: true),
            closeCode: 1008, closeReason: "too many messages")
    }

    static func idle(_ timeout: Duration) -> LimitClosure {
        LimitClosure(
            limit: "idle",
            error: SessionError(.idleTimeout, "No audio for \(timeout.components.seconds) s; closing the session.", fatal: true),
            closeCode: 1000, closeReason: "idle timeout")
    }

    static func duration(_ longest: Duration) -> LimitClosure {
        LimitClosure(
            limit: "duration",
            error: SessionError(
                .sessionTooLong, "The session reached this server's \(longest.components.seconds)-second limit; connect again to go on.",
                fatal: true),
            closeCode: 1000, closeReason: "session time limit")
    }

    /// The drain's close (not a limit; not counted).
    static let goingAway = LimitClosure(
        limit: "going_away", error: SessionError(.goingAway, "The server is shutting down; connect again to continue.", fatal: true),
        closeCode: 1001, closeReason: "server shutting down")
}
