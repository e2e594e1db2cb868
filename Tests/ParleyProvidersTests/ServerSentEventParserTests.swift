import ParleyProviders
import Testing

@Suite("Server-sent events parser")
struct ServerSentEventParserTests {
    static let stream = """
        : ping\r
        data: {"choices":[{"delta":{"content":"Héllo 😀"}}]}\r
        \r
        event: error\r
        data: {"error":{"message":"boom"}}\r
        \r
        data: line one\r
        data:line two\r
        id: 7\r
        \r
        data: [DONE]\r
        \r

        """

    static let expected = [
        ServerSentEvent(data: #"{"choices":[{"delta":{"content":"Héllo 😀"}}]}"#),
        ServerSentEvent(event: "error", data: #"{"error":{"message":"boom"}}"#),
        ServerSentEvent(data: "line one\nline two"),
        ServerSentEvent(data: "[DONE]"),
    ]

    static func parse(_ bytes: [UInt8], splitAt cuts: [Int]) throws -> [ServerSentEvent] {
        var parser = ServerSentEventParser()
        var events: [ServerSentEvent] = []
        var start = 0
        for cut in cuts + [bytes.count] where cut >= start {
            events += try parser.push(bytes[start..<cut])
            start = cut
        }
        if let last = parser.finish() { events.append(last) }
        return events
    }

    @Test("events split at every byte offset — inside UTF-8, between CR and LF — parse the same")
    func everySplit() throws {
        let bytes = Array(Self.stream.utf8)
        for cut in 0...bytes.count {
            #expect(try Self.parse(bytes, splitAt: [cut]) == Self.expected, "split at \(cut)")
        }
    }

    @Test("one byte at a time, with LF, CRLF or CR line endings")
    func lineEndings() throws {
        for ending in ["\n", "\r\n", "\r"] {
            let text = Self.stream.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: ending)
            let bytes = Array(text.utf8)
            #expect(try Self.parse(bytes, splitAt: Array(0..<bytes.count)) == Self.expected)
        }
    }

    @Test("an event without its final blank line is still delivered at the end")
    func unterminated() throws {
        #expect(try Self.parse(Array("data: tail".utf8), splitAt: []) == [ServerSentEvent(data: "tail")])
    }

    @Test("a runaway line is an error, not unbounded memory")
    func lineLimit() {
        var parser = ServerSentEventParser(maximumLineLength: 16)
        #expect(throws: ServerSentEventParser.LineTooLong.self) {
            _ = try parser.push(Array("data: 0123456789abcdef".utf8))
        }
    }

    @Test("data lines that never end their event are an error too, not unbounded memory")
    func eventLimit() throws {
        var parser = ServerSentEventParser(maximumLineLength: 64)
        #expect(try parser.push(Array("data: 0123456789\n\n".utf8)) == [ServerSentEvent(data: "0123456789")])
        #expect(throws: ServerSentEventParser.LineTooLong.self) {
            for _ in 0..<10 { _ = try parser.push(Array("data: 0123456789\n".utf8)) }
        }
    }

    @Test("fields split at the first colon byte, even when a combining mark follows it")
    func colonBeforeCombiningMark() throws {
        #expect(
            try Self.parse(Array("data:\u{301}x\nevent: \u{301}\n\n".utf8), splitAt: []) == [
                ServerSentEvent(event: "\u{301}", data: "\u{301}x")
            ])
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
