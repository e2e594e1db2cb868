public import Logging
import MCP
public import ParleyCore
import Synchronization

/// The tools of one MCP server, kept current while Parley runs.
///
/// ``run(logger:)`` starts the server (a child process, or a connection to an HTTP endpoint),
/// performs the MCP handshake, lists the tools and lists them again on
/// `notifications/tools/list_changed` (over HTTP, once a minute instead: the Linux HTTP transport
/// cannot receive notifications). When the server stops or cannot be reached, its tools are
/// withdrawn and it is started again after a pause (0.5 s, doubling to 30 s). Nothing here
/// throws a failure out of `run`: errors are logged under the server's name.
public final class MCPToolServer: ToolSource {
    /// The server as the agent file describes it.
    public let configuration: MCPServerConfiguration
    /// What launches a stdio server so that it never outlives Parley; nil to start it directly.
    public let supervisor: MCPSupervisor?
    /// How long the handshake and the first `tools/list` may take.
    public let startTimeout: Duration

    struct State {
        var client: Client?
        var tools: [any AgentTool] = []
    }
    let state = Mutex(State())
    private let abandoned: AsyncStream<AbandonedCall>
    private let abandonedContinuation: AsyncStream<AbandonedCall>.Continuation

    /// Creates a server; nothing starts until ``run(logger:)``.
    public init(configuration: MCPServerConfiguration, supervisor: MCPSupervisor? = nil, startTimeout: Duration = .seconds(30)) {
        self.configuration = configuration
        self.supervisor = supervisor
        self.startTimeout = startTimeout
        (abandoned, abandonedContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
    }

    /// The server's name, put before a tool's name when two sources offer the same one.
    public var prefix: String? { configuration.name }

    /// The tools the server offers now: none while it is down.
    public func tools() async -> [any AgentTool] { state.withLock { $0.tools } }

    /// The connection calls go to; nil while the server is down.
    var currentClient: Client? { state.withLock { $0.client } }

    func abandon(_ call: AbandonedCall) { abandonedContinuation.yield(call) }

    /// Keeps the server up and its tool list current until the task is cancelled; then stops it
    /// (a child is sent EOF, SIGTERM, SIGKILL and reaped) and returns.
    public func run(logger: Logger) async throws {
        var logger = logger
        logger[metadataKey: "parley.mcp"] = "\(configuration.name)"
        let named = logger
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.forwardCancellations(self.abandoned) }
            group.addTask { await self.keepConnected(logger: named) }
            // Both end only when cancelled; whichever ends first takes the other with it.
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// Connects again and again, pausing longer after each failure, until cancelled.
    private func keepConnected(logger: Logger) async {
        let shortest = Duration.milliseconds(500)
        var pause = shortest
        while !Task.isCancelled {
            let started = ContinuousClock.now
            var reason = "closed the connection"
            do {
                try await connectOnce(logger: logger)
            } catch is CancellationError {
                reason = "was stopped"
            } catch {
                reason = MCPValues.describe(error)
            }
            withdraw()
            if Task.isCancelled { break }
            if started.duration(to: .now) > .seconds(60) { pause = shortest }
            logger.error(
                "MCP server unavailable; its tools are withdrawn until it is back",
                metadata: ["parley.error": "\(configuration.name) \(reason)", "parley.retry_in": "\(pause)"])
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(30))
        }
        logger.info("MCP server stopped")
    }

    /// Forgets the connection and the tools.
    private func withdraw() {
        state.withLock {
            $0.client = nil
            $0.tools = []
        }
    }

    /// One life of the server: start or connect, serve until it ends, then stop it.
    private func connectOnce(logger: Logger) async throws {
        switch configuration.transport {
        case .stdio(let command, let env):
            try await runChild(command: command, env: env, logger: logger)
        case .http(let url, let headers):
            let transport = try MCPTransports.http(url: url, headers: headers, logger: logger)
            try await serve(transport: transport, exit: nil, logger: logger)
        }
    }

    private func runChild(command: [String], env: [String: String], logger: Logger) async throws {
        try await MCPChildProcess.run(command: command, environment: env, supervisor: supervisor, logger: logger) { child in
            var tagged = logger
            tagged[metadataKey: "parley.pid"] = "\(child.pid)"
            let logger = tagged
            logger.info("MCP server started", metadata: ["parley.command": "\(command.joined(separator: " "))"])
            let transport = MCPTransports.stdio(child, logger: logger)
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    await child.logErrors(logger: logger)
                    return false
                }
                group.addTask {
                    try await self.serve(transport: transport, exit: child.exit, logger: logger)
                    return true
                }
                // Stderr may close first; the connection's end (or its error) ends the group.
                while let served = try await group.next() {
                    if served { group.cancelAll() }
                }
            }
        }
    }
}
