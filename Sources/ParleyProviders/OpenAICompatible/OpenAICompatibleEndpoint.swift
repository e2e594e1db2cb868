public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
public import ParleyCore

/// Where an OpenAI-compatible API lives (Groq, OpenAI, llama.cpp's server, faster-whisper's local
/// server) and how to authenticate.
public struct OpenAICompatibleEndpoint: Sendable {
    /// A short provider name for logs, errors and `/health`, such as `groq` or `local-llama`.
    public var name: String
    /// The base URL including the version path, such as `https://api.groq.com/openai/v1`.
    public var baseURL: String
    /// The bearer token, if the server needs one. Never logged.
    public var apiKey: String?
    /// The HTTP client to use.
    public var httpClient: HTTPClient
    /// How long to wait for the response head.
    public var responseTimeout: Duration
    /// The environment variable holding the key, named in messages about a refused key.
    public var keyVariable: String?
    /// Retries after a retryable status (408, 409, 429, 5xx) before giving up.
    public var maximumRetries: Int
    /// The longest wait before a retry; a server asking for longer is not retried (a person is
    /// waiting for the answer).
    public var maximumRetryDelay: Duration
    /// Records whether the last request was accepted, for `/health`.
    public var health: ConnectionHealth

    /// Creates an endpoint.
    public init(
        name: String, baseURL: String, apiKey: String? = nil, httpClient: HTTPClient,
        responseTimeout: Duration = .seconds(30), keyVariable: String? = nil, maximumRetries: Int = 2,
        maximumRetryDelay: Duration = .seconds(4), health: ConnectionHealth = ConnectionHealth()
    ) {
        self.name = name
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.httpClient = httpClient
        self.responseTimeout = responseTimeout
        self.keyVariable = keyVariable
        self.maximumRetries = maximumRetries
        self.maximumRetryDelay = maximumRetryDelay
        self.health = health
    }

    /// A POST request to `path` (relative to the base URL) with authentication.
    func request(path: String, contentType: String, body: [UInt8]) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "User-Agent", value: "parley/1")
        if let apiKey, !apiKey.isEmpty {
            request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    /// Sends a request and returns the response if its status is 2xx; otherwise throws a
    /// ``ProviderError`` carrying the server's own error message.
    ///
    /// Retryable statuses are retried as the official SDKs do (docs/providers.md): `retry-after-ms`,
    /// else `retry-after` (seconds or an HTTP date), else exponential backoff from 0.5 s;
    /// `x-should-retry` overrides. Nothing has reached the caller before the response head, so a
    /// retry can never repeat words already spoken.
    func execute(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        do {
            return try await send(request)
        } catch let refusal as Refusal {
            throw refusal.error
        }
    }

    /// A refused request: the error for the caller, and the `error.code` of the server's body
    /// (such as Groq's `tool_use_failed`), for a caller that reacts to particular codes.
    struct Refusal: Error {
        /// The error ``execute(_:)`` throws.
        var error: ProviderError
        /// The error body's `code`, when it is a string.
        var code: String?
    }

    /// ``execute(_:)``, but a refusal is thrown as a ``Refusal`` carrying the body's error code.
    func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            let response: HTTPClientResponse
            do {
                response = try await httpClient.execute(request, timeout: .nanoseconds(responseTimeout.nanoseconds))
            } catch {
                let mapped = mapTransportError(error)
                if let failure = mapped as? ProviderError { health.failed(failure) }
                throw mapped
            }
            let status = Int(response.status.code)
            if (200..<300).contains(status) {
                health.succeeded()
                return response
            }
            let body = (try? await response.body.collect(upTo: 1 << 16)).map { String(buffer: $0) } ?? ""
            let serverMessage = Self.errorMessage(in: body) ?? response.status.reasonPhrase
            if attempt < maximumRetries, let delay = Self.retryDelay(status: status, headers: response.headers, attempt: attempt),
                delay <= maximumRetryDelay
            {
                attempt += 1
                try await Task.sleep(for: delay)
                continue
            }
            let error = ProviderError(
                provider: name, kind: .rejected, message: describe(status: status, serverMessage: serverMessage, retries: attempt),
                status: status)
            health.failed(error)
            throw Refusal(error: error, code: JSONValue.parse(body)?["error"]?["code"]?.stringValue)
        }
    }

    /// A message for an error status, in the words of what the user should do about it.
    func describe(status: Int, serverMessage: String, retries: Int) -> String {
        let retried = retries > 0 ? " (after \(retries) retr\(retries == 1 ? "y" : "ies"))" : ""
        switch status {
        case 401, 403:
            let hint = keyVariable.map { " — check \($0)" } ?? ""
            return "the API key was refused (HTTP \(status): \(serverMessage))\(hint)"
        case 404:
            return "unknown model or path (HTTP 404: \(serverMessage))"
        case 413:
            return "the request is too large (HTTP 413: \(serverMessage))"
        case 429:
            return "rate limited (HTTP 429: \(serverMessage))\(retried)"
        default:
            return "HTTP \(status): \(serverMessage)\(retried)"
        }
    }

    /// How long to wait before retrying a response with `status`, or nil when it must not be retried.
    static func retryDelay(status: Int, headers: HTTPHeaders, attempt: Int) -> Duration? {
        switch headers.first(name: "x-should-retry")?.lowercased() {
        case "false": return nil
        case "true": break
        default:
            guard [408, 409, 429].contains(status) || status >= 500 else { return nil }
        }
        // Capped at an hour before becoming a Duration, which traps on `1e300` or `inf` ms; a delay
        // over maximumRetryDelay is not waited for anyway.
        let longest = 3_600_000.0
        if let value = headers.first(name: "retry-after-ms"), let milliseconds = Double(value), milliseconds >= 0 {
            return .milliseconds(min(milliseconds, longest))
        }
        if let value = headers.first(name: "retry-after") {
            if let seconds = Double(value), seconds >= 0 { return .milliseconds(min(seconds * 1000, longest)) }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            if let date = formatter.date(from: value) {
                return .milliseconds(max(0, date.timeIntervalSinceNow) * 1000)
            }
        }
        return .milliseconds(500 * (1 << min(attempt, 4)))
    }

    /// Maps a transport failure (connection refused, timeout) to a provider error.
    func mapTransportError(_ error: any Error) -> any Error {
        if error is CancellationError { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .cancelled where Task.isCancelled:
                return CancellationError()
            case .deadlineExceeded, .readTimeout, .connectTimeout:
                return ProviderError(provider: name, kind: .timeout, message: "no answer from \(host) in time (\(error))")
            case .remoteConnectionClosed:
                return ProviderError(provider: name, kind: .streamEnded, message: "\(host) closed the connection")
            default:
                break
            }
        }
        if Task.isCancelled { return CancellationError() }
        return ProviderError(provider: name, kind: .unreachable, message: "cannot reach \(host): \(error)")
    }

    /// Maps a failure while reading a response body that had begun (the connection dropped).
    func mapStreamError(_ error: any Error) -> any Error {
        if error is CancellationError || Task.isCancelled { return CancellationError() }
        if case let mapped as ProviderError = mapTransportError(error), mapped.kind == .timeout { return mapped }
        return ProviderError(provider: name, kind: .streamEnded, message: "the connection to \(host) dropped mid-reply (\(error))")
    }

    /// The scheme, host and port of the base URL (no path, no credentials), for messages.
    var host: String { ProviderURL.origin(of: baseURL, defaultScheme: "http") ?? "the server" }

    /// The `error.message` of an OpenAI-style error body, or a top-level `message`.
    static func errorMessage(in body: String) -> String? {
        guard let json = JSONValue.parse(body) else {
            let trimmed = body.trimmingWhitespace()
            return trimmed.isEmpty ? nil : String(trimmed.prefix(200))
        }
        if let message = json["error"]?["message"]?.stringValue { return message }
        if let message = json["error"]?.stringValue { return message }
        if let message = json["message"]?.stringValue { return message }
        // FastAPI servers such as Kokoro-FastAPI: {"detail": {"error", "message"}} or {"detail": "…"}.
        if let message = json["detail"]?["message"]?.stringValue ?? json["detail"]?.stringValue { return message }
        return nil
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let parts = components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
