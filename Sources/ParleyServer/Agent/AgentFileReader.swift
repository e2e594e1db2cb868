import ParleyCore
import ParleyProviders

/// Reads an agent file's JSON into an ``AgentFile``, field by field, so every error names the field.
struct AgentFileReader {
    let file: String
    let environment: [String: String]

    func error(_ field: String?, _ message: String) -> AgentFileError {
        AgentFileError(file: file, field: field, message)
    }

    mutating func agent(_ value: JSONValue, path: String) throws(AgentFileError) -> AgentFile {
        guard case .object(let root) = value else { throw error(nil, "must be a JSON object") }
        var agent = AgentFile(path: path)
        agent.systemPrompt = try optionalString(root["system_prompt"], "system_prompt", nonEmpty: true)
        agent.greeting = try optionalString(root["greeting"], "greeting", nonEmpty: true)
        switch root["voice"] {
        case nil, .null?: break
        case .string?: agent.voice = .any(try string(root["voice"], "voice"))
        case .object(let voices)?:
            var byProvider: [String: String] = [:]
            for (provider, voice) in voices { byProvider[provider] = try string(voice, "voice.\(provider)") }
            agent.voice = .byProvider(byProvider)
        default: throw error("voice", "must be a string or an object of voices by text-to-speech provider")
        }
        if let endCall = root["end_call"] {
            guard let flag = endCall.boolValue else { throw error("end_call", "must be true or false") }
            agent.endCall = flag
        }
        var names: Set<String> = agent.endCall ? ["end_call"] : []
        for (index, tool) in try array(root["tools"], "tools").enumerated() {
            let webhook = try self.webhook(tool, "tools[\(index)]")
            guard names.insert(webhook.definition.name).inserted else {
                throw error("tools[\(index)].name", "\"\(webhook.definition.name)\" is used twice")
            }
            agent.webhooks.append(webhook)
        }
        var servers: Set<String> = []
        for (index, server) in try array(root["mcp_servers"], "mcp_servers").enumerated() {
            let configuration = try mcpServer(server, "mcp_servers[\(index)]")
            guard servers.insert(configuration.name).inserted else {
                throw error("mcp_servers[\(index)].name", "\"\(configuration.name)\" is used twice")
            }
            agent.mcpServers.append(configuration)
        }
        return agent
    }

    private func webhook(_ value: JSONValue, _ field: String) throws(AgentFileError) -> AgentFile.Webhook {
        guard case .object(let tool) = value else { throw error(field, "must be an object") }
        let type = try string(tool["type"], "\(field).type")
        guard type == "webhook" else {
            throw error("\(field).type", "\"\(type.prefix(40))\" is not a tool type; use \"webhook\" (MCP tools come from mcp_servers)")
        }
        let name = try string(tool["name"], "\(field).name")
        guard Self.isToolName(name) else {
            throw error("\(field).name", "\"\(name.prefix(80))\" must be 1-64 letters, digits, _ or -")
        }
        let description = try optionalString(tool["description"], "\(field).description", nonEmpty: false) ?? ""
        var parameters: JSONValue = ["type": "object", "properties": .object([:])]
        if let given = tool["parameters"] {
            guard case .object(let schema) = given, schema["type"]?.stringValue == "object" else {
                throw error("\(field).parameters", "must be a JSON Schema object with \"type\": \"object\"")
            }
            parameters = given
        }
        let url = try string(tool["url"], "\(field).url")
        guard Self.isHTTPURL(url) else { throw error("\(field).url", "must be an http:// or https:// URL") }
        return AgentFile.Webhook(
            definition: ToolDefinition(name: name, description: description, parameters: parameters), url: url,
            timeout: try timeout(tool["timeout_ms"], "\(field).timeout_ms", default: .seconds(3)),
            headers: try strings(tool["headers"], "\(field).headers"),
            interruptible: try flag(tool["interruptible"], "\(field).interruptible", default: true))
    }

    private func mcpServer(_ value: JSONValue, _ field: String) throws(AgentFileError) -> MCPServerConfiguration {
        guard case .object(let server) = value else { throw error(field, "must be an object") }
        let name = try string(server["name"], "\(field).name")
        guard Self.isToolName(name), name.count <= 32 else {
            throw error("\(field).name", "\"\(name.prefix(80))\" must be 1-32 letters, digits, _ or -")
        }
        let timeout = try timeout(server["timeout_ms"], "\(field).timeout_ms", default: .seconds(10))
        let interruptible = try flag(server["interruptible"], "\(field).interruptible", default: true)
        switch (server["command"], server["url"]) {
        case (let command?, nil):
            guard let parts = command.arrayValue, !parts.isEmpty else {
                throw error("\(field).command", "must be a non-empty array of strings, such as [\"python3\", \"server.py\"]")
            }
            var arguments: [String] = []
            for (index, part) in parts.enumerated() { arguments.append(try string(part, "\(field).command[\(index)]")) }
            return MCPServerConfiguration(
                name: name, command: arguments, env: try strings(server["env"], "\(field).env"), timeout: timeout,
                interruptible: interruptible)
        case (nil, let url?):
            let address = try string(url, "\(field).url")
            guard Self.isHTTPURL(address) else { throw error("\(field).url", "must be an http:// or https:// URL") }
            return MCPServerConfiguration(
                name: name, url: address, headers: try strings(server["headers"], "\(field).headers"), timeout: timeout,
                interruptible: interruptible)
        case (_?, _?):
            throw error(field, "has both command and url; a server is either a child process (command) or an HTTP endpoint (url)")
        case (nil, nil):
            throw error(field, "needs a command (a stdio server Parley starts) or a url (a Streamable HTTP server)")
        }
    }

    // MARK: Fields

    private func array(_ value: JSONValue?, _ field: String) throws(AgentFileError) -> [JSONValue] {
        switch value {
        case nil, .null?: return []
        case .array(let items)?: return items
        default: throw error(field, "must be an array")
        }
    }

    private func string(_ value: JSONValue?, _ field: String) throws(AgentFileError) -> String {
        guard let value else { throw error(field, "is missing") }
        guard let text = value.stringValue else { throw error(field, "must be a string") }
        return try expand(text, field)
    }

    private func optionalString(_ value: JSONValue?, _ field: String, nonEmpty: Bool) throws(AgentFileError) -> String? {
        guard let value, value != .null else { return nil }
        let text = try string(value, field).trimmingWhitespace()
        if nonEmpty, text.isEmpty { throw error(field, "is empty") }
        return text
    }

    private func strings(_ value: JSONValue?, _ field: String) throws(AgentFileError) -> [String: String] {
        guard let value, value != .null else { return [:] }
        guard case .object(let members) = value else { throw error(field, "must be an object of strings") }
        var result: [String: String] = [:]
        for (key, member) in members { result[key] = try string(member, "\(field).\(key)") }
        return result
    }

    private func flag(_ value: JSONValue?, _ field: String, default fallback: Bool) throws(AgentFileError) -> Bool {
        guard let value else { return fallback }
        guard let flag = value.boolValue else { throw error(field, "must be true or false") }
        return flag
    }

    private func timeout(_ value: JSONValue?, _ field: String, default fallback: Duration) throws(AgentFileError) -> Duration {
        guard let value else { return fallback }
        let limit = Int(AgentFile.maximumTimeout.components.seconds) * 1000
        guard let milliseconds = value.intValue, (1...limit).contains(milliseconds) else {
            throw error(field, "must be a whole number of milliseconds, 1…\(limit)")
        }
        return .milliseconds(milliseconds)
    }

    /// `text` with every `${NAME}` replaced by the environment's `NAME`.
    func expand(_ text: String, _ field: String) throws(AgentFileError) -> String {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw error(field, "has a ${ without its closing }")
            }
            let name = String(rest[start.upperBound..<end])
            let scalars = Array(name.unicodeScalars)
            let isName =
                !scalars.isEmpty && !("0"..."9").contains(scalars[0])
                && scalars.allSatisfy { $0 == "_" || ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
            guard isName else { throw error(field, "${\(name.prefix(40))} is not a variable name") }
            guard let value = environment[name] else {
                throw error(field, "${\(name)} is not set in the environment")
            }
            result += value
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }

    static func isToolName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && Toolbox.safeName(name) == name
    }

    static func isHTTPURL(_ url: String) -> Bool {
        (url.hasPrefix("http://") || url.hasPrefix("https://")) && url.count > 8 && !url.contains(" ")
    }
}
