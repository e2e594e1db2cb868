import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing

@testable import ParleyServer

/// ``WebSocketReadTap`` in a pipeline like Hummingbird's (NIO's frame decoder, then what stands for
/// Hummingbird's stream: the test channel's inbound buffer): what it takes on the event loop, what
/// it leaves to the reader, and that the session sees the client's order either way.
@Suite("WebSocket read tap")
struct WebSocketReadTapTests {
    /// What `take` was given, and what it answers: binary frames are taken, except "defer" and
    /// "stop"; text frames are deferred.
    final class Taker: Sendable {
        let taken = Mutex<[String]>([])

        func take(_ opcode: WebSocketOpcode, _ payload: ByteBuffer) -> WebSocketReadTap.Verdict {
            let text = String(buffer: payload)
            guard opcode == .binary, text != "defer" else { return .deferred }
            if text == "stop" { return .stop }
            taken.withLock { $0.append(text) }
            return .taken
        }

        var all: [String] { taken.withLock { $0 } }
    }

    /// An unmasked client frame with a payload under 126 bytes.
    static func frame(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(fin ? 0x80 : 0) | UInt8(webSocketOpcode: opcode))
        buffer.writeInteger(UInt8(text.utf8.count))
        buffer.writeString(text)
        return buffer
    }

    /// What reached Hummingbird's side so far: payloads as text, markers by name.
    static func passed(_ channel: NIOAsyncTestingChannel, _ tap: WebSocketReadTap.Handle?) async throws -> [String] {
        var passed: [String] = []
        while let frame = try await channel.readInbound(as: WebSocketFrame.self) {
            switch frame.unmaskedData {
            case tap?.startMarker: passed.append("<start>")
            case tap?.stopMarker: passed.append("<stop>")
            case let data: passed.append("\(Self.name(of: frame.opcode)):\(String(buffer: data))")
            }
        }
        return passed
    }

    /// What the reader does after the start marker and after each deferred message.
    static func release(_ tap: WebSocketReadTap.Handle, _ channel: NIOAsyncTestingChannel) async {
        tap.release()
        await channel.testingEventLoop.run()
    }

    static func name(of opcode: WebSocketOpcode) -> String {
        switch opcode {
        case .text: "text"
        case .binary: "binary"
        case .continuation: "continuation"
        case .ping: "ping"
        case .pong: "pong"
        case .connectionClose: "close"
        default: "other"
        }
    }

    func decodingChannel() async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(ByteToMessageHandler(WebSocketFrameDecoder()))
        return channel
    }

    @Test("frames read before the tap come first; then binary frames are taken on the loop, in order with the deferred ones")
    func order() async throws {
        let channel = try await decodingChannel()
        let taker = Taker()
        try await channel.writeInbound(Self.frame(.binary, "early"))
        let tap = try #require(await WebSocketReadTap.install(on: channel) { taker.take($0, $1) })
        // Held until the reader reaches the start marker, which follows the early frame.
        try await channel.writeInbound(Self.frame(.binary, "a"))
        #expect(try await Self.passed(channel, tap) == ["binary:early", "<start>"])
        #expect(taker.all.isEmpty)
        await Self.release(tap, channel)
        #expect(taker.all == ["a"])
        // A deferred message goes to the reader, and what follows waits until it was handled.
        try await channel.writeInbound(Self.frame(.text, "hello"))
        try await channel.writeInbound(Self.frame(.binary, "b"))
        try await channel.writeInbound(Self.frame(.ping, "p"))
        #expect(try await Self.passed(channel, tap) == ["text:hello"])
        #expect(taker.all == ["a"])
        await Self.release(tap, channel)
        #expect(taker.all == ["a", "b"])
        #expect(try await Self.passed(channel, tap) == ["ping:p"])
        // Control frames pass at once while nothing is held.
        try await channel.writeInbound(Self.frame(.pong, "q"))
        #expect(try await Self.passed(channel, tap) == ["pong:q"])
        // `take` may defer a binary frame too.
        try await channel.writeInbound(Self.frame(.binary, "defer"))
        try await channel.writeInbound(Self.frame(.binary, "c"))
        #expect(try await Self.passed(channel, tap) == ["binary:defer"])
        await Self.release(tap, channel)
        #expect(taker.all == ["a", "b", "c"])
    }

    @Test("a fragmented message goes whole to the reader, frames after it wait; stop ends the reading but not the close handshake")
    func fragmentsAndStop() async throws {
        let channel = try await decodingChannel()
        let taker = Taker()
        let tap = try #require(await WebSocketReadTap.install(on: channel) { taker.take($0, $1) })
        #expect(try await Self.passed(channel, tap) == ["<start>"])
        await Self.release(tap, channel)
        try await channel.writeInbound(Self.frame(.binary, "x", fin: false))
        try await channel.writeInbound(Self.frame(.ping, "p"))
        try await channel.writeInbound(Self.frame(.continuation, "y"))
        try await channel.writeInbound(Self.frame(.binary, "after"))
        #expect(try await Self.passed(channel, tap) == ["binary:x", "ping:p", "continuation:y"])
        #expect(taker.all.isEmpty)
        await Self.release(tap, channel)
        #expect(taker.all == ["after"])
        try await channel.writeInbound(Self.frame(.binary, "stop"))
        try await channel.writeInbound(Self.frame(.binary, "dropped"))
        try await channel.writeInbound(Self.frame(.connectionClose, ""))
        #expect(try await Self.passed(channel, tap) == ["<stop>", "close:"])
        #expect(taker.all == ["after"])
        #expect(!tap.overflowed)
    }

    @Test("a reader that falls maximumHeld frames behind stops the reading, and says so")
    func heldBound() async throws {
        let channel = try await decodingChannel()
        let taker = Taker()
        let tap = try #require(await WebSocketReadTap.install(on: channel) { taker.take($0, $1) })
        for index in 0...WebSocketReadTap.maximumHeld {
            try await channel.writeInbound(Self.frame(.binary, "\(index)"))
        }
        #expect(try await Self.passed(channel, tap) == ["<start>", "<stop>"])
        #expect(tap.overflowed)
        await Self.release(tap, channel)
        #expect(taker.all.isEmpty)
    }

    @Test("a pipeline without NIO's WebSocket decoder gets no tap: the reader reads everything")
    func noDecoder() async throws {
        let channel = NIOAsyncTestingChannel()
        #expect(await WebSocketReadTap.install(on: channel) { _, _ in .taken } == nil)
    }
}
