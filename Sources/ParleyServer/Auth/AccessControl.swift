import Crypto
import Foundation

/// Who may use the server (`PARLEY_API_KEY`, `--metrics-token`): the API key that mints session
/// tokens and may open `/ws` itself, how long tokens live, which per-session settings a token may
/// carry, and the bearer token `/metrics` wants. Nothing here prints a secret.
public struct AccessControl: Sendable, CustomStringConvertible {
    /// Per-session settings a session token may carry.
    public enum Override: String, Sendable, CaseIterable {
        case systemPrompt = "system_prompt"
        case greeting
        case voice
    }

    /// `PARLEY_API_KEY`; nil leaves `/ws` and the HTTP API open.
    public var apiKey: String?
    /// The lifetime of a token whose request names none (`--token-ttl`, 5 minutes).
    public var tokenLifetime: Duration
    /// The longest lifetime a token request may ask for.
    public static let longestTokenLifetime: Duration = .seconds(3600)
    /// The overrides tokens may carry (`--token-overrides`).
    public var permittedOverrides: Set<Override>
    /// The bearer token `GET /metrics` requires (`--metrics-token`); nil leaves it open.
    public var metricsToken: String?

    /// Creates a policy.
    public init(
        apiKey: String? = nil, tokenLifetime: Duration = .seconds(300), permittedOverrides: Set<Override> = Set(Override.allCases),
        metricsToken: String? = nil
    ) {
        self.apiKey = apiKey
        self.tokenLifetime = tokenLifetime
        self.permittedOverrides = permittedOverrides
        self.metricsToken = metricsToken
    }

    /// Everything open: no key, no metrics token.
    public static let open = AccessControl()

    /// Whether `/ws` and the HTTP API need credentials.
    public var isEnabled: Bool { apiKey != nil }

    /// Whether `presented` is the API key, compared through SHA-256 digests (swift-crypto's
    /// digest comparison takes the same time wherever the bytes differ, and the digests hide the
    /// key's length).
    func isAPIKey(_ presented: String?) -> Bool {
        guard let apiKey, let presented else { return false }
        return Self.sameSecret(presented, apiKey)
    }

    /// Whether `presented` is the metrics token (see ``isAPIKey(_:)``).
    func isMetricsToken(_ presented: String?) -> Bool {
        guard let metricsToken, let presented else { return false }
        return Self.sameSecret(presented, metricsToken)
    }

    static func sameSecret(_ presented: String, _ secret: String) -> Bool {
        SHA256.hash(data: Data(presented.utf8)) == SHA256.hash(data: Data(secret.utf8))
    }

    public var description: String {
        "AccessControl(apiKey: \(apiKey == nil ? "unset" : "set"), tokenLifetime: \(tokenLifetime), metricsToken: \(metricsToken == nil ? "unset" : "set"))"
    }
}
