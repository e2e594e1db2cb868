import ParleyCore

/// One tool call a fake chat model makes.
public struct FakeToolCall: Sendable, Hashable {
    /// The tool's name (one the request did not offer makes an "unknown function" call).
    public var name: String
    /// The arguments as the model writes them: JSON text, or anything else to act out a model
    /// that writes invalid JSON.
    public var arguments: String
    /// The call's id; nil for one in the style's own shape (`call_…`, Groq's `tk85n1k4m`-like).
    public var id: String?
    /// Offsets, in Unicode scalars of ``arguments``, where the streamed fragments are cut (in
    /// the fragmented styles); nil cuts every 6 scalars. Any offset is allowed, including inside
    /// a `\"` or `\u00e9` escape of the JSON text and between the scalars of one character.
    public var splits: [Int]?

    /// Creates a call.
    public init(name: String, arguments: String = "{}", id: String? = nil, splits: [Int]? = nil) {
        self.name = name
        self.arguments = arguments
        self.id = id
        self.splits = splits
    }

    /// The argument fragments, cut at ``splits``.
    public var fragments: [String] {
        let scalars = Array(arguments.unicodeScalars)
        let cuts = (splits ?? Array(stride(from: 6, to: scalars.count, by: 6))).filter { $0 > 0 && $0 < scalars.count }
        var pieces: [String] = []
        var start = 0
        for cut in Set(cuts).sorted() + [scalars.count] {
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: scalars[start..<cut])
            pieces.append(String(piece))
            start = cut
        }
        return pieces.filter { !$0.isEmpty }
    }
}

/// A turn in which a fake chat model calls tools.
public struct FakeToolTurn: Sendable, Hashable {
    /// Text said before the calls, such as "Let me check.", streamed as `delta.content`.
    public var preamble: String?
    /// The calls, in index order.
    public var calls: [FakeToolCall]
    /// Text streamed between the first call's first piece and the rest (models may do this).
    public var interjection: String?

    /// Creates a turn.
    public init(preamble: String? = nil, calls: [FakeToolCall], interjection: String? = nil) {
        self.preamble = preamble
        self.calls = calls
        self.interjection = interjection
    }
}

/// How a fake chat model's tool calls are streamed (docs/providers.md).
public enum FakeToolCallStyle: Sendable, Hashable {
    /// OpenAI, vLLM, llama.cpp's `llama-server`: the first piece of each call carries `id`,
    /// `type`, `function.name` and empty arguments; later pieces carry argument fragments, and
    /// parallel calls' fragments are interleaved across indexes.
    case fragmented
    /// Groq: every call whole in one delta, ids like `tk85n1k4m`.
    case groq
    /// llama.cpp's legacy shape: fragmented, with no `id` at all.
    case legacyNoID
    /// llama-cpp-python's server with Qwen 2.5: the calls are written as reply text.
    case text(FakeTextToolCallShape)
}

/// The plain-text shapes Qwen2.5-Coder-1.5B writes its calls in when llama-cpp-python's server
/// does not parse them (measured at temperature 0).
public enum FakeTextToolCallShape: Sendable, Hashable, CaseIterable {
    /// `{{"name": "get_weather", "arguments": {"city": "Paris"}}}`.
    case doubledBraces
    /// The object pretty-printed inside a ```` ```json ```` fence.
    case codeFence
    /// `<tool_call>\n{…}\n</tool_call>`.
    case toolCallTag
    /// `<tools>\n{…}\n</tools>`.
    case toolsTag
    /// `<tools></tools>`: markup with no call in it.
    case emptyToolsTag

    /// The reply text for `calls`.
    public func render(_ calls: [FakeToolCall]) -> String {
        calls.map { call in
            let name = JSONValue.string(call.name).serialized
            switch self {
            case .doubledBraces: return "{{\"name\": \(name), \"arguments\": \(call.arguments)}}"
            case .codeFence: return "```json\n{\n  \"name\": \(name),\n  \"arguments\": \(call.arguments)\n}\n```"
            case .toolCallTag: return "<tool_call>\n{\"name\": \(name), \"arguments\": \(call.arguments)}\n</tool_call>"
            case .toolsTag: return "<tools>\n{\"name\": \(name), \"arguments\": \(call.arguments)}\n</tools>"
            case .emptyToolsTag: return "<tools></tools>"
            }
        }.joined(separator: "\n")
    }
}
