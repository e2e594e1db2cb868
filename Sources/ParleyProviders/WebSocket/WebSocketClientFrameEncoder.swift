package import NIOCore
package import NIOHTTP1
package import NIOWebSocket

/// Encodes a client's WebSocket frames, masking the payload eight bytes at a time.
///
/// NIO's `WebSocketFrameEncoder` masks through `ByteBuffer.webSocketMask`, byte by byte with a
/// modulo per byte. Every audio frame Parley sends to Deepgram is masked (RFC 6455 §5.3: a client
/// masks all it sends), 32 KB a second per session, as many bytes as the callers' audio it
/// unmasks: at 100 idle sessions NIO's masking was 3.8 % of the server's CPU (`perf`,
/// 2026-12-06). NIO's encoder cannot be told the payload is masked already, nor removed from the
/// pipeline its upgrader builds, so ``WebSocketClientUpgrader`` adds this one in its place.
///
/// The output is byte for byte NIO's (`WebSocketClientFrameEncoderTests`), in one buffer: the
/// header, then the payload, copied and then masked in place.
package final class WebSocketClientFrameEncoder: ChannelOutboundHandler {
    package typealias OutboundIn = WebSocketFrame
    package typealias OutboundOut = ByteBuffer

    /// Two bytes, up to eight of extended length, four of masking key.
    static let maximumHeaderBytes = 14

    package init() {}

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        let extensionBytes = frame.extensionData?.readableBytes ?? 0
        let length = extensionBytes + frame.data.readableBytes
        var buffer = context.channel.allocator.buffer(capacity: Self.maximumHeaderBytes + length)
        var first = UInt8(webSocketOpcode: frame.opcode)
        if frame.fin { first |= 0x80 }
        if frame.rsv1 { first |= 0x40 }
        if frame.rsv2 { first |= 0x20 }
        if frame.rsv3 { first |= 0x10 }
        let maskBit: UInt8 = frame.maskKey == nil ? 0 : 0x80
        buffer.writeInteger(first)
        switch length {
        case 0...125:
            buffer.writeInteger(UInt8(length) | maskBit)
        case 126...Int(UInt16.max):
            buffer.writeInteger(126 | maskBit)
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(127 | maskBit)
            buffer.writeInteger(UInt64(length))
        }
        if let key = frame.maskKey { buffer.writeBytes(key) }
        let headerBytes = buffer.readableBytes
        if let extensionData = frame.extensionData { buffer.writeBytes(extensionData.readableBytesView) }
        buffer.writeBytes(frame.data.readableBytesView)
        if let key = frame.maskKey {
            buffer.withUnsafeMutableReadableBytes { bytes in
                UnsafeMutableRawBufferPointer(rebasing: bytes[headerBytes...]).applyWebSocketMask(key)
            }
        }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }
}

@available(*, unavailable)
extension WebSocketClientFrameEncoder: Sendable {}

/// NIO's client upgrader (it sends and checks the handshake's keys) with
/// ``WebSocketClientFrameEncoder`` in the pipeline instead of NIO's encoder.
package struct WebSocketClientUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPClientProtocolUpgrader {
    private let handshake: NIOTypedWebSocketClientUpgrader<UpgradeResult>
    private let maximumFrameSize: Int
    private let upgradePipelineHandler: @Sendable (any Channel, HTTPResponseHead) -> EventLoopFuture<UpgradeResult>

    /// Frames over `maximumFrameSize` bytes are refused; `upgradePipelineHandler` runs once the
    /// encoder, decoder and protocol-error handler are in place.
    package init(
        maximumFrameSize: Int,
        upgradePipelineHandler: @escaping @Sendable (any Channel, HTTPResponseHead) -> EventLoopFuture<UpgradeResult>
    ) {
        handshake = NIOTypedWebSocketClientUpgrader(maxFrameSize: maximumFrameSize, upgradePipelineHandler: upgradePipelineHandler)
        self.maximumFrameSize = maximumFrameSize
        self.upgradePipelineHandler = upgradePipelineHandler
    }

    package var supportedProtocol: String { handshake.supportedProtocol }
    package var requiredUpgradeHeaders: [String] { handshake.requiredUpgradeHeaders }

    package func addCustom(upgradeRequestHeaders: inout HTTPHeaders) {
        handshake.addCustom(upgradeRequestHeaders: &upgradeRequestHeaders)
    }

    package func shouldAllowUpgrade(upgradeResponse: HTTPResponseHead) -> Bool {
        handshake.shouldAllowUpgrade(upgradeResponse: upgradeResponse)
    }

    /// What NIO's upgrader does, but with this module's encoder.
    package func upgrade(channel: any Channel, upgradeResponse: HTTPResponseHead) -> EventLoopFuture<UpgradeResult> {
        channel.eventLoop.makeCompletedFuture {
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(WebSocketClientFrameEncoder())
            try operations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maximumFrameSize)))
            try operations.addHandler(WebSocketProtocolErrorHandler(isServer: false))
        }.flatMap {
            upgradePipelineHandler(channel, upgradeResponse)
        }
    }
}
