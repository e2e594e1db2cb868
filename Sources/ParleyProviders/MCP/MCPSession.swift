import Foundation
import Logging
import MCP
import ParleyCore
import Subprocess

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The swift-sdk transports Parley uses.
enum MCPTransports {
    /// Why an HTTP server's URL was refused.
    struct BadURL: Error, CustomStringConvertible {
        let description: String
    }

    /// The stdio transport over a child's pipes: Parley reads the child's stdout and writes its
    /// stdin. The transport never closes the descriptors; `MCPChildProcess.run` does.
    static func stdio(_ child: MCPChildProcess, logger: Logger) -> StdioTransport {
        StdioTransport(
            input: .init(rawValue: child.output.rawValue), output: .init(rawValue: child.input.rawValue),
            logger: logger)
    }

    /// The Streamable HTTP transport with `headers` on every request. Without the GET event
    /// stream: on Linux the SDK cannot read one, and servers must answer POSTs with JSON.
    static func http(url: String, headers: [String: String], logger: Logger) throws -> HTTPClientTransport {
        guard let endpoint = URL(string: url), let scheme = endpoint.scheme?.lowercased(), ["http", "https"].contains(scheme)
        else { throw BadURL(description: "not an http(s) URL: \(url)") }
        return HTTPClientTransport(
            endpoint: endpoint, streaming: false,
            requestModifier: { request in
                var request = request
                for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
                return request
            },
            logger: logger)
    }
}

/// A child that exited by itself.
struct ChildExited: Error, CustomStringConvertible {
    let status: TerminationStatus
    var description: String { ChildProcess.describe(status) }
}

/// No answer to `initialize` and the first `tools/list` in time.
struct StartTimedOut: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "did not complete the MCP handshake and list its tools within \(limit)" }
}

extension MCPToolServer {
    /// The most pages of `tools/list` read, and the most tools kept.
    static let maximumPages = 50
    static let maximumTools = 512

    /// Runs one connection: the handshake, the tool list, and a new list on each
    /// `notifications/tools/list_changed` (HTTP: every minute), until the child exits, the
    /// connection fails or the task is cancelled; the client is disconnected on every way out,
    /// which fails the requests still pending (the SDK does not do that when stdout closes).
    func serve(transport: any Transport, exit: ChildExit?, logger: Logger) async throws {
        let client = Client(name: "Parley", version: "1.0")
        let (relist, relistContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await client.onNotification(ToolListChangedNotification.self) { _ in relistContinuation.yield() }
        let ready = CancellationSignal()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Ends when the child exits or the connection is being torn down.
                if let exit { await exit.signal.wait() } else { await CancellationSignal().wait() }
                await client.disconnect()
                if let status = exit?.status { throw ChildExited(status: status) }
            }
            group.addTask {
                // Ends at the handshake and first listing, or throws past the start timeout.
                guard try await !ready.run({ try await Task.sleep(for: self.startTimeout) }) else {
                    throw StartTimedOut(limit: self.startTimeout)
                }
            }
            if exit == nil {
                group.addTask {
                    while true {
                        try await Task.sleep(for: .seconds(60))
                        relistContinuation.yield()
                    }
                }
            }
            group.addTask {
                let initialized = try await client.connect(transport: transport)
                logger.info(
                    "MCP server connected",
                    metadata: [
                        "parley.protocol_version": "\(initialized.protocolVersion)",
                        "parley.server": "\(initialized.serverInfo.name) \(initialized.serverInfo.version)",
                    ])
                guard initialized.capabilities.tools != nil else {
                    logger.warning("MCP server offers no tools")
                    ready.fire()
                    await CancellationSignal().wait()
                    return
                }
                try await self.refresh(client, logger: logger)
                ready.fire()
                for await _ in relist {
                    try await self.refresh(client, logger: logger)
                }
            }
            // Every child runs until the connection ends: the first to throw (the child exited, the
            // handshake timed out, a list failed) cancels the others. `next()` rethrows that error
            // at once; `waitForAll()` would first wait for the others, which never end by themselves.
            while try await group.next() != nil {}
        }
    }

    /// Lists the tools (every page) and publishes them with the connection.
    func refresh(_ client: Client, logger: Logger) async throws {
        var listed: [Tool] = []
        var cursor: String?
        var seen: Set<String> = []
        for _ in 0..<Self.maximumPages {
            let page = try await client.listTools(cursor: cursor)
            listed += page.tools
            guard let next = page.nextCursor, !next.isEmpty, seen.insert(next).inserted,
                listed.count < Self.maximumTools
            else { break }
            cursor = next
        }
        let tools: [any AgentTool] = listed.prefix(Self.maximumTools).map { MCPTool($0, server: self) }
        state.withLock {
            $0.client = client
            $0.tools = tools
        }
        logger.info("MCP server tools listed", metadata: ["parley.tools": "\(listed.map(\.name).joined(separator: ", "))"])
    }
}
