/// Where an agent's tools come from: its webhooks and built-ins (fixed), or one MCP server (whose
/// list may change while Parley runs).
public protocol ToolSource: Sendable {
    /// The source's name, put before a tool's name when two sources offer the same one
    /// (`orders__lookup`); nil for tools that keep their names (webhooks, built-ins).
    var prefix: String? { get }
    /// The tools it offers now.
    func tools() async -> [any AgentTool]
}

/// A fixed list of tools: the agent file's webhooks and the built-ins.
public struct StaticToolSource: ToolSource {
    public let list: [any AgentTool]
    public var prefix: String? { nil }

    /// Creates a source.
    public init(_ tools: [any AgentTool]) {
        self.list = tools
    }

    public func tools() async -> [any AgentTool] { list }
}

/// Every tool an agent may call, gathered from its sources before each LLM request.
public struct Toolbox: Sendable {
    /// The sources, in the agent file's order (webhooks and built-ins first, then MCP servers).
    public let sources: [any ToolSource]

    /// Creates a toolbox.
    public init(sources: [any ToolSource]) {
        self.sources = sources
    }

    /// The most tools offered in one request (Groq's limit).
    public static let maximumTools = 128

    /// The tools now, each under a unique name the model may use (`[A-Za-z0-9_-]`, ≤64
    /// characters): a name offered by more than one source is prefixed with the prefixed source's
    /// name and two underscores; a later duplicate that still collides is left out.
    public func current() async -> ToolSet {
        var gathered: [(prefix: String?, tool: any AgentTool)] = []
        for source in sources {
            for tool in await source.tools() { gathered.append((source.prefix, tool)) }
        }
        var counts: [String: Int] = [:]
        for entry in gathered { counts[Self.safeName(entry.tool.definition.name), default: 0] += 1 }
        var set = ToolSet()
        for entry in gathered where set.tools.count < Self.maximumTools {
            let base = Self.safeName(entry.tool.definition.name)
            var name = base
            if counts[base, default: 0] > 1, let prefix = entry.prefix {
                name = Self.safeName(prefix + "__" + base)
            }
            guard set.byName[name] == nil else { continue }
            set.byName[name] = set.tools.count
            set.tools.append(entry.tool)
            var definition = entry.tool.definition
            definition.name = name
            set.definitions.append(definition)
        }
        return set
    }

    /// `name` with every character outside `[A-Za-z0-9_-]` replaced by `_`, cut to 64 characters.
    public static func safeName(_ name: String) -> String {
        let safe = name.unicodeScalars.map { scalar -> Character in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-": Character(scalar)
            default: "_"
            }
        }
        let cut = String(safe.prefix(64))
        return cut.isEmpty ? "_" : cut
    }
}

/// The tools of one request: what the model is offered and what each name calls.
public struct ToolSet: Sendable {
    /// The definitions sent to the model, under their unique names.
    public internal(set) var definitions: [ToolDefinition] = []
    var tools: [any AgentTool] = []
    var byName: [String: Int] = [:]

    /// Whether there are no tools.
    public var isEmpty: Bool { tools.isEmpty }

    /// The tool the model calls `name`.
    public func tool(named name: String) -> (any AgentTool)? {
        byName[name].map { tools[$0] }
    }
}
