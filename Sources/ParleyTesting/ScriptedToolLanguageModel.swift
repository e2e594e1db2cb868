public import ParleyCore
import Synchronization

/// An LLM whose every answer a test scripts from the request: text streamed word by word, then
/// any tool calls. It records each request's messages and offered tools.
public struct ScriptedToolLanguageModel: LanguageModel {
    /// One answer: what is said, then what is called.
    public struct Answer: Sendable {
        public var text: String
        public var calls: [ToolCall]

        /// Creates an answer.
        public init(text: String = "", calls: [ToolCall] = []) {
            self.text = text
            self.calls = calls
        }
    }

    /// One request as received.
    public struct Request: Sendable {
        public var messages: [ChatMessage]
        public var tools: [ToolDefinition]
    }

    private let script: @Sendable (_ messages: [ChatMessage], _ tools: [ToolDefinition]) -> Answer
    /// Whether it tells `ProviderContext.toolCallStarted` of its first call before its text ends,
    /// as a streaming client does.
    public var announcesCalls = false
    private let logBox: Box

    public var name: String { "scripted-llm" }

    /// Creates a model answering with `script`.
    public init(script: @escaping @Sendable (_ messages: [ChatMessage], _ tools: [ToolDefinition]) -> Answer) {
        self.script = script
        self.logBox = Box()
    }

    /// Every request so far.
    public var requests: [Request] { logBox.requests.withLock { $0 } }

    public func complete(
        _ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void
    ) async throws
        -> [ToolCall]
    {
        logBox.requests.withLock { $0.append(Request(messages: messages, tools: tools)) }
        let answer = script(messages, tools)
        try await Task.sleep(for: .milliseconds(10))
        if announcesCalls, answer.text.isEmpty, let first = answer.calls.first { await ProviderContext.toolCallStarted?(first.name) }
        var words = answer.text.split(separator: " ").map { String($0) + " " }
        if let last = words.popLast() { words.append(String(last.dropLast())) }
        for word in words { try await onText(word) }
        if announcesCalls, !answer.text.isEmpty, let first = answer.calls.first { await ProviderContext.toolCallStarted?(first.name) }
        return answer.calls
    }

    final class Box: Sendable {
        let requests = Mutex<[Request]>([])
    }
}

/// A tool for tests: answers `reply` after `delay`, and records each invocation and whether it
/// was cancelled.
public final class RecordingTool: AgentTool {
    public let definition: ToolDefinition
    public let interruptible: Bool
    public let timeout: Duration
    private let delay: Duration
    private let reply: @Sendable ([String: JSONValue]) -> ToolResult
    private let state = Mutex<(invocations: [ToolInvocation], cancelled: Int, finished: Int)>(([], 0, 0))

    /// Creates a tool named `name`.
    public init(
        name: String, delay: Duration = .zero, interruptible: Bool = true, timeout: Duration = .seconds(10),
        reply: @escaping @Sendable ([String: JSONValue]) -> ToolResult
    ) {
        self.definition = ToolDefinition(
            name: name, description: "A test tool.",
            parameters: ["type": "object", "properties": ["city": ["type": "string"]]])
        self.delay = delay
        self.interruptible = interruptible
        self.timeout = timeout
        self.reply = reply
    }

    /// The invocations so far.
    public var invocations: [ToolInvocation] { state.withLock { $0.invocations } }
    /// How many calls were cancelled.
    public var cancelled: Int { state.withLock { $0.cancelled } }
    /// How many calls ran to the end.
    public var finished: Int { state.withLock { $0.finished } }

    public func call(_ invocation: ToolInvocation) async throws -> ToolResult {
        state.withLock { $0.invocations.append(invocation) }
        do {
            if delay > .zero { try await Task.sleep(for: delay) }
        } catch {
            state.withLock { $0.cancelled += 1 }
            throw error
        }
        state.withLock { $0.finished += 1 }
        return reply(invocation.arguments)
    }
}
