import Foundation
public import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// A client WebSocket to a provider (Deepgram, ElevenLabs), built on SwiftNIO so that what the
/// provider says when it refuses the handshake (the HTTP status and body) and when it closes (the
/// close code and reason) reach the caller — both decide which error the user sees.
///
/// ``connect(to:headers:maximumMessageSize:timeout:_:)`` is scoped: the connection lives for the
/// body and is closed when it returns or throws. Cancelling the body's task closes the socket.
public enum ProviderWebSocket {
    /// A message from the server.
    public enum Message: Sendable, Equatable {
        /// A text message.
        case text(String)
        /// A binary message.
        case binary([UInt8])
        /// The server closed the connection (the last element). `code` is nil when the
        /// connection ended without a close frame.
        case closed(code: Int?, reason: String)
    }

    /// The server answered the upgrade request with an HTTP status other than 101.
    public struct HandshakeRejected: Error, Sendable, CustomStringConvertible {
        /// The HTTP status.
        public var status: Int
        /// The response body (first 4 KiB), often a JSON error.
        public var body: String
        /// A response header that explains the refusal (Deepgram's `dg-error`), if any.
        public var reasonHeader: String?

        public var description: String { "HTTP \(status)\(body.isEmpty ? "" : ": \(body.prefix(200))")" }
    }

    /// The server broke the WebSocket protocol or sent a message over the size limit.
    public struct ProtocolViolation: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Connects to `url` (`ws://` or `wss://`), runs `body` with the open connection, and closes it.
    ///
    /// Throws ``HandshakeRejected`` when the server refuses the upgrade; connection failures and
    /// timeouts are thrown as NIO's errors (`ChannelError.connectTimeout`, `IOError`).
    public static func connect<Result: Sendable>(
        to address: String,
        headers: [(String, String)] = [],
        maximumMessageSize: Int = 1 << 22,
        timeout: Duration = .seconds(10),
        _ body: (ProviderWebSocketConnection) async throws -> Result
    ) async throws -> Result {
        guard let url = URL(string: address), let scheme = url.scheme?.lowercased(), scheme == "ws" || scheme == "wss", let host = url.host,
            !host.isEmpty
        else {
            throw ProtocolViolation(description: "not a ws:// or wss:// URL: \(address)")
        }
        let secure = scheme == "wss"
        let port = url.port ?? (secure ? 443 : 80)
        var path = url.path(percentEncoded: true).isEmpty ? "/" : url.path(percentEncoded: true)
        if let query = url.query(percentEncoded: true) { path += "?\(query)" }
        var requestHeaders = HTTPHeaders()
        requestHeaders.add(name: "Host", value: url.port.map { "\(host):\($0)" } ?? host)
        requestHeaders.add(name: "User-Agent", value: "parley/1")
        for (name, value) in headers { requestHeaders.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: requestHeaders)
        let sslContext = secure ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil

        // On the caller's event loop when it runs on one (a server session runs on its caller's
        // connection's loop): the socket's reads and writes then stay on that thread.
        let loop: any EventLoopGroup = MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton
        let pending = try await ClientBootstrap(group: loop)
            .connectTimeout(.nanoseconds(timeout.nanoseconds))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: host)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                    let upgrade = try configureUpgrade(channel: channel, head: head, maximumMessageSize: maximumMessageSize)
                    return PendingUpgrade(channel: channel, result: upgrade)
                }
            }
        // A server that accepts TCP but never answers the upgrade is closed after `timeout`.
        let timer = pending.channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            pending.channel.close(promise: nil)
        }
        let result: UpgradeResult
        do {
            result = try await withTaskCancellationHandler {
                try await pending.result.get()
            } onCancel: {
                pending.channel.close(promise: nil)
            }
            timer.cancel()
        } catch {
            timer.cancel()
            try Task.checkCancellation()
            if (try? await timer.futureResult.get()) != nil {
                throw ChannelError.connectTimeout(.nanoseconds(timeout.nanoseconds))
            }
            throw error
        }
        switch result {
        case .rejected(let rejection):
            throw try await rejection.get()
        case .upgraded(let channel):
            return try await channel.executeThenClose { inbound, outbound in
                let connection = ProviderWebSocketConnection(
                    inbound: inbound, outbound: outbound, maximumMessageSize: maximumMessageSize, eventLoop: channel.channel.eventLoop)
                // Leaving the body (normally, by error or by cancellation) closes the TCP connection.
                return try await body(connection)
            }
        }
    }

    enum UpgradeResult: Sendable {
        case upgraded(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case rejected(EventLoopFuture<HandshakeRejected>)
    }

    private static func configureUpgrade(
        channel: any Channel, head: HTTPRequestHead, maximumMessageSize: Int
    ) throws -> EventLoopFuture<UpgradeResult> {
        let upgrader = WebSocketClientUpgrader<UpgradeResult>(
            maximumFrameSize: maximumMessageSize,
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    .upgraded(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                }
            })
        let configuration = NIOTypedHTTPClientUpgradeConfiguration<UpgradeResult>(
            upgradeRequestHead: head,
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                // The refused response follows once this returns: a handler reads its status and body.
                let promise = channel.eventLoop.makePromise(of: HandshakeRejected.self)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RejectionReader(promise: promise))
                    return .rejected(promise.futureResult)
                }
            })
        var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
        pipeline.leftOverBytesStrategy = .forwardBytes
        return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
    }
}

/// A connection whose upgrade is under way.
private struct PendingUpgrade: Sendable {
    let channel: any Channel
    let result: EventLoopFuture<ProviderWebSocket.UpgradeResult>
}

/// Collects a refused upgrade's HTTP response.
private final class RejectionReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    let promise: EventLoopPromise<ProviderWebSocket.HandshakeRejected>
    var status = 0
    var reasonHeader: String?
    var body = ByteBuffer()
    var finished = false

    init(promise: EventLoopPromise<ProviderWebSocket.HandshakeRejected>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            reasonHeader = head.headers.first(name: "dg-error")
        case .body(var part):
            if body.readableBytes < 4096 { body.writeBuffer(&part) }
        case .end:
            finish(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context: context)
    }

    private func finish(context: ChannelHandlerContext) {
        guard !finished else { return }
        finished = true
        let text = String(buffer: body.getSlice(at: body.readerIndex, length: min(body.readableBytes, 4096)) ?? ByteBuffer())
        promise.succeed(.init(status: status, body: text, reasonHeader: reasonHeader))
        context.close(promise: nil)
    }
}
