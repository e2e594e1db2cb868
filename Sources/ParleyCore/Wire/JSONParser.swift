/// A strict RFC 8259 JSON parser over UTF-8 bytes into ``JSONValue``.
///
/// It exists because every provider message (ElevenLabs' base64 audio, Deepgram's results) and
/// every client event is parsed on the hot path, and Foundation's `JSONDecoder` through
/// `Decodable` was the largest single cost in a capacity profile. Nesting is limited to
/// ``maximumDepth`` so hostile input cannot exhaust the stack.
struct JSONParser: ~Copyable {
    /// The deepest nesting of arrays and objects accepted.
    static let maximumDepth = 128

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    /// The top-level member whose string value is left as bytes (``parseObject(_:rawStringMember:)``).
    private let rawKey: String?
    /// Where that string's bytes are, once found.
    private var rawRange: Range<Int>?
    /// Whether `bytes` are known to be valid UTF-8 (a `String`'s): a string without escapes,
    /// cut out at ASCII quotes, is then valid too and is made without validating it again. (The
    /// generic validation was 1.2 % of the server's CPU in a conversation, `perf`, 2026-12-06.)
    private let validUTF8: Bool

    private init(_ bytes: UnsafeBufferPointer<UInt8>, validUTF8: Bool, rawKey: String? = nil) {
        self.bytes = bytes
        self.validUTF8 = validUTF8
        self.rawKey = rawKey
    }

    /// Parses one JSON value filling all of `bytes` (whitespace around it allowed); nil when the
    /// bytes are not valid JSON. `validUTF8`: the bytes are a `String`'s.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, validUTF8: Bool) -> JSONValue? {
        var parser = JSONParser(bytes, validUTF8: validUTF8)
        guard let value = parser.value() else { return nil }
        parser.skipWhitespace()
        // Not a ternary: `nil` there would become JSONValue.null (ExpressibleByNilLiteral).
        guard parser.index == bytes.count else { return nil }
        return value
    }

    /// Parses one JSON object filling all of `bytes`, except that the top-level member `rawKey`,
    /// when its value is a string without escapes, is not decoded: its bytes (between the quotes)
    /// are given as a range of `bytes` instead, and the member is left out of `members`. For a
    /// long string read once (ElevenLabs' base64 audio), this saves making and validating a
    /// `String`. A `rawKey` value of another kind, or with escapes, is a member as usual.
    static func parseObject(
        _ bytes: UnsafeBufferPointer<UInt8>, validUTF8: Bool, rawStringMember rawKey: String
    ) -> (members: [String: JSONValue], raw: Range<Int>?)? {
        var parser = JSONParser(bytes, validUTF8: validUTF8, rawKey: rawKey)
        parser.skipWhitespace()
        guard parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "{"),
            case .object(let members)? = parser.object()
        else { return nil }
        parser.skipWhitespace()
        guard parser.index == bytes.count else { return nil }
        return (members, parser.rawRange)
    }

    private mutating func value() -> JSONValue? {
        skipWhitespace()
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "{"): return object()
        case UInt8(ascii: "["): return array()
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    private mutating func object() -> JSONValue? {
        guard depth < Self.maximumDepth else { return nil }
        depth += 1
        defer { depth -= 1 }
        index += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return .object(members) }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { return nil }
            if depth == 1, key == rawKey, let range = rawString() {
                rawRange = range
            } else {
                guard let member = value() else { return nil }
                members[key] = member
            }
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            guard consume(UInt8(ascii: "}")) else { return nil }
            return .object(members)
        }
    }

    private mutating func array() -> JSONValue? {
        guard depth < Self.maximumDepth else { return nil }
        depth += 1
        defer { depth -= 1 }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return .array(elements) }
        while true {
            guard let element = value() else { return nil }
            elements.append(element)
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            guard consume(UInt8(ascii: "]")) else { return nil }
            return .array(elements)
        }
    }

    /// The bytes of a string without escapes or control characters, after whitespace, starting
    /// at its opening quote; nil, with nothing consumed, for anything else.
    private mutating func rawString() -> Range<Int>? {
        skipWhitespace()
        let opening = index
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        skipPlainStringBytes()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
            index = opening
            return nil
        }
        index += 1
        return start..<(index - 1)
    }

    /// Moves past string bytes that need no attention: neither a quote, a backslash nor a control
    /// character. Eight bytes at a time while none of them is one (a long string, such as base64
    /// audio, is most of a message), then byte by byte.
    private mutating func skipPlainStringBytes() {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while index + 8 <= bytes.count {
                let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                // Per byte: is it 0 (after the XOR: a quote or a backslash), or below 0x20?
                // Exact as to whether any byte is: the bit trick's false positives sit only
                // above a true one.
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let special =
                    ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
                if special & highs != 0 { break }
                index += 8
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { return }
            index += 1
        }
    }

    /// A string starting at the opening quote.
    private mutating func string() -> String? {
        index += 1
        let start = index
        skipPlainStringBytes()
        // Fast path: no escape, so the bytes are the string (validated as UTF-8).
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                let text = validUTF8 ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            index += 1
        }
        guard index < bytes.count else { return nil }
        var scalars = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(validating: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { return nil }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escaped)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = unicodeEscape() else { return nil }
                    UTF8.encode(scalar) { scalars.append($0) }
                default: return nil
                }
            default:
                if byte < 0x20 { return nil }
                scalars.append(byte)
                index += 1
            }
        }
        return nil
    }

    /// The scalar of a `\uXXXX` escape (after the `u`), joining a surrogate pair.
    private mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let high = hex4() else { return nil }
        switch high {
        case 0xD800...0xDBFF:
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { return nil }
            index += 2
            guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        case 0xDC00...0xDFFF:
            return nil
        default:
            return Unicode.Scalar(high)
        }
    }

    private mutating func hex4() -> UInt32? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// A number as RFC 8259 spells it: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    ///
    /// An integer of up to 15 digits, exact as a `Double`, is accumulated directly; anything else
    /// goes through `Double(String)`. (ElevenLabs' alignment has a few hundred integers per
    /// message, each of which made a `String` and ran the general conversion.)
    private mutating func number() -> JSONValue? {
        let start = index
        let negative = consume(UInt8(ascii: "-"))
        let integerStart = index
        if consume(UInt8(ascii: "0")) {
            // No leading zeros.
        } else {
            guard digits() > 0 else { return nil }
        }
        let integerEnd = index
        var isInteger = true
        if consume(UInt8(ascii: ".")) {
            isInteger = false
            guard digits() > 0 else { return nil }
        }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            isInteger = false
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            guard digits() > 0 else { return nil }
        }
        if isInteger, integerEnd - integerStart <= 15 {
            var magnitude: Int64 = 0
            for offset in integerStart..<integerEnd { magnitude = magnitude * 10 + Int64(bytes[offset] &- UInt8(ascii: "0")) }
            // `-0` stays negative zero, as `Double("-0")` gives.
            return .number(negative ? -Double(magnitude) : Double(magnitude))
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { return nil }
        return .number(value)
    }

    private mutating func digits() -> Int {
        let start = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        return index - start
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return nil }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return nil }
        index += count
        return value
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }
}
