import Foundation
import ParleyCore

/// One chat completion as the fake OpenAI-compatible server produces it: the reply cut by `stop`
/// and the token limit, streamed as chunks shaped like Groq's or OpenAI's.
struct FakeChatCompletion {
    let configuration: FakeOpenAIServer.Configuration
    let model: String
    let id = "chatcmpl-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    let groqID = "req_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    let created = Int(Date().timeIntervalSince1970)
    /// Reasoning pieces to stream first (empty when the request hid reasoning).
    let reasoning: [String]
    /// Content pieces, about one token each.
    let content: [String]
    let finishReason: String
    let includeUsage: Bool
    let promptTokens: Int
    /// The tool calls streamed as `delta.tool_calls` after the content (none in the text style).
    let toolCalls: [FakeToolCall]
    /// Text streamed between the first call's first piece and the rest.
    let interjection: String?

    init(
        configuration: FakeOpenAIServer.Configuration, request: JSONValue, messages: [ChatMessage], model: String,
        toolTurn: FakeToolTurn? = nil, fault: FakeOpenAIServer.Fault? = nil
    ) {
        self.configuration = configuration
        self.model = model
        var reply = configuration.reply(messages)
        var finish = "stop"
        var calls = toolTurn?.calls ?? []
        if fault == .unknownTool, !calls.isEmpty { calls[0].name = "unknown_tool" }
        if fault == .invalidToolArguments, !calls.isEmpty { calls[0].arguments = String(calls[0].arguments.dropLast()) + "," }
        if let toolTurn, case .text(let shape) = configuration.toolCallStyle {
            reply = (toolTurn.preamble.map { $0 + " " } ?? "") + shape.render(calls)
            calls = []
        } else if let toolTurn {
            reply = toolTurn.preamble ?? ""
            finish = "tool_calls"
        }
        self.toolCalls = calls
        self.interjection = calls.isEmpty ? nil : toolTurn?.interjection
        let stops = request["stop"]?.arrayValue?.compactMap(\.stringValue) ?? request["stop"]?.stringValue.map { [$0] } ?? []
        for stop in stops where !stop.isEmpty {
            if let range = reply.range(of: stop) { reply = String(reply[..<range.lowerBound]) }
        }
        let hidesReasoning = request["include_reasoning"]?.boolValue == false || request["reasoning_format"]?.stringValue == "hidden"
        var reasoning = hidesReasoning ? [] : Self.pieces(configuration.reasoning ?? "")
        var content = Self.pieces(reply)
        // Reasoning tokens count against the completion limit, as on Groq's reasoning models.
        if let limit = request["max_completion_tokens"]?.intValue ?? request["max_tokens"]?.intValue,
            reasoning.count + content.count > limit
        {
            finish = "length"
            if reasoning.count >= limit {
                reasoning = Array(reasoning.prefix(limit))
                content = []
            } else {
                content = Array(content.prefix(limit - reasoning.count))
            }
        }
        self.reasoning = reasoning
        self.content = content
        self.finishReason = finish
        self.includeUsage = request["stream_options"]?["include_usage"]?.boolValue == true
        self.promptTokens = messages.reduce(0) { $0 + Self.pieces($1.content).count + 4 }
    }

    /// Splits text into pieces of about a token: each word with the space before it.
    static func pieces(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in text {
            if character == " ", !current.isEmpty, current != " " {
                pieces.append(current)
                current = ""
            }
            current.append(character)
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    var usage: JSONValue {
        let completion = reasoning.count + content.count
        return [
            "queue_time": 0.01, "prompt_tokens": .number(Double(promptTokens)), "prompt_time": 0.002,
            "completion_tokens": .number(Double(completion)), "completion_time": 0.05,
            "total_tokens": .number(Double(promptTokens + completion)), "total_time": 0.052,
        ]
    }

    func chunk(delta: JSONValue, finishReason: String? = nil, extra: [String: JSONValue] = [:]) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id), "object": "chat.completion.chunk", "created": .number(Double(created)), "model": .string(model),
            "system_fingerprint": "fp_fake",
            "choices": [["index": 0, "delta": delta, "logprobs": nil, "finish_reason": finishReason.map { .string($0) } ?? .null]],
        ]
        if configuration.flavor == .openAI { object["usage"] = .null }
        for (key, value) in extra { object[key] = value }
        return .object(object)
    }

    /// The non-streaming response.
    func whole() -> JSONValue {
        [
            "id": .string(id), "object": "chat.completion", "created": .number(Double(created)), "model": .string(model),
            "choices": [["index": 0, "message": wholeMessage, "finish_reason": .string(finishReason)]],
            "usage": usage, "x_groq": ["id": .string(groqID)],
        ]
    }

    /// Streams the completion; returns false when the client went away first.
    func stream(
        to response: FakeResponseWriter, headers: [(String, String)], fault: FakeOpenAIServer.Fault?, beforeDrop: () -> Void = {}
    ) async throws -> Bool {
        var writer = EventWriter(response: response, configuration: configuration)
        do {
            try await response.writeHead(status: 200, headers: headers)
            let first: [String: JSONValue] = configuration.flavor == .groq ? ["x_groq": ["id": .string(groqID)]] : [:]
            try await writer.send(chunk(delta: ["role": "assistant", "content": ""], extra: first))
            if fault == .toolUseFailedEvent {
                try await writer.send(FakeToolRequest.toolUseFailed)
                try await response.end()
                return true
            }
            if fault == .malformedChunk {
                try await writer.sendRaw("{\"id\": \"broken")
                try await writer.sendRaw("[DONE]")
                return true
            }
            for piece in reasoning {
                try await writer.send(chunk(delta: ["reasoning": .string(piece)]))
            }
            if configuration.firstTokenDelay > .zero { try await FakeClock.sleep(for: configuration.firstTokenDelay) }
            for (index, piece) in content.enumerated() {
                switch fault {
                case .errorAfter(let tokens) where tokens == index:
                    try await writer.send(["error": ["message": "The server had an error while processing your request.", "type": "server_error"]])
                    try await response.end()
                    return true
                case .groqErrorAfter(let tokens) where tokens == index:
                    try await writer.send(
                        chunk(delta: [:], extra: ["x_groq": ["id": .string(groqID), "error": "service_unavailable: stream interrupted"]]))
                    try await response.end()
                    return true
                case .endAfter(let tokens) where tokens == index:
                    try await response.end()
                    return true
                case .dropAfter(let tokens) where tokens == index:
                    beforeDrop()
                    response.abort()
                    return true
                default:
                    break
                }
                if index > 0, configuration.tokenDelay > .zero { try await FakeClock.sleep(for: configuration.tokenDelay) }
                try await writer.send(chunk(delta: ["content": .string(piece)]))
            }
            if !toolCalls.isEmpty {
                for delta in toolCallDeltas() {
                    if configuration.tokenDelay > .zero { try await FakeClock.sleep(for: configuration.tokenDelay) }
                    try await writer.send(chunk(delta: delta))
                }
                if fault == .cutBeforeFinish {
                    try await response.end()
                    return true
                }
            }
            switch configuration.flavor {
            case .groq:
                try await writer.send(
                    chunk(delta: [:], finishReason: finishReason, extra: ["x_groq": ["id": .string(groqID), "usage": usage], "usage": usage]))
            case .openAI:
                try await writer.send(chunk(delta: [:], finishReason: finishReason))
                if includeUsage {
                    var last = chunk(delta: [:])
                    if case .object(var object) = last {
                        object["choices"] = []
                        object["usage"] = usage
                        last = .object(object)
                    }
                    try await writer.send(last)
                }
            }
            try await writer.sendRaw("[DONE]")
            try await response.end()
            return true
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return false
        }
    }

    /// Writes `data:` events with the configured line endings, pings and write splitting.
    struct EventWriter {
        let response: FakeResponseWriter
        let configuration: FakeOpenAIServer.Configuration
        var random: SplitMix64?

        init(response: FakeResponseWriter, configuration: FakeOpenAIServer.Configuration) {
            self.response = response
            self.configuration = configuration
            self.random = configuration.splitWrites.map(SplitMix64.init(seed:))
        }

        mutating func send(_ value: JSONValue) async throws {
            try await sendRaw(value.serialized)
        }

        mutating func sendRaw(_ data: String) async throws {
            let newline = configuration.crlf ? "\r\n" : "\n"
            var text = ""
            if configuration.pings { text += ": ping" + newline + newline }
            text += "data: " + data + newline + newline
            let bytes = Array(text.utf8)
            guard var generator = random else {
                try await response.write(bytes)
                return
            }
            // Cut at random offsets, so events split mid-line and mid-character.
            var start = 0
            while start < bytes.count {
                let length = Int(generator.next() % 7) + 1
                let end = min(bytes.count, start + length)
                try await response.write(bytes[start..<end])
                start = end
            }
            random = generator
        }
    }
}

/// A parsed `multipart/form-data` body (RFC 7578), as the fake transcription endpoint reads it.
struct FakeMultipart {
    struct File {
        let name: String
        let filename: String
        let bytes: [UInt8]
    }

    var fields: [String: String] = [:]
    var files: [File] = []

    /// Parses `body` with the boundary from `contentType`; nil when it is not well-formed.
    static func parse(body: [UInt8], contentType: String) -> FakeMultipart? {
        guard contentType.lowercased().hasPrefix("multipart/form-data"),
            let range = contentType.range(of: "boundary=")
        else { return nil }
        var boundary = String(contentType[range.upperBound...])
        if let end = boundary.firstIndex(of: ";") { boundary = String(boundary[..<end]) }
        boundary = boundary.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        let delimiter = Array("--\(boundary)".utf8)
        var result = FakeMultipart()
        var sawEnd = false
        var positions: [Int] = []
        var index = 0
        while let found = find(delimiter, in: body, from: index) {
            positions.append(found)
            index = found + delimiter.count
        }
        guard positions.count >= 2 else { return nil }
        for (start, end) in zip(positions, positions.dropFirst()) {
            var part = Array(body[(start + delimiter.count)..<end])
            guard part.starts(with: Array("\r\n".utf8)), part.count >= 4 else { return nil }
            part.removeFirst(2)
            guard part.suffix(2) == Array("\r\n".utf8)[...] else { return nil }
            part.removeLast(2)
            guard let split = find(Array("\r\n\r\n".utf8), in: part, from: 0) else { return nil }
            let head = String(decoding: part[..<split], as: UTF8.self)
            let content = Array(part[(split + 4)...])
            guard let name = attribute("name", in: head) else { return nil }
            if let filename = attribute("filename", in: head) {
                result.files.append(File(name: name, filename: filename, bytes: content))
            } else {
                result.fields[name] = String(decoding: content, as: UTF8.self)
            }
        }
        if let last = positions.last {
            sawEnd = body[(last + delimiter.count)...].starts(with: Array("--".utf8))
        }
        return sawEnd ? result : nil
    }

    static func attribute(_ name: String, in head: String) -> String? {
        guard let range = head.range(of: "; \(name)=\"") else { return nil }
        let rest = head[range.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0], Array(haystack[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }
}
