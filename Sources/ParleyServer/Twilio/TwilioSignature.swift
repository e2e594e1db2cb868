import Foundation

/// Twilio's request signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with the
/// account's auth token, over the full URL Twilio requested followed by each POST parameter's
/// name and value, sorted by name.
public enum TwilioSignature {
    /// The signature Twilio sends for a request to `url` with form `parameters`.
    public static func compute(authToken: String, url: String, parameters: [(name: String, value: String)]) -> String {
        // Sorted by name, then value, so repeated names sign the same whichever order they came in.
        let sorted = parameters.sorted { ($0.name, $0.value) < ($1.name, $1.value) }
        let message = url + sorted.map { $0.name + $0.value }.joined()
        return Data(SHA1.hmac(key: Array(authToken.utf8), message: Array(message.utf8))).base64EncodedString()
    }

    /// Whether `signature` is the one Twilio sends for this request; compared in constant time.
    public static func isValid(
        _ signature: String?, authToken: String, url: String, parameters: [(name: String, value: String)]
    ) -> Bool {
        guard let signature else { return false }
        let expected = Array(compute(authToken: authToken, url: url, parameters: parameters).utf8)
        let given = Array(signature.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// HMAC-SHA1 of `message` under `key`, exposed for the RFC 2202 test vectors.
    public static func hmacSHA1(key: [UInt8], message: [UInt8]) -> [UInt8] {
        SHA1.hmac(key: key, message: message)
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
