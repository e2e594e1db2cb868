import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ParleyCore

/// `POST /v1/session-tokens`: with `Authorization: Bearer <PARLEY_API_KEY>`, answers
/// `{"token": "…", "expires_at": "…", "expires_in": N}`. The optional JSON body may ask for
/// `ttl_seconds` (1…3600) and the overrides the server permits: `system_prompt`, `greeting`, `voice`.
struct SessionTokenEndpoint: Sendable {
    let authenticator: SessionAuthenticator

    /// The largest request body read, in bytes.
    static let maximumBodyBytes = 16 * 1024

    func respond(to request: Request, logger: Logger) async throws -> Response {
        let access = authenticator.access
        guard let tokens = authenticator.tokens else {
            return Self.error(.notFound, "session_tokens_off", "Session tokens are off: the server has no PARLEY_API_KEY, so /ws needs none.")
        }
        guard access.isAPIKey(SessionAuthenticator.bearer(request.headers[.authorization])) else {
            logger.notice("session token refused: wrong or missing API key")
            var response = Self.error(.unauthorized, "unauthorized", "Send Authorization: Bearer <PARLEY_API_KEY> to mint session tokens.")
            response.headers[.wwwAuthenticate] = #"Bearer realm="parley""#
            return response
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maximumBodyBytes)
        } catch {
            return Self.error(.contentTooLarge, "body_too_large", "The request body is over \(Self.maximumBodyBytes) bytes.")
        }
        let asked: TokenRequest
        switch TokenRequest.parse(String(buffer: body), defaultLifetime: access.tokenLifetime) {
        case .success(let request): asked = request
        case .failure(let problem): return Self.error(.badRequest, "invalid_request", problem.message)
        }
        let refused = asked.overrides.present.subtracting(access.permittedOverrides)
        if let first = refused.map(\.rawValue).sorted().first {
            return Self.error(.forbidden, "override_not_permitted", "This server does not let tokens set \(first) (see --token-overrides).")
        }
        let minted = try await tokens.mint(overrides: asked.overrides, lifetime: asked.lifetime)
        logger.debug(
            "session token minted",
            metadata: ["parley.token.ttl": "\(asked.lifetime)", "parley.token.overrides": "\(asked.overrides.present.map(\.rawValue).sorted())"])
        let answer: JSONValue = [
            "token": .string(minted.token),
            "expires_at": .string(minted.expiresAt.formatted(.iso8601)),
            "expires_in": .number(Double(asked.lifetime.components.seconds)),
        ]
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: answer.serialized)))
    }

    /// A JSON error answer: `{"error": {"code": …, "message": …}}`.
    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        let body: JSONValue = ["error": ["code": .string(code), "message": .string(message)]]
        return Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: body.serialized)))
    }
}

/// What a token request asks for.
struct TokenRequest: Equatable {
    var lifetime: Duration
    var overrides: SessionOverrides

    struct Problem: Error, Equatable {
        let message: String
    }

    static let keys: Set<String> = ["ttl_seconds", "system_prompt", "greeting", "voice"]

    /// Reads a request body (empty, or a JSON object of ``keys``).
    static func parse(_ body: String, defaultLifetime: Duration) -> Result<TokenRequest, Problem> {
        var request = TokenRequest(lifetime: defaultLifetime, overrides: .none)
        guard !body.trimmingWhitespace().isEmpty else { return .success(request) }
        guard let value = JSONValue.parse(body), case .object(let members) = value else {
            return .failure(Problem(message: "The body must be a JSON object (or empty)."))
        }
        if let unknown = members.keys.filter({ !keys.contains($0) }).sorted().first {
            return .failure(Problem(message: "Unknown field \"\(unknown.prefix(40))\"; allowed: \(keys.sorted().joined(separator: ", "))."))
        }
        func string(_ key: String) -> Result<String?, Problem> {
            switch members[key] {
            case nil, .null?: .success(nil)
            case .string(let text)?: .success(text)
            default: .failure(Problem(message: "\(key) must be a string."))
            }
        }
        if let ttl = members["ttl_seconds"] {
            let longest = Int(AccessControl.longestTokenLifetime.components.seconds)
            guard let seconds = ttl.intValue, (1...longest).contains(seconds), ttl.doubleValue == Double(seconds) else {
                return .failure(Problem(message: "ttl_seconds must be a whole number of seconds, 1…\(longest)."))
            }
            request.lifetime = .seconds(seconds)
        }
        do {
            request.overrides.systemPrompt = try string("system_prompt").get()
            request.overrides.greeting = try string("greeting").get()
            request.overrides.voice = try string("voice").get()
        } catch {
            return .failure(error)
        }
        if let problem = request.overrides.problem() { return .failure(Problem(message: problem)) }
        return .success(request)
    }
}
