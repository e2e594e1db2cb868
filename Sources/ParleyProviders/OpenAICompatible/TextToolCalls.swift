package import ParleyCore

/// Tool calls that a local engine returns as plain reply text.
///
/// Parley's local LLM is Qwen2.5-Coder-1.5B-Instruct served by llama-cpp-python's server with the
/// GGUF's own chat template. The template puts the offered tools into the prompt, but that
/// server does not parse the model's calls out of the reply (llama.cpp's own `llama-server`
/// does, for Qwen 2.5): they arrive as `content`, in shapes such as
/// `{{"name": "get_weather", "arguments": {"city": "Paris"}}}` (braces doubled), a ```` ```json ````
/// fence around the object, `<tool_call>…</tool_call>` or `<tools>…</tools>` around it, and junk
/// such as `<tools></tools>`. A spoken answer never starts with `{`, `<` or a backtick, so a reply
/// that does is held back and read here instead of being spoken (docs/providers.md).
package enum TextToolCalls {
    /// The longest reply text held back to look for calls, in UTF-8 bytes.
    package static let maximumHeldBytes = 64 << 10

    /// Whether a reply whose first non-whitespace character is `character` may be a call.
    package static func opensMarkup(_ character: Character) -> Bool {
        character == "{" || character == "<" || character == "`"
    }

    /// The offered tool a call being written in `text` names, as soon as its `"name": "…"` is
    /// complete (the arguments may still be coming).
    package static func calledName(in text: String, toolNames: Set<String>) -> String? {
        var rest = Substring(text)
        while let key = rest.range(of: "\"name\"") {
            rest = rest[key.upperBound...].drop { $0.isWhitespace }
            guard rest.first == ":" else { continue }
            rest = rest.dropFirst().drop { $0.isWhitespace }
            guard rest.first == "\"" else { continue }
            rest = rest.dropFirst()
            guard let close = rest.firstIndex(of: "\"") else { return nil }
            let name = String(rest[..<close])
            if toolNames.contains(name) { return name }
            rest = rest[close...]
        }
        return nil
    }

    /// The calls written in `text`: every JSON object (braces possibly doubled) with a string
    /// `name` naming one of `toolNames` and an `arguments` (or `parameters`) object, in order, at
    /// most ``ToolCallAccumulator/maximumCalls``. Each gets a synthesised id, and its arguments
    /// are written out again as compact JSON.
    package static func calls(in text: String, toolNames: Set<String>) -> [ToolCall] {
        let bytes = Array(text.utf8)
        var calls: [ToolCall] = []
        var start = 0
        while start < bytes.count, calls.count < ToolCallAccumulator.maximumCalls {
            guard let open = bytes[start...].firstIndex(of: UInt8(ascii: "{")) else { break }
            guard let close = closingBrace(bytes, from: open) else {
                start = open + 1
                continue
            }
            let candidate = bytes[open...close]
            if let call = call(in: candidate, toolNames: toolNames, index: calls.count) {
                calls.append(call)
                start = close + 1
            } else {
                // Perhaps a wrapper around the call, such as {"function": {…}}: look inside.
                start = open + 1
            }
        }
        return calls
    }

    /// The call `candidate` (a balanced `{…}`) writes, trying it as it is and then with runs of
    /// braces halved (`{{` → `{`, `}}}` → `}}`).
    static func call(in candidate: ArraySlice<UInt8>, toolNames: Set<String>, index: Int) -> ToolCall? {
        for text in [Array(candidate), halvingBraces(candidate)] {
            guard let object = JSONValue.parse(String(decoding: text, as: UTF8.self)),
                let name = object["name"]?.stringValue, toolNames.contains(name)
            else { continue }
            var arguments = object["arguments"] ?? object["parameters"]
            if let string = arguments?.stringValue { arguments = JSONValue.parse(string) }
            guard case .object = arguments else { continue }
            return ToolCall(id: ToolCallAccumulator.syntheticID(index: index), name: name, arguments: arguments!.serialized)
        }
        return nil
    }

    /// The index of the brace that closes the one at `open`, skipping braces inside JSON
    /// strings; nil when it never closes.
    static func closingBrace(_ bytes: [UInt8], from open: Int) -> Int? {
        var depth = 0
        var strings = JSONStringTracker()
        for index in open..<bytes.count {
            let byte = bytes[index]
            if strings.read(byte) { continue }
            if byte == UInt8(ascii: "{") {
                depth += 1
            } else if byte == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return index }
            }
        }
        return nil
    }

    /// `text` with each run of n braces outside strings cut to ⌈n/2⌉, undoing a template's
    /// doubled braces.
    static func halvingBraces(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        var strings = JSONStringTracker()
        var run: (byte: UInt8, count: Int)?
        func flush() {
            if let pending = run { output += Array(repeating: pending.byte, count: (pending.count + 1) / 2) }
            run = nil
        }
        for byte in text {
            if !strings.read(byte), byte == UInt8(ascii: "{") || byte == UInt8(ascii: "}") {
                if let pending = run, pending.byte == byte {
                    run = (byte, pending.count + 1)
                } else {
                    flush()
                    run = (byte, 1)
                }
                continue
            }
            flush()
            output.append(byte)
        }
        flush()
        return output
    }
}
