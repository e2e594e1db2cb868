public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ParleyCore

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

    /// Creates an endpoint.
    public init(
        name: String, baseURL: String, apiKey: String? = nil, httpClient: HTTPClient,
        responseTimeout: Duration = .seconds(30)
    ) {
        self.name = name
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.httpClient = httpClient
        self.responseTimeout = responseTimeout
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
    func execute(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .nanoseconds(responseTimeout.nanoseconds))
        } catch {
            throw mapTransportError(error)
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            let body = try? await response.body.collect(upTo: 1 << 16)
            let text = body.map { String(buffer: $0) } ?? ""
            throw ProviderError(
                provider: name, kind: .rejected,
                message: "HTTP \(response.status.code): \(Self.errorMessage(in: text) ?? response.status.reasonPhrase)",
                status: Int(response.status.code))
        }
        return response
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

    /// The scheme, host and port of the base URL (no path, no credentials), for messages.
    var host: String {
        guard let url = URL(string: baseURL), let host = url.host else { return "the server" }
        return "\(url.scheme ?? "http")://\(host)\(url.port.map { ":\($0)" } ?? "")"
    }

    /// The `error.message` of an OpenAI-style error body, or a top-level `message`.
    static func errorMessage(in body: String) -> String? {
        guard let json = JSONValue.parse(body) else {
            let trimmed = body.trimmingWhitespace()
            return trimmed.isEmpty ? nil : String(trimmed.prefix(200))
        }
        if let message = json["error"]?["message"]?.stringValue { return message }
        if let message = json["error"]?.stringValue { return message }
        if let message = json["message"]?.stringValue { return message }
        return nil
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let parts = components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
