import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Checks the credential of a WebSocket handshake to `/ws` when `PARLEY_API_KEY` is set.
///
/// A session token (`POST /v1/session-tokens`) may come as the `token` query parameter, as an
/// offered subprotocol `parley-token.<token>` (with `parley` offered too: the server selects
/// `parley`), or as `Authorization: Bearer <token>`; server-side clients may also send the API key
/// itself as the bearer. Nothing here logs or echoes a credential.
struct SessionAuthenticator: Sendable {
    let access: AccessControl
    let tokens: SessionTokens?

    /// The subprotocol a client offers alongside its token and the server selects.
    static let subprotocol = "parley"
    /// The prefix of the offered subprotocol that carries a token.
    static let tokenSubprotocolPrefix = "parley-token."

    init(access: AccessControl) {
        self.access = access
        tokens = access.apiKey.map { SessionTokens(apiKey: $0) }
    }

    /// Why a handshake is refused with 401.
    struct Refusal: Error, Equatable {
        let reason: String
    }

    /// The session's overrides, or why the handshake gets 401.
    func authenticate(_ request: Request) async -> Result<SessionOverrides, Refusal> {
        guard access.isEnabled, let tokens else { return .success(.none) }
        let bearer = Self.bearer(request.headers[.authorization])
        if access.isAPIKey(bearer) { return .success(.none) }
        guard let token = bearer ?? Self.queryToken(request) ?? Self.subprotocolToken(request) else {
            return .failure(
                Refusal(
                    reason:
                        "This server requires a session token: connect with ?token=<token> from POST /v1/session-tokens, "
                        + "or send Authorization: Bearer <PARLEY_API_KEY>."))
        }
        switch await tokens.verify(token) {
        case .success(let overrides):
            // A token minted before the server stopped permitting an override keeps only what is permitted now.
            return .success(overrides.restricted(to: access.permittedOverrides))
        case .failure(let refusal):
            return .failure(Refusal(reason: refusal.description))
        }
    }

    /// The handshake response's `Sec-WebSocket-Protocol`: `parley` when offered (a browser that
    /// offers subprotocols fails the connection unless the server selects one of them).
    static func responseHeaders(for request: Request) -> HTTPFields {
        var headers = HTTPFields()
        if offeredSubprotocols(request).contains(subprotocol) {
            headers[.secWebSocketProtocol] = subprotocol
        }
        return headers
    }

    /// The credential of `Authorization: Bearer <credential>`.
    static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let credential = parts[1].trimmingCharacters(in: .whitespaces)
        return credential.isEmpty ? nil : credential
    }

    private static func queryToken(_ request: Request) -> String? {
        guard let token = request.uri.queryParameters.get("token"), !token.isEmpty else { return nil }
        return token
    }

    private static func subprotocolToken(_ request: Request) -> String? {
        offeredSubprotocols(request).first { $0.hasPrefix(tokenSubprotocolPrefix) }.map { String($0.dropFirst(tokenSubprotocolPrefix.count)) }
    }

    private static func offeredSubprotocols(_ request: Request) -> [String] {
        request.headers[values: .secWebSocketProtocol].flatMap { $0.split(separator: ",") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
    }
}

extension SessionOverrides {
    /// Only the overrides in `permitted`.
    func restricted(to permitted: Set<AccessControl.Override>) -> SessionOverrides {
        SessionOverrides(
            systemPrompt: permitted.contains(.systemPrompt) ? systemPrompt : nil,
            greeting: permitted.contains(.greeting) ? greeting : nil,
            voice: permitted.contains(.voice) ? voice : nil)
    }
}

/// Hands what a `/ws` handshake decided (its token's overrides) to the session started on the
/// same connection. An entry lives until the session takes it or the connection closes.
final class HandshakeGrants: Sendable {
    private let grants = Mutex<[ObjectIdentifier: SessionOverrides]>([:])

    /// Keeps `overrides` for `channel`'s session.
    func record(_ overrides: SessionOverrides, for channel: any Channel) {
        let key = ObjectIdentifier(channel)
        grants.withLock { $0[key] = overrides }
        channel.closeFuture.whenComplete { [self] _ in _ = grants.withLock { $0.removeValue(forKey: key) } }
    }

    /// The overrides recorded for `channel` (none if nothing was recorded).
    func take(for channel: any Channel) -> SessionOverrides {
        grants.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } ?? .none
    }
}
