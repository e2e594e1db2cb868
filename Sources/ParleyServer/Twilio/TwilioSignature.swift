import Crypto
import Foundation

/// Twilio's request signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with the
/// account's auth token, over the full URL Twilio requested followed by each POST parameter's
/// name and value, sorted by name.
public enum TwilioSignature {
    /// The signature Twilio sends for a request to `url` with form `parameters`.
    public static func compute(authToken: String, url: String, parameters: [(name: String, value: String)]) -> String {
        Data(hmacSHA1(key: Array(authToken.utf8), message: Array(signedText(url: url, parameters: parameters).utf8)))
            .base64EncodedString()
    }

    /// Whether `signature` is the one Twilio sends for this request, checked by swift-crypto
    /// (whose comparison takes the same time wherever the codes differ).
    public static func isValid(
        _ signature: String?, authToken: String, url: String, parameters: [(name: String, value: String)]
    ) -> Bool {
        // Only the canonical encoding: base64 decoders ignore a last character's padding bits, so
        // several strings decode to the same bytes, and Twilio compares strings.
        guard let signature, let code = Data(base64Encoded: signature), code.base64EncodedString() == signature else { return false }
        return HMAC<Insecure.SHA1>.isValidAuthenticationCode(
            code, authenticating: Data(signedText(url: url, parameters: parameters).utf8),
            using: SymmetricKey(data: Data(authToken.utf8)))
    }

    /// HMAC-SHA1 of `message` under `key` (swift-crypto; Twilio's signatures still use SHA-1).
    public static func hmacSHA1(key: [UInt8], message: [UInt8]) -> [UInt8] {
        Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// The URL followed by each parameter's name and value, sorted by name then value (so
    /// repeated names sign the same whichever order they came in).
    private static func signedText(url: String, parameters: [(name: String, value: String)]) -> String {
        let sorted = parameters.sorted { ($0.name, $0.value) < ($1.name, $1.value) }
        return url + sorted.map { $0.name + $0.value }.joined()
    }

    /// The name/value pairs of an `application/x-www-form-urlencoded` body, decoded.
    public static func formParameters(_ body: String) -> [(name: String, value: String)] {
        body.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (formDecode(parts[0]), parts.count > 1 ? formDecode(parts[1]) : "")
        }
    }

    private static func formDecode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
