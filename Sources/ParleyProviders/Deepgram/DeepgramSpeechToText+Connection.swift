import Foundation
import NIOCore
import ParleyCore

extension DeepgramSpeechToText {
    /// The query string in the order docs/providers.md (Deepgram) lists it, then `keyterm`s and `tag`.
    func queryItems(tag: String?) -> [(String, String)] {
        var items: [(String, String)] = [
            ("model", model), ("language", language), ("encoding", encoding.rawValue),
            ("sample_rate", "\(sampleRate)"), ("channels", "1"), ("interim_results", "\(interimResults)"),
            ("endpointing", endpointing.map { "\(Self.wholeMilliseconds($0))" } ?? "false"),
        ]
        if let utteranceEnd { items.append(("utterance_end_ms", "\(Self.wholeMilliseconds(utteranceEnd))")) }
        items += [("vad_events", "\(vadEvents)"), ("smart_format", "\(smartFormat)"), ("no_delay", "\(noDelay)")]
        items += keyterms.map { ("keyterm", $0) }
        if let tag, !tag.isEmpty { items.append(("tag", tag)) }
        return items
    }

    /// The `/v1/listen` address with the query, as `ws://` or `wss://`.
    func listenAddress(tag: String?) throws -> String {
        let base = try Self.webSocketBase(baseURL)
        let query = queryItems(tag: tag).map { "\(Self.percentEncoded($0.0))=\(Self.percentEncoded($0.1))" }
        return base + "/v1/listen?" + query.joined(separator: "&")
    }

    /// Reads the configured base as `ws://` or `wss://` without a trailing slash.
    static func webSocketBase(_ baseURL: String) throws -> String {
        var base = ProviderURL.webSocket(baseURL.trimmingWhitespace())
        guard ProviderURL.isWebSocket(base) else {
            throw ProviderError(
                provider: "deepgram", kind: .unreachable,
                message: "the Deepgram base URL must start with wss://, ws://, https:// or http:// (got \"\(baseURL)\")")
        }
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters (so a space is `%20`).
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return result
    }

    static func wholeMilliseconds(_ duration: Duration) -> Int {
        Int(duration.milliseconds.rounded())
    }

    /// The host (and port) the client connects to, for messages.
    var hostDescription: String { Self.hostDescription(baseURL) }

    /// The host (and port) of `baseURL`, for messages.
    static func hostDescription(_ baseURL: String) -> String {
        guard let base = try? Self.webSocketBase(baseURL), let url = URL(string: base), let host = url.host else {
            return baseURL
        }
        return url.port.map { "\(host):\($0)" } ?? host
    }

    /// Explains a failed connection attempt for a person, without the key.
    func connectionError(_ error: any Error) -> ProviderError {
        Self.connectionError(error, provider: name, apiKey: apiKey, baseURL: baseURL, connectTimeout: connectTimeout)
    }

    /// Explains a failed connection attempt to Deepgram (`/v1/listen` or Flux's `/v2/listen`, which
    /// refuse handshakes alike) for a person, without the key.
    static func connectionError(
        _ error: any Error, provider: String, apiKey: String, baseURL: String, connectTimeout: Duration
    ) -> ProviderError {
        let hostDescription = Self.hostDescription(baseURL)
        if let rejected = error as? ProviderWebSocket.HandshakeRejected {
            let reason = Self.redacted(Self.rejectionReason(rejected), apiKey: apiKey)
            let detail = reason.isEmpty ? "" : ": \(reason)"
            let message: String
            switch rejected.status {
            case 401:
                message = "Deepgram refused the API key (HTTP 401) — check DEEPGRAM_API_KEY"
            case 403:
                message = "Deepgram refused access with this API key (HTTP 403)\(detail) — check the key's permissions"
            case 400:
                message = "Deepgram rejected the connection parameters (HTTP 400)\(detail)"
            case 429:
                message = "Deepgram is rate limiting this API key (HTTP 429)\(detail)"
            default:
                message = "Deepgram refused the connection (HTTP \(rejected.status))\(detail)"
            }
            return ProviderError(provider: provider, kind: .rejected, message: message, status: rejected.status)
        }
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return ProviderError(
                provider: provider, kind: .timeout,
                message: "Deepgram at \(hostDescription) did not accept the connection within \(connectTimeout)")
        }
        if let violation = error as? ProviderWebSocket.ProtocolViolation {
            return ProviderError(
                provider: provider, kind: .badResponse,
                message: "Deepgram at \(hostDescription) broke the WebSocket protocol: \(Self.redacted(violation.description, apiKey: apiKey))")
        }
        if let providerError = error as? ProviderError { return providerError }
        return ProviderError(
            provider: provider, kind: .unreachable,
            message: "could not reach Deepgram at \(hostDescription): \(Self.redacted("\(error)", apiKey: apiKey))")
    }

    /// Deepgram's reason for a refused handshake: the `dg-error` header, else the JSON body's
    /// `err_msg` (or `reason`), else the start of the body.
    static func rejectionReason(_ rejected: ProviderWebSocket.HandshakeRejected) -> String {
        if let header = rejected.reasonHeader?.trimmingWhitespace(), !header.isEmpty { return header }
        if let body = JSONValue.parse(rejected.body) {
            let message = body["err_msg"]?.stringValue ?? body["reason"]?.stringValue ?? body["message"]?.stringValue
            if let message, !message.isEmpty {
                if let code = body["err_code"]?.stringValue, !code.isEmpty { return "\(code): \(message)" }
                return message
            }
        }
        return String(rejected.body.trimmingWhitespace().prefix(200))
    }

    /// Text with any copy of the API key removed, for what a server might echo back.
    func redacted(_ text: String) -> String {
        Self.redacted(text, apiKey: apiKey)
    }

    /// `text` with any copy of `apiKey` removed.
    static func redacted(_ text: String, apiKey: String) -> String {
        guard apiKey.count >= 4 else { return text }
        return text.replacingOccurrences(of: apiKey, with: "[redacted]")
    }
}
