import ParleyProviders
import ParleyTesting
import Testing

@Suite("Provider WebSocket client")
struct ProviderWebSocketTests {
    /// An echo server at /echo that refuses upgrades without `Authorization: Token good` with a
    /// 401, a JSON body and a `dg-error` header, and closes with 1011 when told "fail".
    static let echoServer = FakeProviderServer(webSocket: { request in
        guard request.path == "/echo" else { return .reject(status: 404, body: "no such path") }
        guard request.header("authorization") == "Token good" else {
            return .reject(status: 401, headers: [("dg-error", "Invalid credentials")], body: #"{"err_msg":"Invalid credentials."}"#)
        }
        return .accept { socket in
            for try await message in socket.messages {
                switch message {
                case .text("fail"):
                    try await socket.close(code: 1011, reason: "NET-0000")
                case .text("drop"):
                    socket.abort()
                case .text(let text):
                    try await socket.send(text: "echo: \(text)")
                case .binary(let bytes):
                    try await socket.send(binary: bytes)
                case .closed(let code, _):
                    try? await socket.close(code: code ?? 1000)
                    return
                }
            }
        }
    })

    @Test("messages go both ways, text and binary, and a normal close is reported")
    func echo() async throws {
        try await Self.echoServer.run { port in
            let received = try await ProviderWebSocket.connect(
                to: "ws://127.0.0.1:\(port)/echo?x=1", headers: [("Authorization", "Token good")]
            ) { connection in
                try await connection.send(text: "hello")
                try await connection.send(binary: [1, 2, 3])
                try await connection.close()
                var messages: [ProviderWebSocket.Message] = []
                for try await message in connection.messages { messages.append(message) }
                return messages
            }
            #expect(received == [.text("echo: hello"), .binary([1, 2, 3]), .closed(code: 1000, reason: "")])
        }
    }

    @Test("a refused handshake reports the HTTP status, body and reason header")
    func refused() async throws {
        try await Self.echoServer.run { port in
            let error = await #expect(throws: ProviderWebSocket.HandshakeRejected.self) {
                try await ProviderWebSocket.connect(to: "ws://127.0.0.1:\(port)/echo", headers: [("Authorization", "Token bad")]) { _ in }
            }
            #expect(error?.status == 401)
            #expect(error?.body.contains("Invalid credentials") == true)
            #expect(error?.reasonHeader == "Invalid credentials")
        }
    }

    @Test("the server's close code and reason reach the reader")
    func closeCode() async throws {
        try await Self.echoServer.run { port in
            let last = try await ProviderWebSocket.connect(
                to: "ws://127.0.0.1:\(port)/echo", headers: [("Authorization", "Token good")]
            ) { connection in
                try await connection.send(text: "fail")
                var last: ProviderWebSocket.Message?
                for try await message in connection.messages { last = message }
                return last
            }
            #expect(last == .closed(code: 1011, reason: "NET-0000"))
        }
    }

    @Test("a dropped connection ends the messages with a close without a code")
    func dropped() async throws {
        try await Self.echoServer.run { port in
            let last = try await ProviderWebSocket.connect(
                to: "ws://127.0.0.1:\(port)/echo", headers: [("Authorization", "Token good")]
            ) { connection in
                try await connection.send(text: "drop")
                var last: ProviderWebSocket.Message?
                for try await message in connection.messages { last = message }
                return last
            }
            guard case .closed(let code, _) = last else {
                Issue.record("expected a close, got \(String(describing: last))")
                return
            }
            #expect(code == nil)
        }
    }

    @Test("a refused TCP connection is an error, not a hang")
    func unreachable() async throws {
        let port = try await FakeProviderServer().run { $0 }
        await #expect(throws: (any Error).self) {
            try await ProviderWebSocket.connect(to: "ws://127.0.0.1:\(port)/x") { _ in }
        }
    }

    @Test("a URL that is not ws or wss is refused before connecting")
    func badURL() async throws {
        await #expect(throws: ProviderWebSocket.ProtocolViolation.self) {
            try await ProviderWebSocket.connect(to: "ftp://example.com/") { _ in }
        }
    }
}
