import ParleyCore

#if canImport(ParleyProviders)
import ParleyProviders
#endif

/// An OpenAI-compatible reply stream: the parser must give the same events however the body is
/// split into chunks (the first byte seeds the split points, the second picks a line limit), and
/// each event must decode as a chat-completion chunk or fail cleanly.
enum ServerSentEventTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        guard bytes.count >= 2 else { return }
        let body = bytes[2...]
        // A short limit reaches LineTooLong; the default one the normal path.
        let limit = bytes[1] < 64 ? 8 + Int(bytes[1]) : 1 << 20
        let whole = events(of: [body[...]], limit: limit)
        var chunks: [Slice<UnsafeRawBufferPointer>] = []
        var seed = UInt32(bytes[0]) &+ 1
        var start = body.startIndex
        while start < body.endIndex {
            seed = seed &* 1_103_515_245 &+ 12345
            let length = Int(seed >> 16) % 17
            let end = min(body.endIndex, start + length)
            chunks.append(body[start..<end])
            start = end
        }
        let chunked = events(of: chunks, limit: limit)
        try check(whole == chunked, "chunking changed the events: \(String(describing: whole)) vs \(String(describing: chunked))")
        for event in whole ?? [] {
            try check(
                !event.data.unicodeScalars.contains("\r") && !(event.event ?? "").unicodeScalars.contains { $0 == "\r" || $0 == "\n" },
                "a line break in \(event)")
            _ = try? ChatCompletionStreamEvent(event)
        }
    }

    /// The events of a body fed in `chunks` and finished; nil when a line was too long.
    private static func events(of chunks: [Slice<UnsafeRawBufferPointer>], limit: Int) -> [ServerSentEvent]? {
        var parser = ServerSentEventParser(maximumLineLength: limit)
        var events: [ServerSentEvent] = []
        do {
            for chunk in chunks { events += try parser.push(chunk) }
        } catch {
            return nil
        }
        if let last = parser.finish() { events.append(last) }
        return events
    }
}
