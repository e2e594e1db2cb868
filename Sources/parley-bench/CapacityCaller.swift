import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import ParleyCore
import ParleyProviders

/// One simulated caller of `parley-bench capacity` as a channel handler on its connection's
/// event loop (see ``CapacityClient`` for what it says and when).
///
/// Its 20 ms frames go out from a timer on that loop, on deadlines from its own connection time,
/// so that the callers' frames stay spread over the 20 ms as real callers' are. (Rounding the
/// deadlines to whole milliseconds, so that callers due together share a wake-up, saved 6 % of the
/// generator at 100 sessions, but would bunch the server's reads; not done.) Reads and the timer
/// run on the same thread, so the state needs no lock.
final class CapacityCaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let id: Int
    let plan: CapacityClient.Plan
    let results: CapacityResults
    private var state = CapacityClientState()
    private var phase: CapacityClient.Phase
    private var lastProgress = ContinuousClock.now
    private var context: ChannelHandlerContext?
    private var nextTick = NIODeadline.now()
    private var timer: Scheduled<Void>?
    /// The caller has sent its close frame (at the plan's stop).
    private var hangingUp = false

    init(id: Int, plan: CapacityClient.Plan, results: CapacityResults) {
        self.id = id
        self.plan = plan
        self.results = results
        var generator = SplitMix64(seed: UInt64(id) &* 0x9E37_79B9 &+ 1)
        let offset = Duration.milliseconds(Int64(generator.next() % UInt64(max(1, plan.spread / .milliseconds(1)))))
        phase = .idle(until: plan.activeStart + offset)
    }

    /// Connects to `/ws` and upgrades; the returned channel closes when the caller has hung up
    /// (or the connection failed).
    static func connect(id: Int, plan: CapacityClient.Plan, results: CapacityResults) async throws -> any Channel {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "127.0.0.1:\(plan.port)")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/ws", headers: headers)
        let (channel, upgraded) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: "127.0.0.1", port: plan.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = WebSocketClientUpgrader<Bool>(maximumFrameSize: WireProtocol.maxFrameBytes) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let handlers: [any ChannelHandler] = [
                                NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64,
                                    maxAccumulatedFrameSize: WireProtocol.maxFrameBytes),
                                CapacityCaller(id: id, plan: plan, results: results),
                            ]
                            try channel.pipeline.syncOperations.addHandlers(handlers)
                            return true
                        }
                    }
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Bool>(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(false) })
                    let upgraded = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration))
                    return (channel, upgraded)
                }
            }
        guard try await upgraded.get() else {
            channel.close(promise: nil)
            throw BenchError("the server refused the WebSocket upgrade")
        }
        return channel
    }

    // MARK: The timer

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        nextTick = NIODeadline.now()
        schedule()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    private func schedule() {
        guard let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: nextTick) { [self] in tick() }
    }

    /// Sends this frame's audio and whatever the caller owes the server, then sets the next timer.
    private func tick() {
        guard let context else { return }
        results.lateness(.nanoseconds(Int64(NIODeadline.now().uptimeNanoseconds) - Int64(nextTick.uptimeNanoseconds)))
        let now = ContinuousClock.now
        guard now < plan.stop else {
            hangUp(context)
            return
        }
        if let cleared = state.takeClearedReport() {
            send(.playbackCleared(turnID: cleared.turn, playedSamples: cleared.played), context)
        }
        let audio = phase.isSpeaking ? CapacityClient.voice : CapacityClient.quiet
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: audio)), promise: nil)
        phase = advance(phase, at: now, context)
        context.flush()
        nextTick = nextTick + .milliseconds(20)
        schedule()
    }

    /// Sends the close frame; the channel closes on the server's answer, or 2 s later without one.
    private func hangUp(_ context: ChannelHandlerContext) {
        hangingUp = true
        var reason = context.channel.allocator.buffer(capacity: 6)
        reason.write(webSocketErrorCode: .normalClosure)
        reason.writeString("done")
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: reason)), promise: nil)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { context.close(promise: nil) }
    }

    private func send(_ message: ClientMessage, _ context: ChannelHandlerContext) {
        guard let text = WireProtocol.encode(message) else { return }
        let buffer = context.channel.allocator.buffer(string: text)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer)), promise: nil)
    }

    private func advance(_ phase: CapacityClient.Phase, at now: ContinuousClock.Instant, _ context: ChannelHandlerContext) -> CapacityClient.Phase {
        switch phase {
        case .idle(let until):
            return now >= until ? .speaking(framesLeft: CapacityClient.questionFrames, bargeIn: true) : phase
        case .speaking(let framesLeft, let bargeIn):
            guard framesLeft <= 1 else { return .speaking(framesLeft: framesLeft - 1, bargeIn: bargeIn) }
            state.questionEnded(at: now)
            return .waiting(since: now, bargeIn: bargeIn)
        case .waiting(let since, let bargeIn):
            if let reply = state.replyStarted {
                lastProgress = now
                return .listening(turn: reply.turn, bargeAt: bargeIn ? reply.at + CapacityClient.bargeInAfter : nil, since: now)
            }
            if now - since > CapacityClient.replyTimeout {
                if now < plan.stop - CapacityClient.replyTimeout {
                    results.error("no reply audio within \(CapacityClient.replyTimeout) of the question")
                }
                state.abandonReply()
                return .idle(until: now + CapacityClient.pauseAfterReply)
            }
            return phase
        case .listening(let turn, let bargeAt, let since):
            let playback = state.playback(at: now)
            if now - lastProgress >= CapacityClient.progressInterval, let playback, playback.turn == turn {
                lastProgress = now
                send(.playbackProgress(turnID: turn, playedSamples: playback.played), context)
            }
            if let bargeAt, now >= bargeAt {
                return .speaking(framesLeft: CapacityClient.bargeInFrames, bargeIn: false)
            }
            let heardOut = playback.map { $0.turn == turn && $0.ended && $0.played >= $0.received } ?? true
            if heardOut || now - since > .seconds(30) {
                if let playback, playback.turn == turn {
                    send(.playbackProgress(turnID: turn, playedSamples: playback.played), context)
                }
                return .idle(until: now + CapacityClient.pauseAfterReply)
            }
            return phase
        }
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = ContinuousClock.now
        switch frame.opcode {
        case .binary:
            switch state.audio(samples: frame.length / 2, at: now) {
            case .firstOfReply(let voiceToVoice?) where now >= plan.measureStart: results.voiceToVoice(voiceToVoice)
            case .stale: results.staleFrame()
            default: break
            }
        case .text:
            guard let event = try? WireProtocol.decodeServerText(String(buffer: frame.unmaskedData)) else {
                results.error("undecodable server event")
                return
            }
            switch event {
            case .agentAudioStart(let turn, _): state.audioStarted(turn: turn)
            case .agentAudioEnd(let turn, _): state.audioEnded(turn: turn)
            case .agentPaused(let turn): state.paused(turn: turn)
            case .agentResumed(let turn): state.resumed(turn: turn)
            case .agentInterrupted(let turn): state.interrupted(turn: turn, at: now)
            case .turnEnd(let summary) where now >= plan.measureStart && now < plan.stop: results.turn(summary)
            case .error(let error): results.error("server error \(error.code)")
            default: break
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            if !hangingUp {
                if now < plan.stop { results.error("the server closed the connection") }
                // Echo the close, then leave.
                var code = frame.unmaskedData
                let echo = WebSocketFrame(
                    fin: true, opcode: .connectionClose, maskKey: .random(), data: code.readSlice(length: min(2, code.readableBytes)) ?? ByteBuffer())
                context.writeAndFlush(wrapOutboundOut(echo), promise: nil)
            }
            hangingUp = true
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !hangingUp && ContinuousClock.now < plan.stop { results.error("the server closed the connection") }
        hangingUp = true
        timer?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !hangingUp && ContinuousClock.now < plan.stop { results.error("connection failed or dropped: \(error)") }
        hangingUp = true
        context.close(promise: nil)
    }
}
