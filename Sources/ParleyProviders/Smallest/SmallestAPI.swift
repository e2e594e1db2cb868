import Foundation
import NIOCore
import ParleyCore

/// What smallest.ai's Pulse and Lightning clients share (docs/providers.md): the WebSocket
/// address under `SMALLEST_URL`, Bearer auth, and how refusals and failures are worded, never
/// with the key.
struct SmallestAPI: Sendable {
    /// `https://api.smallest.ai`, or `http(s)://`/`ws(s)://` for a gateway or a fake.
    var baseURL: String
    /// `SMALLEST_API_KEY`; sent as `Authorization: Bearer <key>` and never shown.
    var apiKey: String
    /// The provider name errors start with.
    var provider: String
    /// What is being reached, for messages: "Pulse" or "Lightning".
    var service: String

    /// `Authorization: Bearer <key>`.
    var headers: [(String, String)] { [("Authorization", "Bearer \(apiKey)")] }

    /// The `ws(s)://` address of `path` with the query, percent-encoded.
    func webSocketAddress(path: String, query: [(String, String)] = []) throws -> String {
        var base = ProviderURL.webSocket(baseURL.trimmingWhitespace())
        guard ProviderURL.isWebSocket(base) else {
            throw ProviderError(
                provider: provider, kind: .unreachable,
                message: "the smallest.ai base URL must start with https://, http://, wss:// or ws:// (got \"\(baseURL)\")")
        }
        while base.hasSuffix("/") { base.removeLast() }
        guard !query.isEmpty else { return base + path }
        let items = query.map { "\(DeepgramSpeechToText.percentEncoded($0.0))=\(DeepgramSpeechToText.percentEncoded($0.1))" }
        return base + path + "?" + items.joined(separator: "&")
    }

    /// The host (and port), for messages.
    var host: String { ProviderURL.origin(of: ProviderURL.webSocket(baseURL), defaultScheme: "wss") ?? baseURL }

    /// Text with any copy of the key removed.
    func redacted(_ text: String) -> String {
        DeepgramSpeechToText.redacted(text, apiKey: apiKey)
    }

    /// An error from this service.
    func error(_ kind: ProviderError.Kind, _ message: String, status: Int? = nil) -> ProviderError {
        ProviderError(provider: provider, kind: kind, message: redacted(message), status: status)
    }

    /// Explains a failed connection attempt for a person.
    func connectionError(_ error: any Error, timeout: Duration) -> ProviderError {
        if let rejected = error as? ProviderWebSocket.HandshakeRejected {
            let reason = Self.reason(rejected.body)
            let detail = reason.isEmpty ? "" : ": \(reason)"
            switch rejected.status {
            case 401:
                return self.error(
                    .rejected, "smallest.ai refused the API key (HTTP 401) — check SMALLEST_API_KEY", status: 401)
            case 400:
                return self.error(.rejected, "smallest.ai \(service) rejected the connection parameters (HTTP 400)\(detail)", status: 400)
            case 410:
                return self.error(.rejected, "smallest.ai retired this \(service) model or route (HTTP 410)\(detail)", status: 410)
            case 429:
                return self.error(.rejected, "smallest.ai is rate limiting this API key (HTTP 429)\(detail)", status: 429)
            default:
                return self.error(
                    .rejected, "smallest.ai \(service) refused the connection (HTTP \(rejected.status))\(detail)", status: rejected.status)
            }
        }
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return self.error(.timeout, "smallest.ai \(service) at \(host) did not accept the connection within \(timeout)")
        }
        if let violation = error as? ProviderWebSocket.ProtocolViolation {
            return self.error(.badResponse, "smallest.ai \(service) at \(host) broke the WebSocket protocol: \(violation.description)")
        }
        if let providerError = error as? ProviderError { return providerError }
        return self.error(.unreachable, "could not reach smallest.ai \(service) at \(host): \(error)")
    }

    /// The reason in an error body: `message` (with `error_code`, and `recommended_endpoint` for a
    /// retired route), `error.message`, `error` as text, else the start of the body.
    static func reason(_ body: String) -> String {
        guard let json = JSONValue.parse(body) else { return String(body.trimmingWhitespace().prefix(200)) }
        let message = json["message"]?.stringValue ?? json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue ?? ""
        let code = json["error_code"]?.stringValue ?? json["error"]?["code"]?.stringValue
        var text = [code, message.isEmpty ? nil : message].compactMap { $0 }.joined(separator: ": ")
        if let recommended = json["recommended_endpoint"]?.stringValue { text += " (use \(recommended))" }
        return String(text.prefix(300))
    }
}
