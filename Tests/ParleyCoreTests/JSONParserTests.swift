import Foundation
import ParleyCore
import Testing

@Suite("JSON parser")
struct JSONParserTests {
    @Test("parses every kind of value, with whitespace around tokens")
    func values() {
        let text = " {\n\t\"s\" : \"x\", \"n\":-12.5e1 , \"i\":0, \"t\":true,\"f\":false,\"z\":null,\"a\":[ ],\"o\":{}, \"e\":[1,[2,{\"k\":3}]] } "
        #expect(
            JSONValue.parse(text) == [
                "s": "x", "n": -125, "i": 0, "t": true, "f": false, "z": nil, "a": [], "o": [:], "e": [1, [2, ["k": 3]]],
            ])
        #expect(JSONValue.parse("3") == 3)
        #expect(JSONValue.parse("\"only\"") == "only")
        #expect(JSONValue.parse(Data("[1E+2,2e-1,0.5]".utf8)) == [100, 0.2, 0.5])
    }

    @Test("integers read directly (up to 15 digits) and through the general conversion give what Double(String) gives")
    func integers() {
        let texts = [
            "0", "-0", "7", "-7", "1234", "999999999999999", "-999999999999999", "1000000000000000", "9007199254740993",
            "123456789012345678901234567890", "-123456789012345678", "3600000",
        ]
        for text in texts {
            guard case .number(let parsed)? = JSONValue.parse(text), let expected = Double(text) else {
                Issue.record("\(text) did not parse as a number")
                continue
            }
            #expect(parsed == expected && parsed.sign == expected.sign, "\(text)")
        }
    }

    @Test("decodes every escape, surrogate pairs included, and keeps raw UTF-8")
    func escapes() {
        #expect(JSONValue.parse(#""a\"b\\c\/d\be\ff\ng\rh\ti""#) == .string("a\"b\\c/d\u{8}e\u{C}f\ng\rh\ti"))
        #expect(JSONValue.parse(#""\u00e9\u20AC\ud83d\ude00 é😀""#) == .string("é€😀 é😀"))
        // Without escapes, from a String (not validated again) and from bytes (validated): the same.
        #expect(JSONValue.parse(#"{"é😀":"ü ✓ 😀"}"#) == .object(["é😀": .string("ü ✓ 😀")]))
        #expect(JSONValue.parse(Data(#"{"é😀":"ü ✓ 😀"}"#.utf8)) == .object(["é😀": .string("ü ✓ 😀")]))
        #expect(JSONValue.parse(#""\u0000""#) == .string("\u{0}"))
    }

    @Test("agrees with its own serializer on a round trip")
    func roundTrip() {
        let value: JSONValue = [
            "audio": .string(String(repeating: "QUJD", count: 400)), "alignment": ["chars": ["a", "\n", "\""], "ms": [0, 10.5]],
        ]
        #expect(JSONValue.parse(value.serialized) == value)
    }

    @Test("writes strings with exactly the escapes it wrote scalar by scalar, runs of characters whole, and Foundation reads them back")
    func stringEscapes() throws {
        let cases: [(String, String)] = [
            ("", #""""#), ("plain", #""plain""#), ("a\"b", #""a\"b""#), ("\\", #""\\""#), ("x\ny\r\tz", #""x\ny\r\tz""#),
            ("\u{0}\u{1f}", #""\u0000\u001f""#), ("\"\u{301}", "\"\\\"\u{301}\""), ("\r\n", #""\r\n""#), ("é😀\"✓", "\"é😀\\\"✓\""),
        ]
        for (value, expected) in cases {
            let written = JSONValue.string(value).serialized
            #expect(Array(written.utf8) == Array(expected.utf8), "\(value.unicodeScalars.map(\.value))")
            let foundation = try JSONSerialization.jsonObject(with: Data(written.utf8), options: .fragmentsAllowed) as? String
            #expect(foundation == value)
        }
    }

    @Test("serialises object keys in the order of their UTF-8 bytes, whatever String's order says (found by fuzz-json)")
    func keyOrder() {
        // String's `<` holds neither way between these two, so sorting with it depended on the hash seed.
        let value: JSONValue = ["\u{E9}]": 1, "e\u{301}": 2, "b": 3]
        #expect(value.serialized == "{\"b\":3,\"e\u{301}\":2,\"\u{E9}]\":1}")
    }

    @Test(
        "rejects what RFC 8259 does not allow",
        arguments: [
            "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "{'a':1}", "[1 2]", "01", "1.", ".5", "-", "+1", "1e", "0x10",
            "NaN", "Infinity", "1e999", "tru", "nulls", "\"abc", "\"a\u{1}b\"", "\"\\x\"", "\"\\u12\"", "\"\\ud83d\"",
            "\"\\ude00\"", "\"\\ud83d\\u0041\"", "[1]x", "{} {}", "{\"a\" 1}", "[,]",
        ])
    func rejects(_ text: String) {
        #expect(JSONValue.parse(text) == JSONValue?.none)
    }

    @Test("rejects invalid UTF-8 and nesting deeper than the limit")
    func limits() {
        #expect(JSONValue.parse(Data([0x22, 0xFF, 0xFE, 0x22])) == JSONValue?.none)
        #expect(JSONValue.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) != JSONValue?.none)
        #expect(JSONValue.parse(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)) == JSONValue?.none)
        #expect(JSONValue.parse(String(repeating: "{\"a\":", count: 5000) + "1" + String(repeating: "}", count: 5000)) == JSONValue?.none)
    }

    @Test("a quote, backslash, control character or multi-byte character at any offset of a long string is seen, as Foundation sees it")
    func longStrings() throws {
        let specials: [(json: String, valid: Bool)] = [
            ("\\\"", true), ("\\\\", true), ("\\n", true), ("\\u00e9", true), ("é", true), ("\u{1}", false), ("\t", false),
        ]
        for length in 0..<24 {
            for offset in 0...length {
                for special in specials {
                    let plain = String(repeating: "a", count: length)
                    let body = String(plain.prefix(offset)) + special.json + String(plain.dropFirst(offset))
                    let text = "[\"" + body + "\"]"
                    let ours = JSONValue.parse(text)
                    let foundation = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String]
                    #expect((ours != nil) == special.valid, "\(text.debugDescription)")
                    #expect(ours?.arrayValue?.first?.stringValue == foundation?.first, "\(text.debugDescription)")
                }
            }
        }
    }

    @Test("parseObject leaves the raw member's plain string as bytes, and decodes it as usual when it has escapes or is not a string")
    func rawMember() throws {
        let audio = String(repeating: "QUJD", count: 40)
        let plain = JSONValue.parseObject(#"{"audio":"\#(audio)","isFinal":null,"alignment":{"audio":"x"}}"#, rawStringMember: "audio") {
            members, raw in (members, raw.map { String(decoding: $0, as: UTF8.self) })
        }
        #expect(plain?.1 == audio)
        #expect(plain?.0["audio"] == nil)
        #expect(plain?.0["isFinal"] == .null)
        // Only the top-level member is raw.
        #expect(plain?.0["alignment"]?["audio"] == "x")
        let escaped = JSONValue.parseObject(#"{"audio":"a\/b"}"#, rawStringMember: "audio") { members, raw in (members, raw) }
        #expect(escaped?.0["audio"] == "a/b" && escaped?.1 == nil)
        let number = JSONValue.parseObject(#"{"audio": 12 }"#, rawStringMember: "audio") { members, raw in (members, raw) }
        #expect(number?.0["audio"] == .number(12) && number?.1 == nil)
        for invalid in [#"{"audio":"abc"#, #"{"audio":"abc"} x"#, #"["audio"]"#, #"{"audio":"a\#u{1}b"}"#] {
            #expect(JSONValue.parseObject(invalid, rawStringMember: "audio") { _, _ in true } == nil, "\(invalid)")
        }
    }
}
