import Foundation
import Logging
import MCP
import ParleyCore
import Testing

@testable import ParleyProviders

/// Parley's MCP client against a real MCP server (`tests/mcp/orders_server.py`, PyPI `mcp==2.3.0`).
@Suite(
    "MCP tool server", .serialized,
    .enabled(if: MCPTestSupport.available, "no Python with mcp==2.3.0: run `make setup` or set PARLEY_MCP_PYTHON"))
struct MCPToolServerTests {
    typealias Support = MCPTestSupport

    @Test("the stdio server's tools are listed with their schemas", .timeLimit(.minutes(1)))
    func listsTools() async throws {
        let server = MCPToolServer(configuration: Support.stdio(), supervisor: Support.supervisor)
        try await Support.withRunning(server) {
            let tool = try await Support.waitForTool("get_order_status", on: server)
            let names = Set(await server.tools().map(\.definition.name))
            #expect(names.isSuperset(of: ["get_order_status", "slow_lookup", "failing_tool", "add_tool", "server_pid"]))
            let schema = tool.definition.parameters
            #expect(schema["type"]?.stringValue == "object")
            #expect(schema["properties"]?["order_id"]?["type"]?.stringValue == "string")
            #expect(schema["required"]?.arrayValue == [.string("order_id")])
            #expect(tool.definition.description.contains("shipped"))
            #expect(tool.timeout == .seconds(10))
            #expect(tool.interruptible)
            #expect(server.prefix == "orders")
        }
    }

    @Test("a call returns the tool's text; a failing tool, an unknown tool and bad arguments give error results", .timeLimit(.minutes(1)))
    func calls() async throws {
        let server = MCPToolServer(configuration: Support.stdio(), supervisor: Support.supervisor)
        try await Support.withRunning(server) {
            let answer = try await Support.call("get_order_status", ["order_id": .string("A17")], on: server)
            #expect(answer == ToolResult(content: "Order A17 shipped on 3 December and arrives on Friday."))

            let failed = try await Support.call("failing_tool", on: server)
            #expect(failed.isError)
            #expect(failed.content.contains("the orders database is unavailable"))

            let unknown = try await server.call(tool: "no_such_tool", arguments: [:], timeout: .seconds(5))
            #expect(unknown.isError)
            #expect(unknown.content.contains("no_such_tool"))

            let bad = try await Support.call("get_order_status", ["order_id": .number(5)], on: server)
            #expect(bad.isError)
            #expect(bad.content.contains("order_id"))
        }
    }

    @Test("cancelling a slow call sends notifications/cancelled and returns at once", .timeLimit(.minutes(1)))
    func cancellation() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-cancel-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let server = MCPToolServer(configuration: Support.stdio(timeout: .seconds(60), marker: marker), supervisor: Support.supervisor)
        try await Support.withRunning(server) {
            let tool = try await Support.waitForTool("slow_lookup", on: server)
            let call = Task { try await tool.call(ToolInvocation(callID: "c1", sessionID: "s1", arguments: ["seconds": .number(30)])) }
            try await Task.sleep(for: .milliseconds(700))
            let cancelled = ContinuousClock.now
            call.cancel()
            let outcome = await call.result
            #expect(cancelled.duration(to: .now) < .seconds(2))
            #expect(throws: CancellationError.self) { try outcome.get() }
            #expect(await Support.eventually { FileManager.default.fileExists(atPath: marker) }, "the server never saw the cancellation")
            // The connection is still good.
            let answer = try await Support.call("get_order_status", ["order_id": .string("B2")], on: server)
            #expect(!answer.isError)
        }
    }

    @Test("a call past its timeout is cancelled and returns a timed-out error result", .timeLimit(.minutes(1)))
    func timeout() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-timeout-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let server = MCPToolServer(configuration: Support.stdio(timeout: .milliseconds(500), marker: marker), supervisor: Support.supervisor)
        try await Support.withRunning(server) {
            let started = ContinuousClock.now
            let result = try await Support.call("slow_lookup", ["seconds": .number(30)], on: server)
            #expect(started.duration(to: .now) < .seconds(5))
            #expect(result.isError)
            #expect(result.content.contains("timed out after 500 ms"))
            #expect(await Support.eventually { FileManager.default.fileExists(atPath: marker) }, "the server never saw the cancellation")
        }
    }

    @Test("notifications/tools/list_changed brings the new tool", .timeLimit(.minutes(1)))
    func listChanged() async throws {
        let server = MCPToolServer(configuration: Support.stdio(), supervisor: Support.supervisor)
        try await Support.withRunning(server) {
            #expect(await server.tools().contains { $0.definition.name == "track_parcel" } == false)
            let added = try await Support.call("add_tool", on: server)
            #expect(!added.isError)
            let tool = try await Support.waitForTool("track_parcel", on: server, within: .seconds(5))
            let answer = try await tool.call(ToolInvocation(callID: "c2", sessionID: "s1", arguments: ["parcel_id": .string("P9")]))
            #expect(answer.content == "Parcel P9 is at the depot.")
        }
    }

    @Test("the child is gone once run is cancelled", .timeLimit(.minutes(1)), arguments: [true, false])
    func childReaped(supervised: Bool) async throws {
        let server = MCPToolServer(configuration: Support.stdio(), supervisor: supervised ? Support.supervisor : nil)
        let pid = try await Support.withRunning(server) {
            let answer = try await Support.call("server_pid", on: server)
            return try #require(Int32(answer.content))
        }
        #expect(!Support.processExists(pid), "the MCP server \(pid) outlived run")
        #expect(await server.tools().isEmpty)
    }

    @Test(
        "a server that dies is reported, its tools withdrawn, and it is started again", .timeLimit(.minutes(1)))
    func restart() async throws {
        let store = DeepgramTestSupport.CapturingLogHandler.Store()
        let logger = Logger(label: "test.mcp") { _ in DeepgramTestSupport.CapturingLogHandler(store: store) }
        let server = MCPToolServer(configuration: Support.stdio(), supervisor: Support.supervisor)
        try await Support.withRunning(server, logger: logger) {
            let first = try #require(Int32(try await Support.call("server_pid", on: server).content))
            kill(first, SIGKILL)
            #expect(await Support.eventually(within: .seconds(5)) { await server.tools().isEmpty })
            let down = try await server.call(tool: "get_order_status", arguments: ["order_id": .string("x")], timeout: .seconds(1))
            #expect(down.isError)
            let second = try #require(Int32(try await Support.call("server_pid", on: server).content))
            #expect(second != first)
        }
        #expect(store.entries.contains { $0.level == .error && $0.text.contains("orders") && $0.text.contains("exited") })
    }

    @Test("a command that does not exist is logged; no crash, no tools", .timeLimit(.minutes(1)))
    func missingCommand() async throws {
        let store = DeepgramTestSupport.CapturingLogHandler.Store()
        let logger = Logger(label: "test.mcp") { _ in DeepgramTestSupport.CapturingLogHandler(store: store) }
        let configuration = MCPServerConfiguration(name: "ghost", command: ["/nonexistent/mcp-server", "--stdio"])
        let server = MCPToolServer(configuration: configuration, supervisor: Support.supervisor)
        try await Support.withRunning(server, logger: logger) {
            try await Task.sleep(for: .seconds(1))
            #expect(await server.tools().isEmpty)
        }
        #expect(store.entries.contains { $0.level == .error && $0.text.contains("ghost") && $0.text.contains("not found") })
    }

    @Test("an HTTP server answering with JSON is listed and called", .timeLimit(.minutes(1)))
    func http() async throws {
        let python = try #require(Support.python)
        let port = try LocalEngine.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [Support.ordersServer, "--http", "\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            // SIGKILL: uvicorn's graceful stop waits for the client's idle keep-alive connection.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        // Wait until the server listens, so the client's first attempt is not refused.
        #expect(await Support.eventually(within: .seconds(20)) { Support.listens(port) })
        let configuration = MCPServerConfiguration(
            name: "orders-http", url: "http://127.0.0.1:\(port)/mcp", headers: ["X-Test": "yes"])
        let server = MCPToolServer(configuration: configuration)
        try await Support.withRunning(server) {
            let answer = try await Support.call("get_order_status", ["order_id": .string("H1")], on: server)
            #expect(answer == ToolResult(content: "Order H1 shipped on 3 December and arrives on Friday."))
            let failed = try await Support.call("failing_tool", on: server)
            #expect(failed.isError)
        }
    }
}

/// Result rendering, without a server.
@Suite("MCP values")
struct MCPValuesTests {
    @Test("long results are cut to 8 KiB at a character boundary")
    func truncation() {
        let text = String(repeating: "é", count: 10_000)
        let cut = MCPValues.truncated(text)
        #expect(cut.utf8.count <= MCPValues.maximumResultBytes)
        #expect(cut.hasSuffix("[truncated]"))
    }

    @Test("numbers keep their kind both ways")
    func numbers() {
        #expect(MCPValues.value(.number(3)) == .int(3))
        #expect(MCPValues.value(.number(2.5)) == .double(2.5))
        #expect(MCPValues.json(.int(7)) == .number(7))
    }
}
