import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import ParleyProviders
import Synchronization

/// Reads a client WebSocket's common messages on the connection's event loop and queues them for
/// the session there and then, so that a caller's 20 ms frame crosses one thread hand-off (event
/// loop → session) instead of two (event loop → the connection's reader task → session).
///
/// Hummingbird reads a WebSocket through `NIOAsyncChannel`: each frame is handed from the event
/// loop to the reader task through `NIOAsyncSequenceProducer`, and the reader hands the decoded
/// message on to the session. That first hand-off was about a fifth of an idle server's CPU at 100
/// sessions (BENCHMARKS.md, 2026-12-05). No library offers the alternative, so this handler is
/// written here: it sits right after NIO's frame decoder and gives each whole data frame to the
/// transport's `take`, which decodes and queues the common message itself (the browser's audio,
/// Twilio's `media` and `mark`). Everything else keeps Hummingbird's path: control frames (pings,
/// pongs, the close handshake) always, and each data message `take` defers (a text message, a bad
/// one, a rare event) or that arrives in fragments. While the reader handles a deferred message
/// the tap holds what follows, so the session gets every message in the order the client sent it.
///
/// Frames that reached Hummingbird's stream before the tap was added are read there first: the tap
/// starts out holding, sends a marker message down the pipeline behind them, and lets its frames
/// through once the reader has reached the marker. A `take` that answers ``Verdict/stop`` (a limit,
/// a session that fell behind) sends a second marker, which ends the reader.
final class WebSocketReadTap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    /// What `take` did with a whole data message.
    enum Verdict: Sendable {
        /// Queued for the session (or deliberately skipped).
        case taken
        /// Left to the reader task, which gets the message through Hummingbird's stream.
        case deferred
        /// Stop reading: the reader ends, and the connection's later data is not read.
        case stop
    }

    /// Decodes and queues one whole, unfragmented data message (its unmasked payload), on the
    /// connection's event loop: it must not block.
    typealias Take = @Sendable (_ opcode: WebSocketOpcode, _ payload: ByteBuffer) -> Verdict

    /// The most frames held while the reader handles a deferred message: 10 s of 20 ms audio. A
    /// reader that far behind ends the connection's reading (``Handle/overflowed``).
    static let maximumHeld = 500

    private enum State {
        /// Until the reader has reached the start marker or handled a deferred message.
        case holding
        /// Whole data frames go to `take`, control frames on to Hummingbird.
        case direct
        /// A fragmented message is going to the reader: every frame passes until its last one.
        case passingFragments
        /// Reading ended: data frames are dropped, control frames still pass (the close handshake).
        case stopped
    }

    private let take: Take
    private let handle: Handle
    private var state = State.holding
    private var held = CircularBuffer<WebSocketFrame>()
    private var context: ChannelHandlerContext?

    private init(take: @escaping Take, handle: Handle) {
        self.take = take
        self.handle = handle
    }

    /// What the connection's reader task holds of its tap.
    final class Handle: Sendable {
        /// Payloads no client can guess: 16 random bytes each, per connection.
        let startMarker: ByteBuffer
        let stopMarker: ByteBuffer
        let eventLoop: any EventLoop
        private let tap: Mutex<NIOLoopBound<WebSocketReadTap>?>
        private let heldTooMany = Atomic<Bool>(false)

        fileprivate init(eventLoop: any EventLoop) {
            var generator = SystemRandomNumberGenerator()
            func marker() -> ByteBuffer {
                ByteBuffer(bytes: (0..<2).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } })
            }
            startMarker = marker()
            stopMarker = marker()
            self.eventLoop = eventLoop
            tap = Mutex(nil)
        }

        fileprivate func attach(_ tap: WebSocketReadTap) {
            self.tap.withLock { $0 = NIOLoopBound(tap, eventLoop: eventLoop) }
        }

        /// Whether reading stopped because the reader fell ``WebSocketReadTap/maximumHeld`` frames behind.
        var overflowed: Bool { heldTooMany.load(ordering: .relaxed) }

        fileprivate func recordOverflow() { heldTooMany.store(true, ordering: .relaxed) }

        /// Lets the held frames through (in order): the reader reached the start marker or handled
        /// a deferred message.
        func release() {
            guard let tap = tap.withLock({ $0 }) else { return }
            eventLoop.execute { tap.value.release() }
        }
    }

    /// Adds a tap to `channel`'s pipeline after its WebSocket frame decoder; nil when the channel
    /// has closed or has no such decoder (the reader then reads everything from Hummingbird's
    /// stream, as without a tap).
    static func install(on channel: any Channel, take: @escaping Take) async -> Handle? {
        let handle = Handle(eventLoop: channel.eventLoop)
        do {
            try await channel.eventLoop.submit {
                let operations = channel.pipeline.syncOperations
                let decoder = try operations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
                let tap = WebSocketReadTap(take: take, handle: handle)
                try operations.addHandler(tap, position: .after(decoder))
                handle.attach(tap)
                tap.send(marker: handle.startMarker)
            }.get()
            return handle
        } catch {
            return nil
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        held.removeAll()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        process(unwrapInboundIn(data), context: context)
    }

    private func process(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        switch state {
        case .holding:
            guard held.count < Self.maximumHeld else {
                handle.recordOverflow()
                stop(context: context)
                return
            }
            held.append(frame)
        case .passingFragments:
            if frame.fin, frame.opcode == .continuation { state = .holding }
            context.fireChannelRead(wrapInboundOut(frame))
        case .stopped:
            if frame.opcode.isControlOpcode { context.fireChannelRead(wrapInboundOut(frame)) }
        case .direct:
            if frame.opcode.isControlOpcode {
                context.fireChannelRead(wrapInboundOut(frame))
                return
            }
            guard frame.fin, frame.opcode != .continuation, !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
                // Fragments, a stray continuation or reserved bits: Hummingbird's stream reassembles
                // the message or closes the connection with its protocol error.
                state = frame.fin ? .holding : .passingFragments
                context.fireChannelRead(wrapInboundOut(frame))
                return
            }
            switch take(frame.opcode, frame.unmaskedPayload) {
            case .taken:
                break
            case .deferred:
                state = .holding
                context.fireChannelRead(wrapInboundOut(frame))
            case .stop:
                stop(context: context)
            }
        }
    }

    private func release() {
        guard case .holding = state, let context else { return }
        state = .direct
        let pending = held
        held.removeAll(keepingCapacity: true)
        for frame in pending {
            process(frame, context: context)
        }
        // Hummingbird's stream takes what was passed on at the end of a read.
        context.fireChannelReadComplete()
    }

    private func stop(context: ChannelHandlerContext) {
        state = .stopped
        held.removeAll()
        send(marker: handle.stopMarker)
    }

    private func send(marker: ByteBuffer) {
        guard let context else { return }
        context.fireChannelRead(wrapInboundOut(WebSocketFrame(fin: true, opcode: .binary, data: marker)))
        context.fireChannelReadComplete()
    }

    /// How ``read(_:tap:handle:)`` ended.
    enum ReadEnd<Ending> {
        /// `handle` answered this.
        case ended(Ending)
        /// The tap's `take` answered ``Verdict/stop``, or the reader fell too far behind.
        case stopped
        /// The client closed the socket.
        case closed
    }

    /// Reads the messages of `inbound` that the tap (if any) did not take, giving each to `handle`
    /// in the order the client sent them, until `handle` answers an ending, the tap stops or the
    /// socket closes. Throws what Hummingbird's stream throws (a message over the size ceiling, a
    /// protocol error).
    static func read<Ending>(
        _ inbound: WebSocketInboundStream, tap: Handle?, handle: (WebSocketMessage) async throws -> Ending?
    ) async throws -> ReadEnd<Ending> {
        // Whether the start marker was reached: every message after it is one the tap deferred.
        var reachedStart = false
        for try await message in inbound.messages(maxSize: ConnectionLimits.hardMessageCeiling) {
            if let tap, case .binary(let buffer) = message {
                if buffer == tap.startMarker {
                    reachedStart = true
                    tap.release()
                    continue
                }
                if buffer == tap.stopMarker { return .stopped }
            }
            if let ending = try await handle(message) { return .ended(ending) }
            if reachedStart { tap?.release() }
        }
        return .closed
    }
}
