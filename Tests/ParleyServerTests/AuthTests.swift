import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import ParleyCore
import ParleyServer
import ParleyTesting
import Testing

@Suite("PARLEY_API_KEY: session tokens, the authenticated handshake, the metrics token, Twilio's signed upgrade")
struct AuthTests {
    static let apiKey = "test-api-key-0123456789abcdef"

    func application(
        access: AccessControl = AccessControl(apiKey: AuthTests.apiKey), twilioAuthToken: String? = nil, logger: Logger = Logger(label: "parley.test")
    ) -> some ApplicationProtocol {
        var configuration = ServerConfiguration(port: 0, webRoot: nil, maximumSessions: 8, twilioAuthToken: twilioAuthToken)
        configuration.access = access
        let providers = fakeProviders()
        return buildApplication(configuration: configuration, providers: providers, health: HealthMonitor(providers: providers), logger: logger)
    }

    /// `POST /v1/session-tokens` with `key` as the bearer and `body`.
    static func mint(port: Int, key: String? = AuthTests.apiKey, body: String = "") async throws -> (status: Int, json: JSONValue?) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/session-tokens")
        request.method = .POST
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 16))
        return (Int(response.status.code), JSONValue.parse(text))
    }

    static func token(port: Int, body: String = "") async throws -> String {
        let minted = try await mint(port: port, body: body)
        #expect(minted.status == 200)
        return try #require(minted.json?["token"]?.stringValue)
    }

    @Test("minting: 401 without the key or with a wrong one; 200 with a token, expires_at and expires_in; 400 and 403 for bad requests")
    func minting() async throws {
        try await application(access: AccessControl(apiKey: Self.apiKey, permittedOverrides: [.greeting])).test(.live) { client in
            let port = try #require(client.port)
            #expect(try await Self.mint(port: port, key: nil).status == 401)
            #expect(try await Self.mint(port: port, key: "wrong-key-0123456789abcdef").status == 401)
            let minted = try await Self.mint(port: port)
            #expect(minted.status == 200)
            let token = try #require(minted.json?["token"]?.stringValue)
            #expect(token.split(separator: ".").count == 3)
            #expect(minted.json?["expires_in"] == 300)
            let expiresAt = try #require(minted.json?["expires_at"]?.stringValue)
            let expiry = try #require(ISO8601DateFormatter().date(from: expiresAt))
            #expect(abs(expiry.timeIntervalSinceNow - 300) < 5)
            let short = try await Self.mint(port: port, body: #"{"ttl_seconds": 60, "greeting": "Hello, Ada."}"#)
            #expect(short.status == 200)
            #expect(short.json?["expires_in"] == 60)
            #expect(try await Self.mint(port: port, body: #"{"ttl_seconds": 0}"#).status == 400)
            #expect(try await Self.mint(port: port, body: #"{"ttl_seconds": 99999}"#).status == 400)
            #expect(try await Self.mint(port: port, body: #"{"colour": "red"}"#).status == 400)
            #expect(try await Self.mint(port: port, body: "not json").status == 400)
            #expect(try await Self.mint(port: port, body: #"{"voice": "../../etc"}"#).status == 400)
            let refused = try await Self.mint(port: port, body: #"{"system_prompt": "You are a pirate."}"#)
            #expect(refused.status == 403)
            #expect(refused.json?["error"]?["code"] == "override_not_permitted")
        }
    }

    @Test("without PARLEY_API_KEY the token endpoint answers 404 and /ws needs nothing")
    func open() async throws {
        try await application(access: .open).test(.live) { client in
            let port = try #require(client.port)
            #expect(try await Self.mint(port: port).status == 404)
            #expect(try await RawSocket.handshakeStatus(port: port) == 101)
        }
    }

    @Test("the handshake: 401 without a credential, with a forged, an alg-none or an expired token; 101 with a token or the key")
    func handshake() async throws {
        try await application().test(.live) { client in
            let port = try #require(client.port)
            let missing = try await RawSocket.handshake(port: port)
            #expect(missing.status == 401)
            #expect(missing.body.contains("session token"))
            let token = try await Self.token(port: port)
            #expect(try await RawSocket.handshakeStatus(port: port, path: "/ws?token=\(token)") == 101)
            #expect(try await RawSocket.handshakeStatus(port: port, headers: [("Authorization", "Bearer \(token)")]) == 101)
            #expect(try await RawSocket.handshakeStatus(port: port, headers: [("Authorization", "Bearer \(Self.apiKey)")]) == 101)
            #expect(try await RawSocket.handshakeStatus(port: port, headers: [("Authorization", "Bearer not-the-key")]) == 401)
            // The subprotocol way: the server selects `parley`, never echoing the token.
            let offered = try await RawSocket.handshake(port: port, headers: [("Sec-WebSocket-Protocol", "parley, parley-token.\(token)")])
            #expect(offered.status == 101)
            #expect(try await RawSocket.handshakeStatus(port: port, headers: [("Sec-WebSocket-Protocol", "parley, parley-token.x.y.z")]) == 401)

            // Forgeries: a changed payload under the old signature, and an unsigned token.
            let parts = token.split(separator: ".").map(String.init)
            let forgedPayload = Data(#"{"aud":["parley-session"],"exp":4102444800,"iat":1,"jti":"x","greeting":"pwned"}"#.utf8)
                .base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
            #expect(try await RawSocket.handshakeStatus(port: port, path: "/ws?token=\(parts[0]).\(forgedPayload).\(parts[2])") == 401)
            let none = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            #expect(try await RawSocket.handshakeStatus(port: port, path: "/ws?token=\(none).\(forgedPayload).") == 401)

            let expiring = try await Self.token(port: port, body: #"{"ttl_seconds": 1}"#)
            try await Task.sleep(for: .milliseconds(2200))
            let expired = try await RawSocket.handshake(port: port, path: "/ws?token=\(expiring)")
            #expect(expired.status == 401)
            #expect(expired.body.contains("expired"))
        }
    }

    @Test("a token made under another server's key is refused")
    func otherKey() async throws {
        let foreign = try await application(access: AccessControl(apiKey: "another-key-0123456789abcdef")).test(.live) { client in
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(try #require(client.port))/v1/session-tokens")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer another-key-0123456789abcdef")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            return try #require(JSONValue.parse(String(buffer: try await response.body.collect(upTo: 1 << 16)))?["token"]?.stringValue)
        }
        try await application().test(.live) { client in
            let port = try #require(client.port)
            #expect(try await RawSocket.handshakeStatus(port: port, path: "/ws?token=\(foreign)") == 401)
        }
    }

    @Test("a token's greeting override is spoken as turn 0")
    func greetingOverride() async throws {
        try await application().test(.live) { client in
            let port = try #require(client.port)
            let token = try await Self.token(port: port, body: #"{"greeting": "Hello from the token."}"#)
            let events = try await RawSocket.converse(port: port, path: "/ws?token=\(token)") { _, received in
                await received.wait { events in events.contains { if case .turnEnd = $0 { return true } else { return false } } }
            }
            let text = events.compactMap { event -> String? in
                if case .agentText(0, let delta) = event { return delta }
                return nil
            }.joined()
            #expect(text == "Hello from the token.")
        }
    }

    @Test("health stays open; /metrics wants --metrics-token when set")
    func healthAndMetrics() async throws {
        try await application(access: AccessControl(apiKey: Self.apiKey, metricsToken: "metrics-secret")).test(.router) { client in
            for path in ["/health", "/health/live", "/health/ready"] {
                try await client.execute(uri: path, method: .get) { response in #expect(response.status == .ok) }
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] != nil)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer wrong"]) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer metrics-secret"]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("parley_handshake_refusals_total{reason=\"unauthorized\"} 2"))
            }
        }
    }

    @Test("keys and tokens never reach the logs, even at trace level")
    func nothingLogged() async throws {
        let recorder = LogRecorder()
        try await application(logger: recorder.logger()).test(.live) { client in
            let port = try #require(client.port)
            _ = try await Self.mint(port: port, key: "wrong-key-0123456789abcdef")
            let token = try await Self.token(port: port)
            _ = try await RawSocket.converse(port: port, path: "/ws?token=\(token)") { _, received in
                await received.wait { events in events.contains { if case .ready = $0 { return true } else { return false } } }
            }
            _ = try await RawSocket.handshakeStatus(port: port, path: "/ws?token=\(token)x")
        }
        let logged = recorder.text
        #expect(logged.contains("Request"))
        #expect(!logged.contains(Self.apiKey))
        #expect(!logged.contains("wrong-key-0123456789abcdef"))
        #expect(!logged.contains("eyJ"))  // the start of every JWT
    }

    @Test("with TWILIO_AUTH_TOKEN, the /twilio upgrade needs Twilio's signature of its wss:// URL")
    func twilioSignedUpgrade() async throws {
        let authToken = "twilio-auth-token"
        try await application(access: .open, twilioAuthToken: authToken).test(.live) { client in
            let port = try #require(client.port)
            let host = "127.0.0.1:\(port)"
            #expect(try await RawSocket.handshakeStatus(port: port, path: "/twilio", headers: [("Host", host)]) == 403)
            let wrong = TwilioSignature.compute(authToken: "other", url: "wss://\(host)/twilio", parameters: [])
            #expect(try await RawSocket.handshakeStatus(port: port, path: "/twilio", headers: [("X-Twilio-Signature", wrong)]) == 403)
            let signature = TwilioSignature.compute(authToken: authToken, url: "wss://\(host)/twilio", parameters: [])
            #expect(try await RawSocket.handshakeStatus(port: port, path: "/twilio", headers: [("X-Twilio-Signature", signature)]) == 101)
        }
    }
}
