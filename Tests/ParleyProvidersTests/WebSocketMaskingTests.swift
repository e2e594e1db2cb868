import NIOCore
import NIOEmbedded
import NIOWebSocket
import ParleyProviders
import Testing

/// `WebSocketFrame.unmaskedPayload`: the same bytes as NIO's `unmaskedData` for every length and
/// key, whether or not the payload starts on a word boundary.
@Suite("WebSocket masking")
struct WebSocketMaskingTests {
    @Test("unmasking word by word gives NIO's bytes, for every length, key and offset into the buffer")
    func matchesNIO() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            for skip in [0, 1, 3] {
                let key = WebSocketMaskingKey.random(using: &generator)
                var buffer = ByteBuffer(bytes: (0..<(length + skip)).map { _ in UInt8.random(in: 0...255, using: &generator) })
                buffer.moveReaderIndex(forwardBy: skip)
                let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: key, data: buffer)
                #expect(frame.unmaskedPayload == frame.unmaskedData, "\(length) bytes after \(skip)")
                // Masking twice restores the bytes.
                var twice = frame.unmaskedPayload
                twice.applyWebSocketMask(key)
                #expect(twice == buffer)
            }
        }
        let unmasked = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "hello"))
        #expect(unmasked.unmaskedPayload == ByteBuffer(string: "hello"))
    }
}

/// `WebSocketClientFrameEncoder`: byte for byte what NIO's `WebSocketFrameEncoder` writes, for
/// every length class, key and flag, and frames NIO's decoder reads back.
@Suite("WebSocket client frame encoder")
struct WebSocketClientFrameEncoderTests {
    /// Everything `handler` writes for `frame`, joined.
    private func encoded(_ frame: WebSocketFrame, by handler: some ChannelOutboundHandler) throws -> ByteBuffer {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.writeOutbound(frame)
        var joined = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { joined.writeBuffer(&part) }
        _ = try channel.finish()
        return joined
    }

    @Test("the same bytes as NIO's encoder: lengths around 125, 126 and 65,535, with and without a key, extension data, every flag")
    func matchesNIO() throws {
        var generator = SystemRandomNumberGenerator()
        let lengths = [0, 1, 7, 8, 9, 125, 126, 127, 640, 6400, 65_535, 65_536, 70_001]
        for length in lengths {
            for masked in [true, false] {
                let data = ByteBuffer(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
                let key = masked ? WebSocketMaskingKey.random(using: &generator) : nil
                let frame = WebSocketFrame(fin: length % 2 == 0, rsv1: length == 7, opcode: length == 1 ? .text : .binary, maskKey: key, data: data)
                let ours = try encoded(frame, by: WebSocketClientFrameEncoder())
                let nio = try encoded(frame, by: WebSocketFrameEncoder())
                #expect(ours == nio, "\(length) bytes, masked: \(masked)")
            }
        }
        let withExtension = WebSocketFrame(
            fin: true, rsv2: true, rsv3: true, opcode: .binary, maskKey: .random(using: &generator), data: ByteBuffer(bytes: [1, 2, 3, 4, 5]),
            extensionData: ByteBuffer(bytes: [9, 8, 7]))
        #expect(try encoded(withExtension, by: WebSocketClientFrameEncoder()) == encoded(withExtension, by: WebSocketFrameEncoder()))
    }
}
