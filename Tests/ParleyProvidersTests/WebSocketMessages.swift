import Foundation
import NIOCore
import ParleyProviders

extension ProviderWebSocketConnection {
    /// Every message until the connection ends. A TCP reset ends it like a connection closed
    /// without a close frame (`.closed(code: nil, …)`): whether a fake that drops a connection
    /// sends FIN or RST depends on whether bytes it had not read were waiting, which is timing.
    func allMessages() async throws -> [ProviderWebSocket.Message] {
        var received: [ProviderWebSocket.Message] = []
        do {
            for try await message in messages { received.append(message) }
        } catch let error as IOError where error.errnoCode == ECONNRESET {
            received.append(.closed(code: nil, reason: "connection reset"))
        }
        return received
    }
}

extension ProviderWebSocket.Message {
    /// Whether this is the end of a connection that closed without a close frame (FIN or reset).
    var isCloseWithoutFrame: Bool {
        if case .closed(nil, _) = self { true } else { false }
    }
}
