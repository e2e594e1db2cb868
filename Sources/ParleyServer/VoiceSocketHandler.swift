import HummingbirdWebSocket
import Logging
import NIOCore
import ParleyCore

/// Runs one voice session over one WebSocket: decodes frames (answering bad ones with error
/// events), feeds the session, and closes when either side is done.
struct VoiceSocketHandler: Sendable {
    let configuration: ServerConfiguration
    let providers: SessionProviders
    let health: HealthMonitor
    let limiter: SessionLimiter

    /// Client messages waiting for the session (about 5 s of 20 ms frames).
    static let inputCapacity = 256
    /// How long a session whose client left may take to finish before it is cancelled.
    static let windDown: Duration = .seconds(6)

    func handle(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async {
        let output = WebSocketSessionOutput(outbound: outbound)
        guard health.isReady else {
            try? await output.send(.error(SessionError(.notReady, "The speech engines are still starting; try again shortly.", fatal: true)))
            return
        }
        guard limiter.acquire() else {
            logger.warning("session refused: server full", metadata: ["parley.sessions": "\(limiter.maximum)"])
            try? await output.send(.error(SessionError(.serverBusy, "The server is at its limit of \(limiter.maximum) sessions.", fatal: true)))
            return
        }
        defer { limiter.release() }
        let session = VoiceSession(
            id: Self.makeSessionID(), configuration: configuration.session, providers: providers, logger: logger)
        let (inputs, sink) = AsyncStream.makeStream(of: ClientMessage.self, bufferingPolicy: .bufferingOldest(Self.inputCapacity))

        await withTaskGroup(of: Bool.self) { group in
            // The session ending (a fatal error) ends the connection at once; the client leaving
            // ends the session's input, and the session gets a moment to wind down on its own
            // (stop the reply, let the recogniser close its provider stream) before it is cancelled.
            defer { group.cancelAll() }
            group.addTask {
                do {
                    try await session.run(inputs: inputs, output: output)
                } catch let error as SessionError {
                    session.logger.warning("session failed", metadata: ["parley.error": "\(error)"])
                    try? await output.send(.error(error))
                } catch is CancellationError {
                } catch {
                    session.logger.error("session failed", metadata: ["parley.error": "\(error)"])
                    try? await output.send(.error(SessionError(.internal, "Session failed: \(error)", fatal: true)))
                }
                return true
            }
            group.addTask {
                await readFrames(inbound: inbound, into: sink, output: output, logger: session.logger)
                sink.finish()
                return false
            }
            if await group.next() == false {
                group.addTask {
                    try? await Task.sleep(for: Self.windDown)
                    return false
                }
                _ = await group.next()
            }
            group.cancelAll()
            sink.finish()
        }
    }

    /// Decodes client frames into session input until the socket closes.
    private func readFrames(
        inbound: WebSocketInboundStream, into sink: AsyncStream<ClientMessage>.Continuation,
        output: WebSocketSessionOutput, logger: Logger
    ) async {
        do {
            for try await message in inbound.messages(maxSize: WireProtocol.maxFrameBytes) {
                let decoded: ClientMessage
                do {
                    switch message {
                    case .binary(let buffer):
                        decoded = .audio(try buffer.withUnsafeReadableBytes { bytes throws(SessionError) in
                            try WireProtocol.decodeAudio(bytes)
                        })
                    case .text(let text):
                        decoded = try WireProtocol.decodeClientText(text)
                    }
                } catch {
                    logger.debug("bad client frame", metadata: ["parley.error": "\(error)"])
                    try await output.send(.error(error))
                    continue
                }
                if case .dropped = sink.yield(decoded) {
                    let error = SessionError(.inputOverflow, "The server fell more than 5 s behind the audio sent; closing.", fatal: true)
                    try? await output.send(.error(error))
                    return
                }
            }
        } catch {
            logger.debug("socket closed", metadata: ["parley.error": "\(error)"])
        }
    }

    static func makeSessionID() -> String {
        String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF, radix: 16)
    }
}
