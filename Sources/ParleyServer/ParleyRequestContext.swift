import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of Parley's routes: Hummingbird's WebSocket context plus the connection's
/// channel, through which a refused upgrade sets its status (``HandshakeRefusalHandler``).
struct ParleyRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    /// The connection.
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}
