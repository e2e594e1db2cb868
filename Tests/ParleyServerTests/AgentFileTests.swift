import Foundation
import ParleyCore
import ParleyProviders
import ParleyServer
import Testing

@Suite("The agent file (--agent)")
struct AgentFileTests {
    /// Writes `text` to a temporary file named `name` and loads it.
    static func load(_ text: String, name: String = "agent.json", environment: [String: String] = [:]) throws(AgentFileError) -> AgentFile {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parley-\(UUID().uuidString)-\(name)").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try AgentFile.load(path: path, environment: environment)
    }

    /// The error loading `text` gives, as the user reads it.
    static func failure(_ text: String, environment: [String: String] = [:]) -> String {
        do {
            _ = try load(text, environment: environment)
            return "no error"
        } catch {
            return error.description.replacingOccurrences(
                of: #"/\S*parley-[0-9A-F-]+-"#, with: "", options: .regularExpression)
        }
    }

    @Test("the issue's exact shape loads, with ${VAR} expanded")
    func exactShape() throws {
        let agent = try Self.load(
            """
            {"system_prompt": "Be helpful.", "greeting": "Hi!",
             "tools": [{"type": "webhook", "name": "get_weather", "description": "Weather now.",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                        "url": "https://example.com/weather", "timeout_ms": 3000, "headers": {"Authorization": "Bearer ${WEATHER_KEY}"}}],
             "mcp_servers": [{"name": "orders", "command": ["python3", "server.py"], "env": {"A": "b"}},
                             {"name": "crm", "url": "https://crm.example.com/mcp", "headers": {}}],
             "something_else": {"kept": "ignored"}}
            """, environment: ["WEATHER_KEY": "k-123"])
        #expect(agent.systemPrompt == "Be helpful.")
        #expect(agent.greeting == "Hi!")
        #expect(agent.endCall)
        let webhook = try #require(agent.webhooks.first)
        #expect(webhook.definition.name == "get_weather" && webhook.definition.description == "Weather now.")
        #expect(webhook.definition.parameters["properties"]?["city"]?["type"] == "string")
        #expect(webhook.url == "https://example.com/weather")
        #expect(webhook.timeout == .milliseconds(3000))
        #expect(webhook.headers == ["Authorization": "Bearer k-123"])
        #expect(webhook.interruptible)
        #expect(
            agent.mcpServers == [
                MCPServerConfiguration(name: "orders", command: ["python3", "server.py"], env: ["A": "b"]),
                MCPServerConfiguration(name: "crm", url: "https://crm.example.com/mcp", headers: [:]),
            ])
    }

    @Test("voices by provider, end_call off, interruptible false, MCP timeouts")
    func options() throws {
        let agent = try Self.load(
            """
            {"voice": {"elevenlabs": "abc", "default": "en-gb"}, "end_call": false,
             "tools": [{"type": "webhook", "name": "pay", "url": "http://127.0.0.1:9/pay", "interruptible": false}],
             "mcp_servers": [{"name": "slow", "command": ["srv"], "timeout_ms": 30000, "interruptible": false}]}
            """)
        #expect(agent.voice?.forProvider("elevenlabs") == "abc")
        #expect(agent.voice?.forProvider("local") == "en-gb")
        #expect(!agent.endCall)
        #expect(agent.webhooks[0].interruptible == false && agent.webhooks[0].timeout == .seconds(3))
        #expect(agent.webhooks[0].definition.parameters == ["type": "object", "properties": .object([:])])
        #expect(agent.mcpServers[0].timeout == .seconds(30) && !agent.mcpServers[0].interruptible)
    }

    @Test("the example in examples/agents/ loads")
    func example() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let agent = try AgentFile.load(
            path: root.appendingPathComponent("examples/agents/weather-and-orders.json").path, environment: ["WEATHER_KEY": "demo"])
        #expect(agent.webhooks.map(\.definition.name) == ["get_weather"])
        #expect(agent.mcpServers.map(\.name) == ["orders"])
    }

    @Test("a bad file stops start-up with a message naming the file and the field")
    func errorsNameTheField() {
        let cases: [(String, String)] = [
            ("{", "agent file agent.json: is not valid JSON"),
            ("[]", "agent file agent.json: must be a JSON object"),
            (
                #"{"tools": [{"type": "webhook", "name": "w", "url": "https://x.example/${NOPE}"}]}"#,
                "agent file agent.json: tools[0].url: ${NOPE} is not set in the environment"
            ),
            (
                #"{"tools": [{"type": "webhook", "name": "w", "url": "ftp://x.example"}]}"#,
                "agent file agent.json: tools[0].url: must be an http:// or https:// URL"
            ),
            (
                #"{"tools": [{"type": "function", "name": "w", "url": "https://x.example"}]}"#,
                #"agent file agent.json: tools[0].type: "function" is not a tool type; use "webhook" (MCP tools come from mcp_servers)"#
            ),
            (#"{"tools": [{"type": "webhook", "url": "https://x.example"}]}"#, "agent file agent.json: tools[0].name: is missing"),
            (
                #"{"tools": [{"type": "webhook", "name": "get weather", "url": "https://x.example"}]}"#,
                #"agent file agent.json: tools[0].name: "get weather" must be 1-64 letters, digits, _ or -"#
            ),
            (
                #"{"tools": [{"type": "webhook", "name": "end_call", "url": "https://x.example"}]}"#,
                #"agent file agent.json: tools[0].name: "end_call" is used twice"#
            ),
            (
                #"{"tools": [{"type": "webhook", "name": "w", "url": "https://x.example", "timeout_ms": 0}]}"#,
                "agent file agent.json: tools[0].timeout_ms: must be a whole number of milliseconds, 1…120000"
            ),
            (
                #"{"tools": [{"type": "webhook", "name": "w", "url": "https://x.example", "parameters": {"type": "string"}}]}"#,
                #"agent file agent.json: tools[0].parameters: must be a JSON Schema object with "type": "object""#
            ),
            (
                #"{"tools": [{"type": "webhook", "name": "w", "url": "https://x.example", "headers": {"A": 1}}]}"#,
                "agent file agent.json: tools[0].headers.A: must be a string"
            ),
            (
                #"{"mcp_servers": [{"name": "m"}]}"#,
                "agent file agent.json: mcp_servers[0]: needs a command (a stdio server Parley starts) or a url (a Streamable HTTP server)"
            ),
            (
                #"{"mcp_servers": [{"name": "m", "command": ["a"], "url": "https://x.example"}]}"#,
                "agent file agent.json: mcp_servers[0]: has both command and url; a server is either a child process (command) or an HTTP endpoint (url)"
            ),
            (
                #"{"mcp_servers": [{"name": "m", "command": []}]}"#,
                #"agent file agent.json: mcp_servers[0].command: must be a non-empty array of strings, such as ["python3", "server.py"]"#
            ),
            (
                #"{"mcp_servers": [{"name": "m", "command": ["a"]}, {"name": "m", "url": "https://x.example"}]}"#,
                #"agent file agent.json: mcp_servers[1].name: "m" is used twice"#
            ),
            (#"{"system_prompt": 3}"#, "agent file agent.json: system_prompt: must be a string"),
            (#"{"greeting": "${BAD NAME}"}"#, "agent file agent.json: greeting: ${BAD NAME} is not a variable name"),
            (#"{"greeting": "${OPEN"}"#, "agent file agent.json: greeting: has a ${ without its closing }"),
            (#"{"end_call": "yes"}"#, "agent file agent.json: end_call: must be true or false"),
        ]
        for (text, expected) in cases {
            #expect(Self.failure(text) == expected, "\(text)")
        }
    }

    @Test("a missing file is named")
    func missingFile() {
        #expect(throws: AgentFileError.self) { try AgentFile.load(path: "/nonexistent/agent.json", environment: [:]) }
        do {
            _ = try AgentFile.load(path: "/nonexistent/agent.json", environment: [:])
        } catch {
            #expect(error.description == "agent file /nonexistent/agent.json: cannot be read (no such file, or no permission)")
        }
    }
}
