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
/// `\r\n` or `\r`; a blank line dispatches the event; lines starting with `:` are comments. A line
/// longer than ``maximumLineLength`` is an error, so a broken server cannot exhaust memory.
public struct ServerSentEventParser: Sendable {
    /// The longest line accepted, in bytes.
    public let maximumLineLength: Int

    /// A line exceeded ``maximumLineLength``.
    public struct LineTooLong: Error, Sendable {}

    private var line: [UInt8] = []
    private var skipLineFeed = false
    private var event: String?
    private var data: [String] = []

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
                guard line.count < maximumLineLength else { throw LineTooLong() }
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
        if line.first == UInt8(ascii: ":") { return nil }
        let text = String(decoding: line, as: UTF8.self)
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(text)
            value = ""
        }
        switch field {
        case "data": data.append(String(value))
        case "event": event = String(value)
        default: break  // `id`, `retry` and unknown fields do not matter here
        }
        return nil
    }

    private mutating func dispatch() -> ServerSentEvent? {
        defer {
            event = nil
            data.removeAll()
        }
        guard !data.isEmpty || event != nil else { return nil }
        return ServerSentEvent(event: event, data: data.joined(separator: "\n"))
    }
}
