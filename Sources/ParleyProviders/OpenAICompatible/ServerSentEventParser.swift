/// One server-sent event.
public struct ServerSentEvent: Sendable, Equatable {
    /// The `event:` field, if any.
    public var event: String?
    /// The `data:` lines joined with newlines.
    public var data: String

    /// Creates an event.
    public init(event: String? = nil, data: String) {
        self.event = event
        self.data = data
    }
}

/// An incremental parser for `text/event-stream` bodies, as the OpenAI and Groq SDKs read them.
///
/// Bytes can arrive split anywhere — inside a line, inside a UTF-8 character, between `\r` and
/// `\n` — so the parser buffers bytes and decodes only complete lines. Lines end with `\n`,
/// `\r\n` or `\r`; a blank line dispatches the event; lines starting with `:` are comments. A line,
/// or the data lines of one event together, longer than ``maximumLineLength`` is an error, so a
/// broken server cannot exhaust memory.
public struct ServerSentEventParser: Sendable {
    /// The longest line accepted, in bytes, and the most data one event may carry.
    public let maximumLineLength: Int

    /// A line, or an event's data, exceeded ``maximumLineLength``.
    public struct LineTooLong: Error, Sendable {}

    private var line: [UInt8] = []
    private var skipLineFeed = false
    private var event: String?
    private var data: [String] = []
    /// Bytes of the current event's data lines (and the line feeds joining them).
    private var dataBytes = 0

    /// Creates a parser.
    public init(maximumLineLength: Int = 1 << 20) {
        self.maximumLineLength = maximumLineLength
    }

    /// Consumes the next bytes and returns the events they completed.
    public mutating func push(_ bytes: some Sequence<UInt8>) throws(LineTooLong) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for byte in bytes {
            if skipLineFeed {
                skipLineFeed = false
                if byte == UInt8(ascii: "\n") { continue }
            }
            switch byte {
            case UInt8(ascii: "\n"):
                if let event = endLine() { events.append(event) }
            case UInt8(ascii: "\r"):
                skipLineFeed = true
                if let event = endLine() { events.append(event) }
            default:
                // Data lines without a blank line would otherwise pile up without bound.
                guard line.count + dataBytes < maximumLineLength else { throw LineTooLong() }
                line.append(byte)
            }
        }
        return events
    }

    /// Ends the stream: an event left without its blank line is dispatched, as the SDKs do.
    public mutating func finish() -> ServerSentEvent? {
        if !line.isEmpty { _ = endLine() }
        return dispatch()
    }

    private mutating func endLine() -> ServerSentEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return dispatch() }
        // Split at the first colon byte, as the specification does: searching the decoded String
        // for ":" misses a colon that a combining mark follows (the two make one Character).
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        if colon == line.startIndex { return nil }
        var valueStart = colon == line.endIndex ? colon : colon + 1
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let field = line[..<colon]
        if field.elementsEqual("data".utf8) {
            data.append(String(decoding: line[valueStart...], as: UTF8.self))
            dataBytes += line.count - valueStart + 1
        } else if field.elementsEqual("event".utf8) {
            event = String(decoding: line[valueStart...], as: UTF8.self)
        }
        // `id`, `retry` and unknown fields do not matter here.
        return nil
    }

    private mutating func dispatch() -> ServerSentEvent? {
        defer {
            event = nil
            data.removeAll()
            dataBytes = 0
        }
        guard !data.isEmpty || event != nil else { return nil }
        return ServerSentEvent(event: event, data: data.joined(separator: "\n"))
    }
}
