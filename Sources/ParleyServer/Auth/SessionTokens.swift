import Crypto
import Foundation
import JWTKit

/// Mints and checks session tokens: JWTs signed with HS256 (vapor/jwt-kit) under a key derived
/// from `PARLEY_API_KEY` with HKDF-SHA256, so the API key itself never signs anything and a new
/// key invalidates every token minted under the old one.
actor SessionTokens {
    /// The audience every token names, so that a JWT minted for another service under the same
    /// secret is not accepted.
    static let audience = "parley-session"

    private let key: HMACKey
    private var collection: JWTKeyCollection?

    init(apiKey: String) {
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(apiKey.utf8)), info: Data("parley session tokens v1".utf8), outputByteCount: 32)
        key = HMACKey(key: derived)
    }

    /// A signed token for a session with `overrides`, valid for `lifetime` from `now`.
    func mint(overrides: SessionOverrides, lifetime: Duration, now: Date = Date()) async throws -> (token: String, expiresAt: Date) {
        // Whole seconds: the expiry the caller is told is exactly the one in the token.
        let issued = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let expires = issued.addingTimeInterval(TimeInterval(lifetime.components.seconds))
        let claims = SessionClaims(
            audience: AudienceClaim(value: [Self.audience]), expiration: ExpirationClaim(value: expires),
            issuedAt: IssuedAtClaim(value: issued), id: IDClaim(value: UUID().uuidString.lowercased()),
            systemPrompt: overrides.systemPrompt, greeting: overrides.greeting, voice: overrides.voice)
        return (try await keys().sign(claims), expires)
    }

    /// The overrides `token` carries, or why it is refused (a sentence for the 401; never the token).
    func verify(_ token: String) async -> Result<SessionOverrides, TokenRefusal> {
        do {
            let claims = try await keys().verify(token, as: SessionClaims.self)
            return .success(SessionOverrides(systemPrompt: claims.systemPrompt, greeting: claims.greeting, voice: claims.voice))
        } catch let error as JWTError where error.errorType == .claimVerificationFailure && error.failedClaim is ExpirationClaim {
            return .failure(.expired)
        } catch {
            return .failure(.invalid)
        }
    }

    private func keys() async -> JWTKeyCollection {
        if let collection { return collection }
        let made = JWTKeyCollection()
        await made.add(hmac: key, digestAlgorithm: .sha256)
        collection = made
        return made
    }
}

/// Why a token was refused.
enum TokenRefusal: Error, Equatable, CustomStringConvertible {
    case expired, invalid

    var description: String {
        switch self {
        case .expired: "The session token has expired: mint a new one with POST /v1/session-tokens."
        case .invalid: "The session token is not valid: it is malformed, or was not signed with this server's PARLEY_API_KEY."
        }
    }
}

/// A token's claims: the standard `aud`, `exp`, `iat` and `jti`, and the session's overrides.
struct SessionClaims: JWTPayload {
    var audience: AudienceClaim
    var expiration: ExpirationClaim
    var issuedAt: IssuedAtClaim
    var id: IDClaim
    var systemPrompt: String?
    var greeting: String?
    var voice: String?

    enum CodingKeys: String, CodingKey {
        case audience = "aud"
        case expiration = "exp"
        case issuedAt = "iat"
        case id = "jti"
        case systemPrompt = "system_prompt"
        case greeting, voice
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try expiration.verifyNotExpired()
        try audience.verifyIntendedAudience(includes: SessionTokens.audience)
    }
}
