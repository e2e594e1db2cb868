import NIOCore
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
