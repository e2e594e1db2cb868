/// Follows JSON text byte by byte and tells whether each byte is inside a string literal, for
/// scanners that look at structure (braces, commas) without parsing: a quote opens or closes a
/// string unless a backslash escapes it.
public struct JSONStringTracker: Sendable {
    /// Whether the last byte read is part of a string literal (its quotes included).
    public private(set) var inString = false
    private var escaped = false

    /// Creates a tracker outside any string.
    public init() {}

    /// Reads `byte`; returns whether it belongs to a string literal (an opening or closing quote
    /// does), so structural characters are those for which it returns false.
    public mutating func read(_ byte: UInt8) -> Bool {
        if inString {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inString = false
            }
            return true
        }
        if byte == UInt8(ascii: "\"") {
            inString = true
            return true
        }
        return false
    }
}
