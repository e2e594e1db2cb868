import HummingbirdWebSocket
import NIOCore
import ParleyCore

/// Writes session events to a WebSocket: audio as binary PCM16LE frames, everything else as JSON text.
struct WebSocketSessionOutput: SessionOutput {
    let outbound: WebSocketOutboundWriter
    let allocator = ByteBufferAllocator()

    func send(_ event: SessionEvent) async throws {
        if case .agentAudio(_, let samples) = event {
            var buffer = allocator.buffer(capacity: samples.count * 2)
            PCM.withLittleEndianBytes(samples) { buffer.writeBytes($0) }
            try await outbound.write(.binary(buffer))
        } else if let text = WireProtocol.encode(event) {
            try await outbound.write(.text(text))
        }
    }
}
