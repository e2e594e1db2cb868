import ParleyCore

/// Which web pages may open a voice WebSocket: the `Origin` of an upgrade request checked against
/// `--allowed-origins` (`PARLEY_ALLOWED_ORIGINS`).
///
/// With no list, pages of the server's own origin (the `Origin` names the request's `Host`) and
/// clients that send no `Origin` (Twilio, server-side clients) are admitted. With a list, an
/// `Origin` must be on it (`*` admits every origin); clients without one are still admitted.
///
/// Browsers send `http(s)://…` or `null`; a `ws://` or `wss://` origin comes from a WebSocket
/// library (Swift's WebSocketClient sends one, so `parley talk` does) and is taken as no origin:
/// the check keeps other sites' pages out, and no page can send such an origin.
public struct OriginPolicy: Sendable, Equatable {
    /// The admitted origins, normalised (`scheme://host[:port]`, lower case, no default port);
    /// nil admits only same-origin pages.
    public let allowed: Set<String>?
    /// Whether `*` was listed.
    public let allowsAny: Bool

    /// A bad `--allowed-origins` entry.
    public struct InvalidOrigin: Error, CustomStringConvertible {
        public let description: String
    }

    /// Admits only same-origin pages and clients without an `Origin`.
    public static let sameOrigin = OriginPolicy(allowed: nil, allowsAny: false)

    private init(allowed: Set<String>?, allowsAny: Bool) {
        self.allowed = allowed
        self.allowsAny = allowsAny
    }

    /// Parses a comma-separated list such as `https://app.example.com,http://localhost:5173`;
    /// nil or blank gives ``sameOrigin``.
    public init(list: String?) throws(InvalidOrigin) {
        let entries = (list ?? "").split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        guard !entries.isEmpty else {
            self = .sameOrigin
            return
        }
        var allowed: Set<String> = []
        var allowsAny = false
        for entry in entries {
            if entry == "*" {
                allowsAny = true
                continue
            }
            guard let origin = Self.normalise(entry) else {
                throw InvalidOrigin(
                    description:
                        "'\(entry)' is not an origin: write scheme://host[:port] with http or https and no path, e.g. https://app.example.com")
            }
            allowed.insert(origin)
        }
        self.init(allowed: allowed, allowsAny: allowsAny)
    }

    /// Whether a request with these `Origin` headers (none, normally one) to a server reached as
    /// `host` (the `Host` header) is admitted: every browser origin among them must be.
    public func admits(origins: [String], host: String?) -> Bool {
        origins.allSatisfy { admits(origin: $0, host: host) }
    }

    /// Whether a request with this `Origin` header (nil when absent) to a server reached as `host`
    /// (the `Host` header) is admitted.
    public func admits(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        let lowercased = origin.lowercased()
        if lowercased.hasPrefix("ws://") || lowercased.hasPrefix("wss://") { return true }
        if allowsAny { return true }
        guard let normalised = Self.normalise(origin) else { return false }  // "null", garbage
        if let allowed { return allowed.contains(normalised) }
        guard let host else { return false }
        return Self.authority(of: normalised) == Self.stripDefaultPort(host.lowercased(), scheme: Self.scheme(of: normalised))
    }

    /// `scheme://host[:port]` in lower case without a default port, or nil when `text` is not an
    /// http(s) origin (a path, a query, user info or another scheme).
    static func normalise(_ text: String) -> String? {
        var text = Substring(text.lowercased())
        if text.hasSuffix("/") { text = text.dropLast() }
        let scheme: String
        if text.hasPrefix("http://") {
            scheme = "http"
        } else if text.hasPrefix("https://") {
            scheme = "https"
        } else {
            return nil
        }
        let authority = text.dropFirst(scheme.count + 3)
        guard !authority.isEmpty, !authority.contains(where: { "/?#@ ".contains($0) }) else { return nil }
        return "\(scheme)://\(stripDefaultPort(String(authority), scheme: scheme))"
    }

    private static func scheme(of origin: String) -> String {
        origin.hasPrefix("https://") ? "https" : "http"
    }

    private static func authority(of origin: String) -> String {
        String(origin.dropFirst(scheme(of: origin).count + 3))
    }

    private static func stripDefaultPort(_ authority: String, scheme: String) -> String {
        let defaultPort = scheme == "https" ? ":443" : ":80"
        return authority.hasSuffix(defaultPort) ? String(authority.dropLast(defaultPort.count)) : authority
    }
}
