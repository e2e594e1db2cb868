import HummingbirdWebSocket
import Logging
import NIOCore
import ParleyCore

/// Runs one voice session over one WebSocket: decodes frames (answering bad ones with error
/// events), feeds the session, and closes when either side is done.
struct VoiceSocketHandler: Sendable {
    let configuration: ServerConfiguration
    let providers: SessionProviders
    let runner: SessionSocketRunner

    /// Runs a session with `overrides` (from its session token) applied to the configuration.
    func handle(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: (any Channel)?, overrides: SessionOverrides, logger: Logger
    ) async {
        let output = WebSocketSessionOutput(outbound: outbound)
        let session = VoiceSession(
            id: Self.makeSessionID(), configuration: overrides.applied(to: configuration.session), providers: providers, logger: logger)
        _ = await runner.run(
            logger: logger,
            refuse: { error in try? await output.send(.error(error)) },
            close: { closure in
                try? await output.send(.error(closure.error))
                try? await outbound.close(.init(codeNumber: Int(closure.closeCode)), reason: closure.closeReason)
            },
            session: { inputs in
                do {
                    try await session.run(inbox: inputs.inbox, output: output, windDown: inputs.windDown)
                } catch let error as SessionError {
                    session.logger.warning("session failed", metadata: ["parley.error": "\(error)"])
                    try? await output.send(.error(error))
                } catch is CancellationError {
                } catch {
                    session.logger.error("session failed", metadata: ["parley.error": "\(error)"])
                    try? await output.send(.error(SessionError(.internal, "Session failed: \(error)", fatal: true)))
                }
            },
            read: { inbox, guarding in
                await readFrames(inbound: inbound, channel: channel, into: inbox, guarding: guarding, output: output, logger: session.logger)
            })
    }

    /// Decodes client frames into session input until the socket closes: the caller's audio on
    /// the connection's event loop (``WebSocketReadTap``), the rest here.
    private func readFrames(
        inbound: WebSocketInboundStream, channel: (any Channel)?, into inbox: SessionInbox, guarding: ConnectionGuard,
        output: WebSocketSessionOutput, logger: Logger
    ) async {
        var tap: WebSocketReadTap.Handle?
        if let channel {
            tap = await WebSocketReadTap.install(on: channel) { opcode, payload in
                guard opcode == .binary, let samples = try? Self.decodeAudio(payload) else { return .deferred }  // the reader answers a bad frame
                if guarding.admit(bytes: payload.readableBytes, isAudio: true) != nil { return .stop }
                // Refused when the session fell behind (it ends, saying so) or is over.
                return inbox.send(.audio(samples)) ? .taken : .stop
            }
        }
        do {
            let end = try await WebSocketReadTap.read(inbound, tap: tap) { message -> Void? in
                let size: Int
                let isAudio: Bool
                switch message {
                case .binary(let buffer): (size, isAudio) = (buffer.readableBytes, true)
                case .text(let text): (size, isAudio) = (text.utf8.count, false)
                }
                if guarding.admit(bytes: size, isAudio: isAudio) != nil { return () }
                let decoded: ClientMessage
                do throws(SessionError) {
                    switch message {
                    case .binary(let buffer):
                        decoded = .audio(try Self.decodeAudio(buffer))
                    case .text(let text):
                        decoded = try WireProtocol.decodeClientText(text)
                    }
                } catch {
                    logger.debug("bad client frame", metadata: ["parley.error": "\(error)"])
                    try await output.send(.error(error))
                    return nil
                }
                // Refused when the session fell behind (it ends, saying so) or is over.
                return inbox.send(decoded) ? nil : ()
            }
            if case .stopped = end, tap?.overflowed == true {
                logger.warning("session closed: its reader fell behind the client's messages")
                try? await output.send(.error(SessionError(.inputOverflow, "Parley fell behind reading this connection; closing.", fatal: true)))
            }
        } catch {
            logger.debug("socket closed", metadata: ["parley.error": "\(error)"])
        }
    }

    /// A binary client frame's PCM16 samples (``WireProtocol/decodeAudio(_:)``).
    private static func decodeAudio(_ buffer: ByteBuffer) throws(SessionError) -> [Int16] {
        try buffer.withUnsafeReadableBytes { bytes throws(SessionError) in try WireProtocol.decodeAudio(bytes) }
    }

    static func makeSessionID() -> String {
        String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF, radix: 16)
    }
}
