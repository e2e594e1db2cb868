import Foundation
import Logging
import ParleyCore

@testable import ParleyProviders

/// Finds the Python with `mcp==2.3.0` and runs `tests/mcp/orders_server.py` under Parley's MCP client.
enum MCPTestSupport {
    /// The repository root.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// The test server.
    static let ordersServer = packageRoot + "/tests/mcp/orders_server.py"

    /// A Python that imports `mcp.server.mcpserver`: `$PARLEY_MCP_PYTHON`, else the checkout's
    /// `.venv/bin/python` (which `make setup` fills); nil when there is none.
    static let python: String? = {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["PARLEY_MCP_PYTHON"] { candidates.append(configured) }
        candidates.append(packageRoot + "/.venv/bin/python")
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: candidate)
            process.arguments = ["-c", "import mcp.server.mcpserver"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { continue }
            process.waitUntilExit()
            if process.terminationStatus == 0 { return candidate }
        }
        return nil
    }()

    /// Whether the MCP tests can run.
    static var available: Bool { python != nil }

    /// The supervisor script run by the test Python.
    static var supervisor: MCPSupervisor? {
        python.map { MCPSupervisor(python: $0, script: packageRoot + "/engines/supervise.py") }
    }

    /// The stdio configuration of the orders server.
    static func stdio(timeout: Duration = .seconds(10), marker: String? = nil) -> MCPServerConfiguration {
        var env: [String: String] = [:]
        if let marker { env["ORDERS_CANCEL_MARKER"] = marker }
        return MCPServerConfiguration(name: "orders", command: [python ?? "python3", ordersServer], env: env, timeout: timeout)
    }

    /// Runs `server` while `body` runs, then cancels it and waits for `run` to return.
    static func withRunning<T: Sendable>(
        _ server: MCPToolServer, logger: Logger = Logger(label: "test.mcp"), _ body: @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await server.run(logger: logger)
                return nil
            }
            let value = try await body()
            group.cancelAll()
            while let _ = try await group.next() {}
            return value
        }
    }

    /// Polls until `server` offers a tool called `name` (at most 20 s).
    @discardableResult
    static func waitForTool(
        _ name: String, on server: MCPToolServer, within limit: Duration = .seconds(20)
    ) async throws
        -> any AgentTool
    {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let tool = await server.tools().first(where: { $0.definition.name == name }) { return tool }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Missing(description: "the tool \(name) never appeared")
    }

    /// Polls `condition` every 50 ms until it holds, at most `limit`; returns whether it did.
    static func eventually(within limit: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return await condition()
    }

    /// Calls `name` of `server` with `arguments`.
    static func call(_ name: String, _ arguments: [String: JSONValue] = [:], on server: MCPToolServer) async throws -> ToolResult {
        let tool = try await waitForTool(name, on: server)
        return try await tool.call(ToolInvocation(callID: "c1", sessionID: "s1", arguments: arguments))
    }

    /// Whether a process with `pid` exists (a zombie counts).
    static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func listens(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// A test precondition that failed.
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }
}
