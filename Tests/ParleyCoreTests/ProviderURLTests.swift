import ParleyCore
import Testing

@Suite("Provider URLs")
struct ProviderURLTests {
    @Test("http and https become ws and wss, in any case; other URLs are left alone")
    func toWebSocket() {
        #expect(ProviderURL.webSocket("https://api.elevenlabs.io") == "wss://api.elevenlabs.io")
        #expect(ProviderURL.webSocket("http://127.0.0.1:8080/base/") == "ws://127.0.0.1:8080/base/")
        #expect(ProviderURL.webSocket("HTTPS://Example.com/Path") == "wss://Example.com/Path")
        #expect(ProviderURL.webSocket("wss://api.deepgram.com") == "wss://api.deepgram.com")
        #expect(ProviderURL.webSocket("WS://localhost:1") == "ws://localhost:1")
        #expect(ProviderURL.webSocket("ftp://example.com") == "ftp://example.com")
        #expect(ProviderURL.webSocket("example.com/twilio") == "example.com/twilio")
        #expect(ProviderURL.webSocket("") == "")
    }

    @Test("ws and wss become http and https, in any case; other URLs are left alone")
    func toHTTP() {
        #expect(ProviderURL.http("wss://api.elevenlabs.io") == "https://api.elevenlabs.io")
        #expect(ProviderURL.http("ws://127.0.0.1:9000") == "http://127.0.0.1:9000")
        #expect(ProviderURL.http("WSS://proxy.example/el") == "https://proxy.example/el")
        #expect(ProviderURL.http("https://api.elevenlabs.io") == "https://api.elevenlabs.io")
        #expect(ProviderURL.http("unix:///tmp/socket") == "unix:///tmp/socket")
        #expect(ProviderURL.http(ProviderURL.webSocket("https://a.example/x")) == "https://a.example/x")
    }

    @Test("only ws and wss URLs with something after the scheme count as WebSocket URLs")
    func isWebSocket() {
        #expect(ProviderURL.isWebSocket("wss://api.deepgram.com"))
        #expect(ProviderURL.isWebSocket("WS://localhost:1"))
        #expect(!ProviderURL.isWebSocket("wss://"))
        #expect(!ProviderURL.isWebSocket("https://api.deepgram.com"))
        #expect(!ProviderURL.isWebSocket("api.deepgram.com"))
    }

    @Test("the origin shown in messages has the scheme, host and port, and nothing else")
    func origin() {
        #expect(ProviderURL.origin(of: "https://user:secret@api.example.com:8443/v1?key=k", defaultScheme: "http") == "https://api.example.com:8443")
        #expect(ProviderURL.origin(of: "http://127.0.0.1:8080/v1", defaultScheme: "https") == "http://127.0.0.1:8080")
        #expect(ProviderURL.origin(of: "https://api.groq.com/openai/v1", defaultScheme: "http") == "https://api.groq.com")
        #expect(ProviderURL.origin(of: "HTTP://Example.com", defaultScheme: "https") == "http://Example.com")
        #expect(ProviderURL.origin(of: "http://[::1]:9000/v1", defaultScheme: "https") == "http://[::1]:9000")
        #expect(ProviderURL.origin(of: "//proxy.example:81/x", defaultScheme: "https") == "https://proxy.example:81")
        #expect(ProviderURL.origin(of: "not a url", defaultScheme: "https") == nil)
        #expect(ProviderURL.origin(of: "", defaultScheme: "https") == nil)
    }
}
