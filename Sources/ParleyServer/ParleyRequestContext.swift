import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of Parley's routes: Hummingbird's WebSocket context plus the connection's
/// channel, through which a refused upgrade sets its status (``HandshakeRefusalHandler``).
struct ParleyRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    /// The connection, while it is open. Weak: hummingbird-websocket (2.8.1 and its main branch)
    /// never releases the context of an upgraded connection, because `webSocket`'s box holds a copy
    /// of the context that holds the box; a strong reference here kept every closed connection's
    /// channel and buffers alive with it (found by AddressSanitizer's leak check).
    weak var channel: (any Channel)?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}
