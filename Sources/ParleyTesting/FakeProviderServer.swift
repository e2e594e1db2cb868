public import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import ParleyCore
public import ParleyProviders
import Synchronization

/// A loopback HTTP and WebSocket server that the fake providers are built on.
///
/// Written on SwiftNIO rather than a web framework because a fake must answer exactly as the
/// provider does, including a refused WebSocket upgrade with the provider's own status and body
/// (Deepgram's 401, ElevenLabs' 403) and connections dropped mid-stream.
public struct FakeProviderServer: Sendable {
    /// Decides a WebSocket upgrade request.
    public typealias UpgradeDecider = @Sendable (FakeRequest) async -> FakeUpgrade
    /// Answers a plain HTTP request.
    public typealias HTTPResponder = @Sendable (FakeRequest, FakeResponseWriter) async throws -> Void

    let decideUpgrade: UpgradeDecider
    let respond: HTTPResponder

    /// Creates a server; requests without a WebSocket upgrade go to `http`.
    public init(
        webSocket: @escaping UpgradeDecider = { _ in .reject(status: 404, body: "not found") },
        http: @escaping HTTPResponder = { _, response in try await response.send(status: 404, body: "not found") }
    ) {
        self.decideUpgrade = webSocket
        self.respond = http
    }

    /// The fakes' event loops, apart from the singleton loops that the code under test uses: a
    /// server session runs its Swift code on its connection's loop, and a fake sharing that loop
    /// would see its requests late whenever the session works, as no remote provider does.
    static let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)

    /// Listens on 127.0.0.1 at a free port, runs `body` with the port, then stops.
    public func run<Result: Sendable>(_ body: @Sendable (Int) async throws -> Result) async throws -> Result {
        let server = try await ServerBootstrap(group: Self.eventLoops)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture { try configure(channel) }
            }
        guard let port = server.channel.localAddress?.port else { throw CancellationError() }
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                try await server.executeThenClose { connections in
                    // Discarding group: finished connections must not pile up as unread results.
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            // Each connection's tasks run on the loop that reads its socket, as the
                            // server's sessions do: on the cooperative pool every message crossed
                            // threads twice (the load generator of `parley-bench capacity`). Its
                            // pacing sleeps (`FakeClock`) are that loop's timers too.
                            group.addTask(executorPreference: EventLoopTaskExecutor(eventLoop: connection.eventLoop)) {
                                await RealTimeTimers.$current.withValue(EventLoopTimer(eventLoop: connection.eventLoop)) {
                                    await serve(connection)
                                }
                            }
                        }
                    }
                }
                return nil
            }
            let result = try await body(port)
            group.cancelAll()
            return result
        }
    }

    enum Connection: Sendable {
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, FakeRequest, FakeUpgrade.Handler)
        case http(NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, FakeUpgrade?)
    }

    /// The decision for one connection's upgrade request, handed from `shouldUpgrade` to the
    /// pipeline handlers that run after it.
    final class Decision: Sendable {
        let value = Mutex<(FakeRequest, FakeUpgrade)?>(nil)
    }

    private func configure(_ channel: any Channel) throws -> EventLoopFuture<Connection> {
        let decision = Decision()
        let decider = decideUpgrade
        let upgrader = NIOTypedWebSocketServerUpgrader<Connection>(
            maxFrameSize: 1 << 22,
            shouldUpgrade: { channel, head in
                let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                promise.completeWithTask {
                    let request = FakeRequest(head: head, body: [])
                    let upgrade = await decider(request)
                    if case .stall(let limit) = upgrade {
                        await FakeProviderServer.hold(channel, upTo: limit)
                        throw ChannelError.ioOnClosedChannel
                    }
                    decision.value.withLock { $0 = (request, upgrade) }
                    guard case .accept(let headers, _) = upgrade else { return nil }
                    return HTTPHeaders(headers)
                }
                return promise.futureResult
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    guard let (request, upgrade) = decision.value.withLock({ $0 }), case .accept(_, let handler) = upgrade else {
                        throw ChannelError.inappropriateOperationForState
                    }
                    let socket = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel)
                    return .webSocket(socket, request, handler)
                }
            })
        let configuration = NIOUpgradableHTTPServerPipelineConfiguration(
            upgradeConfiguration: .init(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let http = try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                        return .http(http, decision.value.withLock { $0?.1 })
                    }
                }))
        return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
    }

    /// Waits until the client closes `channel` or `limit` passes, then closes it: how a fake
    /// holds back its first byte without outliving the client that gave up on it.
    static func hold(_ channel: any Channel, upTo limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await FakeClock.sleep(for: limit)
                channel.close(promise: nil)
            }
            // Completes when the client closes (or the sleep above closed it).
            group.addTask { try? await channel.closeFuture.get() }
            await group.next()
            group.cancelAll()
        }
    }

    private func serve(_ connection: EventLoopFuture<Connection>) async {
        do {
            switch try await connection.get() {
            case .webSocket(let channel, _, let handler):
                try await channel.executeThenClose { inbound, outbound in
                    let socket = FakeWebSocket(
                        connection: ProviderWebSocketConnection(
                            inbound: inbound, outbound: outbound, maximumMessageSize: 1 << 22, masksFrames: false),
                        channel: channel.channel)
                    try await handler(socket)
                }
            case .http(let channel, let refusedUpgrade):
                try await channel.executeThenClose { inbound, outbound in
                    try await serveHTTP(inbound: inbound, outbound: outbound, channel: channel.channel, refusedUpgrade: refusedUpgrade)
                }
            }
        } catch {
            // A client that went away mid-request is normal for a fake (cancelled replies).
        }
    }

    private func serveHTTP(
        inbound: NIOAsyncChannelInboundStream<HTTPServerRequestPart>, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        channel: any Channel, refusedUpgrade: FakeUpgrade?
    ) async throws {
        if case .reject(let status, let headers, let text) = refusedUpgrade {
            // NIO consumed the upgrade request's head while asking us, so answer at once.
            let writer = FakeResponseWriter(outbound: outbound, channel: channel)
            try await writer.send(status: status, headers: headers + [("Connection", "close")], body: text)
            return
        }
        var head: HTTPRequestHead?
        var body: [UInt8] = []
        for try await part in inbound {
            switch part {
            case .head(let requestHead):
                head = requestHead
                body = []
            case .body(let buffer):
                guard body.count + buffer.readableBytes <= FakeRequest.maximumBodySize else {
                    let writer = FakeResponseWriter(outbound: outbound, channel: channel)
                    try await writer.send(status: 413, body: #"{"error":{"message":"Request Entity Too Large","type":"invalid_request_error"}}"#)
                    return
                }
                body.append(contentsOf: buffer.readableBytesView)
            case .end:
                guard let requestHead = head else { return }
                let request = FakeRequest(head: requestHead, body: body)
                let writer = FakeResponseWriter(outbound: outbound, channel: channel)
                try await respond(request, writer)
                try await writer.finish()
                if writer.aborted { return }
                head = nil
            }
        }
    }
}

/// What a fake decides about a WebSocket upgrade request.
public enum FakeUpgrade: Sendable {
    /// Serves an accepted WebSocket; the connection closes when the handler returns.
    public typealias Handler = @Sendable (FakeWebSocket) async throws -> Void

    /// Upgrade, adding `headers` to the 101 response, and run `handler`.
    case accept(headers: [(String, String)] = [], handler: Handler)
    /// Refuse with an HTTP response, as providers do for a bad key or bad parameters.
    case reject(status: Int, headers: [(String, String)] = [], body: String)
    /// Never answer: hold the request until the client gives up or `limit` passes, then drop
    /// the connection.
    case stall(limit: Duration)
}

/// A request as the fake saw it.
public struct FakeRequest: Sendable {
    /// The largest request body a fake reads (larger ones get HTTP 413).
    public static let maximumBodySize = 8 << 20

    /// `GET`, `POST`, …
    public var method: String
    /// The path without the query, percent-decoded.
    public var path: String
    /// Query items in order, repeats kept, percent-decoded (`+` as space).
    public var query: [(String, String)]
    /// Header fields in order.
    public var headers: [(String, String)]
    /// The body.
    public var body: [UInt8]

    init(head: HTTPRequestHead, body: [UInt8]) {
        method = head.method.rawValue
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        query = parts.count > 1 ? Self.parseQuery(String(parts[1])) : []
        headers = head.headers.map { ($0.name, $0.value) }
        self.body = body
    }

    /// The first value of query item `name`.
    public func queryValue(_ name: String) -> String? {
        query.first { $0.0 == name }?.1
    }

    /// Every value of query item `name`.
    public func queryValues(_ name: String) -> [String] {
        query.filter { $0.0 == name }.map(\.1)
    }

    /// The first value of header `name`, compared without case.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    static func parseQuery(_ query: String) -> [(String, String)] {
        query.split(separator: "&").map { item in
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            return (decode(pair[0]), pair.count > 1 ? decode(pair[1]) : "")
        }
    }
}

/// The server side of an accepted WebSocket.
public struct FakeWebSocket: Sendable {
    let connection: ProviderWebSocketConnection
    let channel: any Channel

    /// Sends a text message.
    public func send(text: String) async throws { try await connection.send(text: text) }
    /// Sends a binary message.
    public func send(binary bytes: [UInt8]) async throws { try await connection.send(binary: bytes) }
    /// Sends a close frame with `code` and `reason`.
    public func close(code: Int, reason: String = "") async throws { try await connection.close(code: code, reason: reason) }
    /// Sends a close frame, then reads until the client's close comes back (at most `timeout`), as
    /// a server does before ending the TCP connection (RFC 6455 §7.1.1): ending it at once can
    /// reset the connection and lose the close frame. For handlers that are not reading already.
    public func closeAwaitingReply(code: Int, reason: String = "", timeout: Duration = .seconds(2)) async {
        guard (try? await close(code: code, reason: reason)) != nil else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await message in messages {
                        if case .closed = message { return }
                    }
                } catch {}
            }
            group.addTask { try? await FakeClock.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }
    /// Drops the TCP connection without a close frame, as a crashed server or a broken network does.
    public func abort() { channel.close(promise: nil) }
    /// The client's messages, ending with `.closed`.
    public var messages: ProviderWebSocketConnection.Messages { connection.messages }
}

/// Writes one HTTP response, all at once or streamed in chunks.
public final class FakeResponseWriter: Sendable {
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    private let channel: any Channel
    private let state = Mutex(State.idle)

    private enum State { case idle, streaming, ended, aborted }

    init(outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, channel: any Channel) {
        self.outbound = outbound
        self.channel = channel
    }

    /// Starts the response; without a `Content-Length` the body is sent chunked.
    public func writeHead(status: Int, headers: [(String, String)] = []) async throws {
        var fields = HTTPHeaders(headers)
        if !fields.contains(name: "Content-Length") && !fields.contains(name: "Transfer-Encoding") {
            fields.add(name: "Transfer-Encoding", value: "chunked")
        }
        state.withLock { $0 = .streaming }
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: fields)))
    }

    /// Sends one piece of the body (one chunk when chunked), flushed at once.
    public func write(_ bytes: some Collection<UInt8>) async throws {
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
    }

    /// Ends the response.
    public func end() async throws {
        let wasStreaming = state.withLock { state in
            defer { if state == .streaming { state = .ended } }
            return state == .streaming
        }
        if wasStreaming { try await outbound.write(.end(nil)) }
    }

    /// Sends a whole response with a body.
    public func send(status: Int, headers: [(String, String)] = [], body: String) async throws {
        let bytes = Array(body.utf8)
        try await writeHead(status: status, headers: headers + [("Content-Length", "\(bytes.count)")])
        if !bytes.isEmpty { try await write(bytes) }
        try await end()
    }

    /// Sends nothing until the client gives up or `limit` passes, then drops the connection: a
    /// server that never answers, which only the client's deadline can catch.
    public func stall(upTo limit: Duration) async {
        state.withLock { $0 = .aborted }
        await FakeProviderServer.hold(channel, upTo: limit)
    }

    /// Drops the connection mid-response.
    public func abort() {
        state.withLock { $0 = .aborted }
        channel.close(promise: nil)
    }

    var aborted: Bool { state.withLock { $0 == .aborted } }

    /// Ends a response the responder left open; answers 500 if it wrote nothing.
    func finish() async throws {
        switch state.withLock({ $0 }) {
        case .idle: try await send(status: 500, body: "the fake wrote no response")
        case .streaming: try await end()
        case .ended, .aborted: break
        }
    }
}
