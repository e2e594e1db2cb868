import Foundation

/// The URL conversions that providers and the server share: an HTTP base URL and its WebSocket
/// counterpart, and the part of a URL that is safe to show in logs and errors.
///
/// Configured URLs are written by people, so the schemes are matched in any case; a converted
/// scheme is written in lower case.
public enum ProviderURL {
    /// `url` with `https://` turned into `wss://` and `http://` into `ws://`; a `wss://` or `ws://`
    /// URL keeps its scheme (in lower case), and anything else is returned as it is.
    public static func webSocket(_ url: String) -> String {
        replacingScheme(of: url, with: ["https": "wss", "http": "ws", "wss": "wss", "ws": "ws"])
    }

    /// `url` with `wss://` turned into `https://` and `ws://` into `http://`; an `https://` or
    /// `http://` URL keeps its scheme (in lower case), and anything else is returned as it is.
    public static func http(_ url: String) -> String {
        replacingScheme(of: url, with: ["wss": "https", "ws": "http", "https": "https", "http": "http"])
    }

    /// Whether `url` is a `ws://` or `wss://` URL (any case) with something after the scheme.
    public static func isWebSocket(_ url: String) -> Bool {
        guard let (scheme, rest) = split(url) else { return false }
        return ["ws", "wss"].contains(scheme) && !rest.isEmpty
    }

    /// The scheme, host and port of `url`, such as `https://api.example.com:8443`: no path, query
    /// or credentials, so that it can be logged. Nil when `url` has no host. A URL without a
    /// scheme is shown with `defaultScheme`; an IPv6 host keeps its brackets.
    public static func origin(of url: String, defaultScheme: String) -> String? {
        guard let parsed = URLComponents(string: url), let host = parsed.host, !host.isEmpty else { return nil }
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(parsed.scheme?.lowercased() ?? defaultScheme)://\(shownHost)\(parsed.port.map { ":\($0)" } ?? "")"
    }

    /// The lower-cased scheme of `url` and what follows its `://`; nil when it has no `://`.
    private static func split(_ url: String) -> (scheme: String, rest: Substring)? {
        guard let separator = url.range(of: "://") else { return nil }
        return (url[..<separator.lowerBound].lowercased(), url[separator.upperBound...])
    }

    private static func replacingScheme(of url: String, with schemes: [String: String]) -> String {
        guard let (scheme, rest) = split(url), let replacement = schemes[scheme] else { return url }
        return "\(replacement)://\(rest)"
    }
}
