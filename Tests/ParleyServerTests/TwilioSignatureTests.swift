import Foundation
import ParleyServer
import Testing

@Suite("Twilio request signatures")
struct TwilioSignatureTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("HMAC-SHA1 matches the RFC 2202 test vectors, including keys longer than a block")
    func rfc2202() {
        let cases: [(key: [UInt8], data: [UInt8], digest: String)] = [
            ([UInt8](repeating: 0x0B, count: 20), Array("Hi There".utf8), "b617318655057264e28bc0b6fb378c8ef146be00"),
            (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
            ([UInt8](repeating: 0xAA, count: 20), [UInt8](repeating: 0xDD, count: 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
            (
                [UInt8](repeating: 0xAA, count: 80), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
                "aa4ae5e15272d00e95705637ce8a3b55ed402112"
            ),
            (
                [UInt8](repeating: 0xAA, count: 80),
                Array("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data".utf8),
                "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"
            ),
        ]
        for item in cases {
            #expect(Self.hex(TwilioSignature.hmacSHA1(key: item.key, message: item.data)) == item.digest)
        }
    }

    @Test("Twilio's documented example signs to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    func documentedExample() {
        // Twilio's security docs: token 12345, this URL and these parameters. Checked with Python:
        // base64(hmac.new(b"12345", url + "".join(k + v for k, v in sorted(params)), sha1).digest())
        let parameters = [
            ("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"), ("From", "+12349013030"),
            ("To", "+18005551212"),
        ].map { (name: $0.0, value: $0.1) }
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2"
        #expect(TwilioSignature.compute(authToken: "12345", url: url, parameters: parameters) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
        #expect(TwilioSignature.isValid("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", authToken: "12345", url: url, parameters: parameters.reversed()))
        #expect(!TwilioSignature.isValid("0/KCTR6DLpKmkAf8muzZqo1nDgQ", authToken: "12345", url: url, parameters: parameters))
        #expect(!TwilioSignature.isValid("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", authToken: "12346", url: url, parameters: parameters))
        #expect(!TwilioSignature.isValid(nil, authToken: "12345", url: url, parameters: parameters))
    }

    @Test("form bodies decode + and percent escapes")
    func formDecoding() {
        let parameters = TwilioSignature.formParameters("From=%2B15550001111&Body=hello+there&Empty=&Flag")
        #expect(parameters.map(\.name) == ["From", "Body", "Empty", "Flag"])
        #expect(parameters.map(\.value) == ["+15550001111", "hello there", "", ""])
    }
}
