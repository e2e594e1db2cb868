public import Foundation

/// A JSON value, for wire messages whose shape is checked by hand.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses JSON text; nil when it is not valid JSON.
    public static func parse(_ text: String) -> JSONValue? {
        var text = text
        return text.withUTF8 { JSONParser.parse($0, validUTF8: true) }
    }

    /// Parses a JSON object and hands its members to `body`, except the top-level member
    /// `rawKey` when its value is a string without escapes: that string's bytes (between the
    /// quotes, not validated as UTF-8) come separately, valid only during `body`. Nil when the
    /// text is not a valid JSON object. For one long string read once, such as ElevenLabs'
    /// base64 audio, this saves making a `String` of it.
    public static func parseObject<Result>(
        _ text: String, rawStringMember rawKey: String,
        _ body: (_ members: [String: JSONValue], _ raw: UnsafeBufferPointer<UInt8>?) throws -> Result
    ) rethrows -> Result? {
        var text = text
        return try text.withUTF8 { bytes in
            guard let (members, raw) = JSONParser.parseObject(bytes, validUTF8: true, rawStringMember: rawKey) else { return nil }
            return try body(members, raw.map { UnsafeBufferPointer(rebasing: bytes[$0]) })
        }
    }

    /// Parses JSON bytes; nil when they are not valid JSON (or not UTF-8).
    public static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { JSONParser.parse($0.bindMemory(to: UInt8.self), validUTF8: false) }
    }

    /// The member `key` of an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The string value, if this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number, if this is a number.
    public var doubleValue: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The number as an integer, if this is a number with no fractional part within `Int` range.
    public var intValue: Int? {
        guard case .number(let value) = self, value.rounded() == value, abs(value) < 9e15 else { return nil }
        return Int(value)
    }

    /// The boolean, if this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// Compact JSON text; object keys are written in the order of their UTF-8 bytes so output is stable.
    public var serialized: String {
        var output = ""
        write(to: &output)
        return output
    }

    /// Appends compact JSON text to `output`.
    public func write(to output: inout String) {
        switch self {
        case .null:
            output += "null"
        case .bool(let value):
            output += value ? "true" : "false"
        case .number(let value):
            if !value.isFinite {
                output += "null"
            } else if value.rounded() == value, abs(value) < 1e15 {
                output += String(Int64(value))
            } else {
                output += "\(value)"
            }
        case .string(let value):
            Self.writeString(value, to: &output)
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            // By UTF-8 bytes: String's `<` is not a strict order for some canonically equivalent
            // prefixes ("e\u{301}" and "\u{E9}]" are each not less than the other), so sorting with
            // it gave a different text from one process to the next.
            for (index, key) in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if index > 0 { output += "," }
                Self.writeString(key, to: &output)
                output += ":"
                members[key]!.write(to: &output)
            }
            output += "}"
        }
    }

    /// Writes `value` quoted, escaping what RFC 8259 requires. The runs between bytes that need
    /// an escape are appended whole: appending scalar by scalar was a fifth of the capacity bench's
    /// load generator, whose fake ElevenLabs writes a kilobyte of base64 per message.
    private static func writeString(_ value: String, to output: inout String) {
        output += "\""
        let bytes = value.utf8
        var run = bytes.startIndex
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            // Bytes of multi-byte characters are all 0x80 or above: a run ends only at ASCII, so
            // it is whole characters.
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 {
                output += value[run..<index]
                switch byte {
                case UInt8(ascii: "\""): output += "\\\""
                case UInt8(ascii: "\\"): output += "\\\\"
                case UInt8(ascii: "\n"): output += "\\n"
                case UInt8(ascii: "\r"): output += "\\r"
                case UInt8(ascii: "\t"): output += "\\t"
                default:
                    let hex = String(byte, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
                run = bytes.index(after: index)
            }
            bytes.formIndex(after: &index)
        }
        output += value[run..<bytes.endIndex]
        output += "\""
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}
