public import AsyncHTTPClient
import Foundation
public import ParleyCore
public import ParleyProviders

/// An agent as `parley serve --agent FILE` reads it: its prompt, greeting, voice and tools.
///
/// ```json
/// {"system_prompt": "…", "greeting": "…",
///  "tools": [{"type": "webhook", "name": "get_weather", "description": "…",
///             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
///             "url": "https://…", "timeout_ms": 3000, "headers": {"Authorization": "Bearer ${WEATHER_KEY}"}}],
///  "mcp_servers": [{"name": "orders", "command": ["python3", "server.py"], "env": {"A": "b"}},
///                  {"name": "crm", "url": "https://…/mcp", "headers": {}}]}
/// ```
/// `${VAR}` in any string outside `parameters` is replaced by the environment variable `VAR`.
/// Unknown keys are ignored; a missing or malformed field stops start-up with an
/// ``AgentFileError`` naming the file and the field. See docs/agents.md.
public struct AgentFile: Sendable {
    /// A tool served by an HTTP endpoint.
    public struct Webhook: Sendable, Equatable {
        public var definition: ToolDefinition
        public var url: String
        public var timeout: Duration
        public var headers: [String: String]
        public var interruptible: Bool
    }

    /// The voice: one for every provider, or one per text-to-speech provider name.
    public enum Voice: Sendable, Equatable {
        case any(String)
        case byProvider([String: String])

        /// The voice for the text-to-speech provider `name` (`local`, `espeak`, `elevenlabs`…).
        public func forProvider(_ name: String) -> String? {
            switch self {
            case .any(let voice): voice
            case .byProvider(let voices): voices[name] ?? voices["default"]
            }
        }
    }

    /// Where it was read from.
    public var path: String
    /// The LLM's system prompt, if the file sets one.
    public var systemPrompt: String?
    /// Spoken when a session starts, if set.
    public var greeting: String?
    /// The voice, if set.
    public var voice: Voice?
    /// The webhook tools, in the file's order.
    public var webhooks: [Webhook] = []
    /// The MCP servers, in the file's order.
    public var mcpServers: [MCPServerConfiguration] = []
    /// Whether the built-in `end_call` is offered (`"end_call": false` turns it off).
    public var endCall = true

    /// The largest agent file read.
    public static let maximumBytes = 1 << 20
    /// The longest call timeout a file may set (`timeout_ms`).
    public static let maximumTimeout = Duration.seconds(120)

    /// Reads and checks the agent file at `path`, expanding `${VAR}` from `environment`.
    public static func load(path: String, environment: [String: String]) throws(AgentFileError) -> AgentFile {
        let name = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw AgentFileError(file: name, field: nil, "cannot be read (no such file, or no permission)")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maximumBytes + 1)) ?? Data()
        guard data.count <= maximumBytes else { throw AgentFileError(file: name, field: nil, "is larger than 1 MiB") }
        guard let value = JSONValue.parse(data) else { throw AgentFileError(file: name, field: nil, "is not valid JSON") }
        var reader = AgentFileReader(file: name, environment: environment)
        return try reader.agent(value, path: path)
    }

    /// The tools as sources for a session's ``Toolbox``: the webhooks and built-ins first, then one
    /// source per MCP server (the servers must be run, see ``MCPToolServer/run(logger:)``).
    public func toolSources(httpClient: HTTPClient, supervisor: MCPSupervisor?) -> (static: StaticToolSource, servers: [MCPToolServer]) {
        var tools: [any AgentTool] = webhooks.map {
            WebhookTool(
                definition: $0.definition, url: $0.url, headers: $0.headers, timeout: $0.timeout, interruptible: $0.interruptible,
                httpClient: httpClient)
        }
        if endCall { tools.append(EndCallTool()) }
        let servers = mcpServers.map { MCPToolServer(configuration: $0, supervisor: supervisor) }
        return (StaticToolSource(tools), servers)
    }
}

/// A mistake in an agent file: the file, the field (`tools[0].url`) and what is wrong.
public struct AgentFileError: Error, Equatable, CustomStringConvertible {
    public let file: String
    public let field: String?
    public let message: String

    init(file: String, field: String?, _ message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String {
        "agent file \(file): \(field.map { "\($0): " } ?? "")\(message)"
    }
}
