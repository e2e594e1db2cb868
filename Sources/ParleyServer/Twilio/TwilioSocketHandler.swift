import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ParleyCore
import Synchronization

/// Runs one phone call over Twilio Media Streams (`GET /twilio`): waits for `start`, then runs a
/// ``VoiceSession`` at 8 kHz whose id is the stream's `streamSid`, feeding it the caller's μ-law
/// audio and the marks Twilio echoes, until `stop`, a close, or the session's end.
///
/// Twilio cannot show errors, so bad messages are logged and skipped; the call goes on.
struct TwilioSocketHandler: Sendable {
    /// The session settings for calls (8 kHz in and out).
    let session: SessionConfiguration
    let providers: SessionProviders
    let runner: SessionSocketRunner

    /// How a call's socket ends.
    private enum Ending: Sendable {
        case stopped
        case closedByTwilio
        case refused(String)
    }

    func handle(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: (any Channel)?, logger: Logger) async {
        let playback = TwilioPlayback()
        let (starts, startSink) = AsyncStream.makeStream(of: TwilioStreamStart.self, bufferingPolicy: .bufferingNewest(1))
        // As for the browser: the session ending ends the call; Twilio's `stop` or close ends the
        // session's input and gives it a moment to wind down before it is cancelled. Twilio cannot
        // show errors, so refusals are logged and the socket closed with a reason.
        let outcome = await runner.run(
            logger: logger,
            refuse: { error in
                let code: WebSocketErrorCode = error.code == .goingAway ? .goingAway : .unknown(1013)
                try? await outbound.close(code, reason: String(error.message.prefix(120)))
            },
            close: { closure in try? await outbound.close(.init(codeNumber: Int(closure.closeCode)), reason: closure.closeReason) },
            session: { inputs in
                for await start in starts {
                    await runSession(start, inputs: inputs, playback: playback, outbound: outbound, logger: logger)
                    break
                }
            },
            read: { inbox, guarding in
                let ending = await readFrames(
                    inbound: inbound, channel: channel, starts: startSink, inputs: inbox, guarding: guarding, playback: playback, logger: logger)
                startSink.finish()
                return ending
            })
        startSink.finish()
        if case .clientLeft(.refused(let reason)) = outcome {
            try? await outbound.close(.unacceptableData, reason: String(reason.prefix(120)))
        }
    }

    private func runSession(
        _ start: TwilioStreamStart, inputs: SessionSocketRunner.SessionInputs, playback: TwilioPlayback,
        outbound: WebSocketOutboundWriter, logger: Logger
    ) async {
        var logger = logger
        logger[metadataKey: "parley.twilio.call"] = "\(start.callSID ?? "?")"
        let session = VoiceSession(id: start.streamSID, configuration: session, providers: providers, logger: logger)
        session.logger.info("twilio call started", metadata: ["parley.twilio.parameters": "\(start.customParameters.count)"])
        let output = TwilioSessionOutput(
            outbound: outbound, streamSID: start.streamSID, playback: playback, inputs: inputs.inbox, logger: session.logger)
        do {
            try await session.run(inbox: inputs.inbox, output: output, windDown: inputs.windDown)
        } catch is CancellationError {
        } catch {
            session.logger.warning("twilio call's session failed", metadata: ["parley.error": "\(error)"])
        }
    }

    /// Decodes Twilio's messages until `stop`, the socket's close, or a stream Parley cannot take:
    /// `media` and `mark` once the call started on the connection's event loop
    /// (``WebSocketReadTap``), the rest here.
    private func readFrames(
        inbound: WebSocketInboundStream, channel: (any Channel)?, starts: AsyncStream<TwilioStreamStart>.Continuation,
        inputs: SessionInbox, guarding: ConnectionGuard, playback: TwilioPlayback, logger: Logger
    ) async -> Ending {
        // The call's stream, once `start` came; the tap reads only after the reader handled it.
        let started = Mutex<String?>(nil)
        var tap: WebSocketReadTap.Handle?
        if let channel {
            tap = await WebSocketReadTap.install(on: channel) { opcode, payload in
                guard opcode == .text, let streamSID = started.withLock({ $0 }),
                    let text = payload.getString(at: payload.readerIndex, length: payload.readableBytes),
                    let event = try? TwilioInboundEvent.decode(text)
                else { return .deferred }
                switch event {
                case .media(let sid, let samples) where sid == nil || sid == streamSID:
                    if guarding.admit(bytes: payload.readableBytes, isAudio: true) != nil { return .stop }
                    return !inputs.send(.audio(samples)) && inputs.overflowed ? .stop : .taken
                case .mark(_, let name):
                    guard let heard = playback.played(mark: name) else { return .deferred }
                    if guarding.admit(bytes: payload.readableBytes, isAudio: true) != nil { return .stop }
                    inputs.send(.playbackProgress(turnID: heard.turnID, playedSamples: heard.playedSamples))
                    return .taken
                default:
                    return .deferred
                }
            }
        }
        var streamSID: String?
        do {
            let end = try await WebSocketReadTap.read(inbound, tap: tap) { message -> Ending? in
                let size: Int
                switch message {
                case .binary(let buffer): size = buffer.readableBytes
                case .text(let text): size = text.utf8.count
                }
                // Twilio's audio arrives as `media` events: any message counts as the call being alive.
                if guarding.admit(bytes: size, isAudio: true) != nil { return .closedByTwilio }
                guard case .text(let text) = message else {
                    logger.debug("twilio sent a binary frame; skipped")
                    return nil
                }
                let event: TwilioInboundEvent
                do {
                    event = try TwilioInboundEvent.decode(text)
                } catch {
                    logger.debug("bad twilio message skipped", metadata: ["parley.error": "\(error)"])
                    return nil
                }
                switch event {
                case .connected:
                    logger.debug("twilio connected")
                case .start(let start):
                    guard streamSID == nil else {
                        logger.debug("second twilio start skipped")
                        return nil
                    }
                    if let problem = start.formatProblem {
                        logger.warning("twilio call refused", metadata: ["parley.error": "\(problem)"])
                        return .refused(problem)
                    }
                    streamSID = start.streamSID
                    started.withLock { $0 = start.streamSID }
                    starts.yield(start)
                case .media(let sid, let samples):
                    guard let streamSID, sid == nil || sid == streamSID else {
                        logger.debug("twilio media before start or of another stream skipped")
                        return nil
                    }
                    if !inputs.send(.audio(samples)), inputs.overflowed { return fellBehind(logger) }
                case .mark(_, let name):
                    guard let heard = playback.played(mark: name) else {
                        logger.debug("twilio mark not Parley's or of a cleared reply", metadata: ["parley.twilio.mark": "\(name.prefix(40))"])
                        return nil
                    }
                    inputs.send(.playbackProgress(turnID: heard.turnID, playedSamples: heard.playedSamples))
                case .dtmf(let digit):
                    logger.debug("twilio dtmf", metadata: ["parley.twilio.digit": "\(digit.prefix(4))"])
                case .stop:
                    logger.debug("twilio stop")
                    return .stopped
                }
                return nil
            }
            switch end {
            case .ended(let ending): return ending
            case .stopped:
                // A limit (the runner closes for it), or the session or the tap fell behind.
                if guarding.trippedLimit == nil, inputs.overflowed || tap?.overflowed == true { return fellBehind(logger) }
            case .closed: break
            }
        } catch {
            logger.debug("twilio socket closed", metadata: ["parley.error": "\(error)"])
        }
        return .closedByTwilio
    }

    private func fellBehind(_ logger: Logger) -> Ending {
        logger.warning("twilio call closed: the session fell more than 5 s behind the caller's audio")
        return .refused("Parley fell behind the call's audio")
    }
}
