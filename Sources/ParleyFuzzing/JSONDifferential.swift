import Foundation
import ParleyCore

/// Parley's JSON parser against Foundation's `JSONSerialization` (with `.fragmentsAllowed`).
///
/// Whatever one accepts the other must accept with the same value: null, booleans, numbers
/// compared as `Double`, strings compared scalar by scalar, arrays element by element, objects
/// by their key sets. Parley's parse must also survive its own serialisation unchanged. The
/// deliberate differences, each a place where Parley follows RFC 8259 more strictly:
///
/// - **Encoding.** Foundation guesses UTF-16 and UTF-32 from zero bytes and skips a byte order
///   mark; Parley reads UTF-8 only (RFC 8259 §8.1), so it rejects such input.
/// - **Trailing commas.** Foundation accepts `[1,]` and `{"a":1,}`; Parley does not.
/// - **Depth.** Parley rejects nesting deeper than 128 (``JSONParser``'s stack guard);
///   Foundation allows 512.
/// - **Number precision.** Foundation keeps integers beyond `UInt64` and numbers with long
///   mantissas as `NSDecimalNumber` (38 digits), whose `doubleValue` is not correctly rounded
///   (5 ulps off for `549333…3`, 99 digits); those are compared within a relative 1e-12 instead
///   of exactly. Numbers outside `Double`'s range are rejected by both, except that Foundation
///   checks only the numbers it keeps: `{"a":1e400,"a":2}` passes there.
/// - **U+FEFF in strings.** Foundation drops a raw U+FEFF that starts a string or follows an
///   escape (`"\u0041<U+FEFF>b"` comes out as `"Ab"`), decoding each run of text as if it were a
///   file with a byte order mark. Parley keeps it, as RFC 8259 says; strings and keys are compared
///   without U+FEFF.
///
/// Duplicate keys, and keys that are canonically equivalent Unicode (`é` and `e` + U+0301), are
/// one key to both, since both build a Swift dictionary: the last value wins. Lone surrogates in
/// `\u` escapes are rejected by both.
enum JSONDifferential {
    static func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        let data = Data(bytes)
        let parley = JSONValue.parse(data)
        let foundation = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        if let text = String(validating: bytes, as: UTF8.self) {
            try check(JSONValue.parse(text) == parley, "parse(String) and parse(Data) disagree")
        }
        switch (parley, foundation) {
        case (nil, nil):
            return
        case (let value?, let object?):
            try check(same(value, object), "Parley and Foundation parse to different values: \(value.serialized) vs \(object)")
        case (let value?, nil):
            throw InvariantViolation("Parley accepts what Foundation rejects: \(value.serialized)")
        case (nil, let object?):
            try check(
                isDeliberateRejection(bytes, foundation: object),
                "Parley rejects what Foundation accepts: \(object)")
        }
        if let parley { try roundTrip(parley) }
    }

    /// Serialising and parsing again gives the same value and the same text.
    static func roundTrip(_ value: JSONValue) throws(InvariantViolation) {
        let text = value.serialized
        guard let again = JSONValue.parse(text) else {
            throw InvariantViolation("Parley cannot parse its own output: \(text)")
        }
        try check(again == value, "serialising changed the value: \(text)")
        try check(Array(again.serialized.utf8) == Array(text.utf8), "serialising twice changed the text: \(text)")
    }

    private static func same(_ value: JSONValue, _ object: Any) -> Bool {
        switch value {
        case .null:
            return object is NSNull
        case .bool(let bool):
            guard let number = object as? NSNumber, isBoolean(number) else { return false }
            return number.boolValue == bool
        case .number(let double):
            guard let number = object as? NSNumber, !isBoolean(number) else { return false }
            let other = number.doubleValue
            if other == double { return true }
            // NSDecimalNumber's doubleValue is not correctly rounded (seen 5 ulps off); Double(text) is.
            return number is NSDecimalNumber && abs(other - double) <= 1e-12 * max(abs(other), abs(double))
        case .string(let string):
            guard let other = object as? String else { return false }
            return Array(withoutBOM(string).unicodeScalars) == Array(withoutBOM(other).unicodeScalars)
        case .array(let elements):
            guard let others = object as? [Any], others.count == elements.count else { return false }
            return zip(elements, others).allSatisfy { same($0, $1) }
        case .object(let members):
            guard let others = object as? [String: Any] else { return false }
            let ours = Dictionary(members.map { (withoutBOM($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
            let theirs = Dictionary(others.map { (withoutBOM($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
            guard ours.count == members.count, theirs.count == others.count else {
                // Keys that differ only in U+FEFF: which value each side kept is arbitrary.
                return Set(ours.keys) == Set(theirs.keys)
            }
            return ours.count == theirs.count && ours.allSatisfy { key, member in theirs[key].map { same(member, $0) } ?? false }
        }
    }

    /// The string without U+FEFF, which Foundation drops in places (see above).
    private static func withoutBOM(_ string: String) -> String {
        String(String.UnicodeScalarView(string.unicodeScalars.filter { $0 != "\u{FEFF}" }))
    }

    private static let booleanType = type(of: NSNumber(value: true))

    private static func isBoolean(_ number: NSNumber) -> Bool {
        type(of: number) == booleanType
    }

    /// Whether Parley's rejection of input Foundation accepts is one of the documented differences.
    private static func isDeliberateRejection(_ bytes: UnsafeRawBufferPointer, foundation: Any) -> Bool {
        // Not UTF-8 JSON text: a byte order mark, or zero bytes Foundation takes for UTF-16/32.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) || bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE])
            || bytes.prefix(4).contains(0)
        {
            return true
        }
        if depth(foundation) > 128 { return true }
        if hasNumberOutOfRange(bytes) { return true }
        // Trailing commas: once they are removed Parley must agree.
        if let stripped = withoutTrailingCommas(bytes), stripped.count < bytes.count,
            let value = stripped.withUnsafeBytes({ JSONValue.parse(Data($0)) })
        {
            return same(value, foundation)
        }
        return false
    }

    private static func depth(_ object: Any) -> Int {
        if let array = object as? [Any] { return 1 + (array.map(depth).max() ?? 0) }
        if let members = object as? [String: Any] { return 1 + (members.values.map(depth).max() ?? 0) }
        return 0
    }

    /// Whether a number outside strings is beyond `Double`'s range (Foundation may have dropped it
    /// unchecked as the value of a duplicate key).
    private static func hasNumberOutOfRange(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var strings = JSONStringTracker()
        var number: [UInt8] = []
        for byte in bytes {
            // Inside a string (its closing quote included); an opening quote ends a number.
            let quoted = strings.inString
            if strings.read(byte) && quoted { continue }
            if byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            {
                number.append(byte)
                continue
            }
            if let value = Double(String(decoding: number, as: UTF8.self)), !value.isFinite { return true }
            number.removeAll()
        }
        return Double(String(decoding: number, as: UTF8.self)).map { !$0.isFinite } ?? false
    }

    /// The bytes with every comma that is followed (after whitespace) by `]` or `}` removed,
    /// outside strings; nil when a string is not closed.
    private static func withoutTrailingCommas(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        var output: [UInt8] = []
        var strings = JSONStringTracker()
        for (index, byte) in bytes.enumerated() {
            if !strings.read(byte), byte == UInt8(ascii: ",") {
                let next = bytes[(index + 1)...].first { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }
                if next == UInt8(ascii: "]") || next == UInt8(ascii: "}") { continue }
            }
            output.append(byte)
        }
        return strings.inString ? nil : output
    }
}
