/// One MCP server an agent's tools come from, as the agent file describes it.
public struct MCPServerConfiguration: Sendable, Equatable {
    /// How Parley reaches the server.
    public enum Transport: Sendable, Equatable {
        /// A child process speaking newline-delimited JSON-RPC on its stdin and stdout: the
        /// command (executable and arguments) and the variables added to its environment.
        case stdio(command: [String], env: [String: String])
        /// A Streamable HTTP endpoint (`https://host/mcp`) and the headers sent with every request
        /// (an `Authorization` header, for instance).
        case http(url: String, headers: [String: String])
    }

    /// The server's name: the prefix of its tools' names when they collide with another
    /// source's, and the name in log lines.
    public var name: String
    /// How Parley reaches the server.
    public var transport: Transport
    /// The longest one `tools/call` may take; past it the call is cancelled and the model is told
    /// it timed out.
    public var timeout: Duration
    /// Whether a barge-in cancels a call in flight (see `AgentTool.interruptible`).
    public var interruptible: Bool

    /// Creates a configuration.
    public init(name: String, transport: Transport, timeout: Duration = .seconds(10), interruptible: Bool = true) {
        self.name = name
        self.transport = transport
        self.timeout = timeout
        self.interruptible = interruptible
    }

    /// Creates the configuration of a server Parley starts as a child process.
    public init(
        name: String, command: [String], env: [String: String] = [:], timeout: Duration = .seconds(10),
        interruptible: Bool = true
    ) {
        self.init(name: name, transport: .stdio(command: command, env: env), timeout: timeout, interruptible: interruptible)
    }

    /// Creates the configuration of a server Parley reaches over Streamable HTTP.
    public init(
        name: String, url: String, headers: [String: String] = [:], timeout: Duration = .seconds(10),
        interruptible: Bool = true
    ) {
        self.init(name: name, transport: .http(url: url, headers: headers), timeout: timeout, interruptible: interruptible)
    }

    /// The command of a stdio server; nil for an HTTP one.
    public var command: [String]? {
        if case .stdio(let command, _) = transport { return command }
        return nil
    }

    /// The URL of an HTTP server; nil for a stdio one.
    public var url: String? {
        if case .http(let url, _) = transport { return url }
        return nil
    }
}
