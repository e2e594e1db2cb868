import ParleyCore

extension FakeChatCompletion {
    /// The `delta` objects that stream ``toolCalls`` in the configured style (docs/providers.md).
    ///
    /// Groq's style sends every call whole in one delta. The fragmented styles send each call's
    /// first piece (`index`, `id` unless legacy, `type`, `function.name`, empty arguments) in
    /// index order, the interjection if any, then the argument fragments round-robin across the
    /// calls, so parallel calls interleave.
    func toolCallDeltas() -> [JSONValue] {
        let groqStyle = configuration.toolCallStyle == .groq
        let ids = toolCalls.map { call in
            call.id ?? (groqStyle ? Self.groqCallID() : "call_" + String(UInt64.random(in: 0...UInt64.max), radix: 36))
        }
        if groqStyle {
            let items: [JSONValue] = toolCalls.enumerated().map { index, call in
                [
                    "index": .number(Double(index)), "id": .string(ids[index]), "type": "function",
                    "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
                ]
            }
            return [["tool_calls": .array(items)]]
        }
        var deltas: [JSONValue] = []
        for (index, call) in toolCalls.enumerated() {
            var item: [String: JSONValue] = [
                "index": .number(Double(index)), "type": "function", "function": ["name": .string(call.name), "arguments": ""],
            ]
            if configuration.toolCallStyle != .legacyNoID { item["id"] = .string(ids[index]) }
            deltas.append(["content": nil, "tool_calls": [.object(item)]])
            if index == 0, let interjection { deltas.append(["content": .string(interjection)]) }
        }
        let fragments = toolCalls.map(\.fragments)
        for round in 0..<(fragments.map(\.count).max() ?? 0) {
            for (index, pieces) in fragments.enumerated() where round < pieces.count {
                deltas.append(["tool_calls": [["index": .number(Double(index)), "function": ["arguments": .string(pieces[round])]]]])
            }
        }
        return deltas
    }

    /// The non-streaming reply's `message`, with `tool_calls` when the model called tools.
    var wholeMessage: JSONValue {
        guard !toolCalls.isEmpty else { return ["role": "assistant", "content": .string(content.joined())] }
        let calls: [JSONValue] = toolCalls.map { call in
            [
                "id": .string(call.id ?? Self.groqCallID()), "type": "function",
                "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
            ]
        }
        return ["role": "assistant", "content": content.isEmpty ? nil : .string(content.joined()), "tool_calls": .array(calls)]
    }

    /// A call id shaped like Groq's (`tk85n1k4m`): nine lower-case letters and digits.
    static func groqCallID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<9).map { _ in alphabet.randomElement()! })
    }
}
