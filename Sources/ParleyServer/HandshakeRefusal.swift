import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import Synchronization

/// Gives a refused WebSocket upgrade its real status (403 for a foreign origin, 503 while draining
/// or full) and a one-line reason.
///
/// Hummingbird's WebSocket channel answers every upgrade its `shouldUpgrade` declines with a bare
/// `400 Bad Request` and offers no hook to change it. This handler sits at the socket end of each
/// connection's pipeline, where every outbound message is bytes: the route records the refusal
/// here before declining (``decline(on:status:reason:)``), and the handler swaps that 400 for the
/// real answer. Everything else, WebSocket frames included, passes through untouched. (Written by
/// hand because no library offers it; a handler between the HTTP encoder and the upgrader stalled
/// successful upgrades.)
final class HandshakeRefusalHandler: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private struct Refusal {
        var status: HTTPResponse.Status
        var reason: String
    }
    private let pending = Mutex<Refusal?>(nil)
    private static let badRequest = Array("HTTP/1.1 400".utf8)

    /// Records the status and reason for the upgrade being declined on this connection.
    func refuse(_ status: HTTPResponse.Status, reason: String) {
        pending.withLock { $0 = Refusal(status: status, reason: reason) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(let buffer) = unwrapOutboundIn(data),
            buffer.readableBytesView.starts(with: Self.badRequest),
            let refusal = pending.withLock({ state in
                defer { state = nil }
                return state
            })
        else {
            context.write(data, promise: promise)
            return
        }
        let body = refusal.reason + "\n"
        let response =
            "HTTP/1.1 \(refusal.status.code) \(refusal.status.reasonPhrase)\r\nConnection: close\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        context.write(wrapOutboundOut(.byteBuffer(context.channel.allocator.buffer(string: response))), promise: promise)
    }

    /// Declines an upgrade on `channel` with `status`: records it for the connection's handler,
    /// then throws the matching error (which makes Hummingbird decline the upgrade; a request
    /// without upgrade headers gets the error as its response).
    static func decline(on channel: (any Channel)?, status: HTTPResponse.Status, reason: String) async throws -> Never {
        if let handler = try? await channel?.pipeline.handler(type: HandshakeRefusalHandler.self).get() {
            handler.refuse(status, reason: reason)
        }
        throw HTTPError(status, message: reason)
    }
}

/// Hummingbird's HTTP/1 channel with WebSocket upgrade, plus a ``HandshakeRefusalHandler`` in each
/// connection's pipeline.
struct RefusingWebSocketUpgradeChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let base: HTTP1WebSocketUpgradeChannel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(HandshakeRefusalHandler(), position: .first)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with WebSocket upgrades on `router`, refused upgrades answered with their real status.
    static func parleyWebSocketUpgrade(
        router: Router<ParleyRequestContext>, configuration: WebSocketServerConfiguration
    ) -> HTTPServerBuilder {
        let webSocketResponder = router.buildResponder()
        return .init { responder in
            RefusingWebSocketUpgradeChannel(
                base: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder, configuration: .init(ws: configuration)))
        }
    }
}
