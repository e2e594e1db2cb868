public import NIOCore
package import NIOWebSocket

/// An open client WebSocket: send text and binary messages, read the server's messages.
///
/// Sending is safe from several tasks at once; reading (``messages``) belongs to one task. Pings
/// are answered while reading; fragmented messages are joined; every frame sent is masked, as the
/// protocol requires of clients.
public struct ProviderWebSocketConnection: Sendable {
    private let inbound: NIOAsyncChannelInboundStream<WebSocketFrame>
    private let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
    private let maximumMessageSize: Int
    /// The frames' masking keys; nil on the server side, which does not mask.
    private let maskingKeys: MaskingKeySource?
    /// The event loop of the socket (nil where the creator did not say).
    package let eventLoop: (any EventLoop)?

    /// Wraps an upgraded channel; `masksFrames` is true for clients (RFC 6455 §5.3) and false for
    /// the server side used by the test fakes.
    package init(
        inbound: NIOAsyncChannelInboundStream<WebSocketFrame>, outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>,
        maximumMessageSize: Int, masksFrames: Bool = true, eventLoop: (any EventLoop)? = nil
    ) {
        self.eventLoop = eventLoop
        self.inbound = inbound
        self.outbound = outbound
        self.maximumMessageSize = maximumMessageSize
        self.maskingKeys = masksFrames ? MaskingKeySource() : nil
    }

    /// Sends a text message.
    public func send(text: String) async throws {
        try await outbound.write(frame(.text, ByteBuffer(string: text)))
    }

    /// Sends a binary message; empty messages are not sent (some servers read them as end of stream).
    public func send(binary bytes: some Collection<UInt8>) async throws {
        guard !bytes.isEmpty else { return }
        try await outbound.write(frame(.binary, ByteBuffer(bytes: bytes)))
    }

    /// Sends a close frame; the server answers with its own and ``messages`` then ends.
    public func close(code: Int = 1000, reason: String = "") async throws {
        try await outbound.write(closeFrame(code: WebSocketErrorCode(codeNumber: code), reason: reason))
    }

    /// The server's messages, ending with ``ProviderWebSocket/Message/closed(code:reason:)``.
    public var messages: Messages {
        Messages(connection: self)
    }

    /// The server's messages.
    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = ProviderWebSocket.Message
        let connection: ProviderWebSocketConnection

        public func makeAsyncIterator() -> Iterator {
            Iterator(connection: connection, frames: connection.inbound.makeAsyncIterator())
        }

        /// Reads frames and assembles messages.
        public struct Iterator: AsyncIteratorProtocol {
            let connection: ProviderWebSocketConnection
            var frames: NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator
            var partial: (opcode: WebSocketOpcode, data: ByteBuffer)?
            var done = false

            public mutating func next() async throws -> ProviderWebSocket.Message? {
                guard !done else { return nil }
                while true {
                    guard let frame = try await frames.next() else {
                        done = true
                        return .closed(code: nil, reason: "the connection ended without a close frame")
                    }
                    switch frame.opcode {
                    case .ping:
                        try? await connection.outbound.write(connection.frame(.pong, frame.unmaskedData))
                    case .pong:
                        continue
                    case .connectionClose:
                        done = true
                        var data = frame.unmaskedData
                        let code = data.readInteger(as: UInt16.self).map(Int.init)
                        let reason = data.readString(length: data.readableBytes) ?? ""
                        // Echo the close (RFC 6455 §5.5.1); the server then ends the TCP connection.
                        let echo = connection.closeFrame(
                            code: code.map { WebSocketErrorCode(codeNumber: $0) } ?? .normalClosure, reason: "")
                        try? await connection.outbound.write(echo)
                        return .closed(code: code, reason: reason)
                    case .text, .binary:
                        guard partial == nil else { throw violation("a new message began inside a fragmented one") }
                        if frame.fin { return try message(frame.opcode, frame.unmaskedData) }
                        partial = (frame.opcode, frame.unmaskedData)
                    case .continuation:
                        guard var current = partial else { throw violation("a continuation frame without a message") }
                        var data = frame.unmaskedData
                        current.data.writeBuffer(&data)
                        guard current.data.readableBytes <= connection.maximumMessageSize else {
                            throw violation("a message over \(connection.maximumMessageSize) bytes")
                        }
                        partial = frame.fin ? nil : current
                        if frame.fin { return try message(current.opcode, current.data) }
                    default:
                        throw violation("unknown opcode \(frame.opcode)")
                    }
                }
            }

            private func message(_ opcode: WebSocketOpcode, _ data: ByteBuffer) throws -> ProviderWebSocket.Message {
                if opcode == .text {
                    guard let text = String(validatingUTF8Bytes: data.readableBytesView) else {
                        throw violation("a text message that is not UTF-8")
                    }
                    return .text(text)
                }
                return .binary(Array(data.readableBytesView))
            }

            private func violation(_ what: String) -> ProviderWebSocket.ProtocolViolation {
                ProviderWebSocket.ProtocolViolation(description: "the server sent \(what)")
            }
        }
    }

    func frame(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: opcode, maskKey: maskingKeys?.next(), data: data)
    }

    func closeFrame(code: WebSocketErrorCode, reason: String) -> WebSocketFrame {
        var data = ByteBuffer()
        data.write(webSocketErrorCode: code)
        data.writeString(String(reason.utf8.prefix(120)) ?? "")
        return frame(.connectionClose, data)
    }
}

extension String {
    /// Decodes UTF-8, or nil when the bytes are not valid UTF-8.
    init?(validatingUTF8Bytes bytes: some Collection<UInt8>) {
        guard let decoded = String(validating: bytes, as: UTF8.self) else { return nil }
        self = decoded
    }
}
