import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ParleyCore
import ParleyServer
import Testing

@Suite("Twilio webhook")
struct TwilioWebhookTests {
    static let body = "CallSid=CA42&From=%2B15550001111&To=%2B15550002222"
    static let signature = HTTPField.Name("X-Twilio-Signature")!

    static func application(publicURL: String? = nil, token: String? = nil) -> some ApplicationProtocol {
        buildApplication(
            configuration: ServerConfiguration(port: 0, webRoot: nil, maximumSessions: 4, publicURL: publicURL, twilioAuthToken: token),
            providers: fakeProviders(), health: HealthMonitor(providers: fakeProviders()), logger: Logger(label: "parley.test"))
    }

    @Test("without a token, TwiML connects the call to wss://<Host>/twilio")
    func twimlFromHost() async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(
                uri: "/twilio/voice", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: Self.body)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/xml")
                let text = String(buffer: response.body)
                #expect(text.contains(#"<Response><Connect><Stream url="wss://"#))
                #expect(text.hasSuffix(#"/twilio"/></Connect></Response>"#))
            }
        }
    }

    @Test("PUBLIC_URL sets the stream host; a good signature gets TwiML, a bad or missing one 403")
    func signatures() async throws {
        // Python: base64(hmac.new(b"secret-token", b"http://parley.example.com/twilio/voice"
        //   + b"CallSidCA42From+15550001111To+15550002222", sha1).digest())
        let good = "p4+c+xINgQJIsIU+P6ci+uDRJrM="
        let app = Self.application(publicURL: "http://parley.example.com/", token: "secret-token")
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/twilio/voice", method: .post, headers: [.contentType: "application/x-www-form-urlencoded", Self.signature: good],
                body: ByteBuffer(string: Self.body)
            ) { response in
                #expect(response.status == .ok)
                #expect(
                    String(buffer: response.body)
                        == #"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="ws://parley.example.com/twilio"/></Connect></Response>"#
                )
            }
            try await client.execute(
                uri: "/twilio/voice", method: .post, headers: [Self.signature: "p4+c+xINgQJIsIU+P6ci+uDRJrN="],
                body: ByteBuffer(string: Self.body)
            ) { response in
                #expect(response.status == .forbidden)
                #expect(String(buffer: response.body).contains("does not match"))
            }
            try await client.execute(uri: "/twilio/voice", method: .post, body: ByteBuffer(string: Self.body)) { response in
                #expect(response.status == .forbidden)
                #expect(String(buffer: response.body).contains("Missing X-Twilio-Signature"))
            }
            // The same signature over other parameters is refused.
            try await client.execute(
                uri: "/twilio/voice", method: .post, headers: [Self.signature: good], body: ByteBuffer(string: Self.body + "&Digits=1")
            ) { response in
                #expect(response.status == .forbidden)
            }
        }
    }

    @Test("an https PUBLIC_URL gives a wss stream URL")
    func secureStream() async throws {
        try await Self.application(publicURL: "https://calls.example.com").test(.router) { client in
            try await client.execute(uri: "/twilio/voice", method: .post) { response in
                #expect(String(buffer: response.body).contains(#"url="wss://calls.example.com/twilio""#))
            }
        }
    }
}
