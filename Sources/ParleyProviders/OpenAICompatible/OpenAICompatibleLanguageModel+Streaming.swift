import AsyncHTTPClient
import NIOCore
public import ParleyCore

extension OpenAICompatibleLanguageModel {
    public func complete(
        _ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void
    ) async throws
        -> [ToolCall]
    {
        var offered = tools
        var asked = messages
        var toolUseFailures = 0
        var markupRetries = 0
        // Ends: each pass returns, throws, or moves towards a request without tools, which can
        // neither fail with tool_use_failed nor be held back as markup.
        while true {
            do {
                switch try await stream(asked, tools: offered, onText: onText) {
                case .finished(let calls):
                    return calls
                case .markupWithoutCalls:
                    // The local engine wrote markup that names no offered tool (Qwen 1.5B writes
                    // `<tools></tools>` for some prompts): it meant to call one, so ask once more
                    // with the call's shape spelled out, then without tools rather than speak it.
                    // Only on a retry: in every prompt, the hint makes it call tools for questions
                    // that need none.
                    markupRetries += 1
                    if markupRetries == 1 {
                        asked = Self.withCallShapeHint(messages)
                    } else {
                        asked = messages
                        offered = []
                    }
                }
            } catch let failure as ToolUseFailed {
                // Groq refused the model's malformed call. Nothing has been spoken yet, so ask once
                // more as it was, then without tools, so the caller still gets an answer.
                guard !offered.isEmpty, !failure.spoke else { throw failure.error }
                toolUseFailures += 1
                if toolUseFailures >= 2 { offered = [] }
            }
        }
    }

    /// What a model that wrote markup without a call is told on its second try.
    public static let callShapeHint = #" To call a tool, reply with only {"name": "<tool name>", "arguments": {…}}."#

    /// `messages` with ``callShapeHint`` added to the first system message (or as one).
    static func withCallShapeHint(_ messages: [ChatMessage]) -> [ChatMessage] {
        var hinted = messages
        if let index = hinted.firstIndex(where: { $0.role == .system }) {
            hinted[index].content += callShapeHint
        } else {
            hinted.insert(.system(String(callShapeHint.dropFirst())), at: 0)
        }
        return hinted
    }

    /// Streams one request: text to `onText` (unless held back as a possible text tool call),
    /// tool calls returned at `[DONE]`.
    private func stream(
        _ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void
    ) async throws
        -> StreamOutcome
    {
        let request = endpoint.request(
            path: "/chat/completions", contentType: "application/json",
            body: Array(requestBody(messages, tools: tools).serialized.utf8))
        let response: HTTPClientResponse
        do {
            response = try await endpoint.send(request)
        } catch let refusal as OpenAICompatibleEndpoint.Refusal {
            if refusal.code == "tool_use_failed" { throw ToolUseFailed(error: refusal.error, spoke: false) }
            throw refusal.error
        }
        var reply = ReplyState(watchesText: toolCallsInText && !tools.isEmpty, toolNames: Set(tools.map(\.name)))
        var parser = ServerSentEventParser()
        var finished = false
        do {
            reading: for try await buffer in response.body {
                for event in try parser.push(buffer.readableBytesView) {
                    if try await handle(event, reply: &reply, onText: onText) {
                        finished = true
                        break reading
                    }
                }
            }
            if !finished, let event = parser.finish() {
                finished = try await handle(event, reply: &reply, onText: onText)
            }
        } catch let error as ConsumerError {
            // The caller's own error (the reply is long enough, the turn is over): not the provider's.
            throw error.underlying
        } catch is ServerSentEventParser.LineTooLong {
            throw ProviderError(provider: name, kind: .badResponse, message: "event stream line or event over 1 MiB")
        } catch let error as ProviderError {
            throw error
        } catch let failure as ToolUseFailed {
            throw failure
        } catch {
            throw endpoint.mapStreamError(error)
        }
        guard finished else {
            throw ProviderError(provider: name, kind: .streamEnded, message: "the reply stream ended before [DONE]")
        }
        var calls: [ToolCall]
        do {
            calls = try reply.calls.calls()
        } catch {
            throw ProviderError(provider: name, kind: .badResponse, message: "\(error)")
        }
        switch reply.text {
        case .held(let text):
            calls += TextToolCalls.calls(in: text, toolNames: Set(tools.map(\.name)))
            if calls.isEmpty { return .markupWithoutCalls }
        case .undecided(let text) where !text.isEmpty:
            try await speak(text, reply: &reply, onText: onText)
        case .undecided, .spoken:
            break
        }
        return .finished(calls)
    }

    /// Handles one event; returns true at `[DONE]`.
    private func handle(_ event: ServerSentEvent, reply: inout ReplyState, onText: (String) async throws -> Void) async throws -> Bool {
        let decoded: ChatCompletionStreamEvent
        do {
            decoded = try ChatCompletionStreamEvent(event)
        } catch {
            throw ProviderError(provider: name, kind: .badResponse, message: "\(error)")
        }
        switch decoded {
        case .done:
            return true
        case .error(let message, let code):
            let error = ProviderError(provider: name, kind: .rejected, message: message)
            if code == "tool_use_failed" { throw ToolUseFailed(error: error, spoke: reply.spoke) }
            throw error
        case .delta(let text, let toolCalls):
            do {
                try reply.calls.add(toolCalls)
            } catch {
                throw ProviderError(provider: name, kind: .badResponse, message: "\(error)")
            }
            if let called = toolCalls.lazy.compactMap(\.name).first(where: { !$0.isEmpty }) { await reply.announce(called) }
            guard let text, !text.isEmpty else { return false }
            switch reply.text {
            case .spoken:
                try await speak(text, reply: &reply, onText: onText)
            case .held(let held):
                try reply.hold(held + text, provider: name)
                await reply.announceWrittenCall()
            case .undecided(let earlier):
                let pending = earlier + text
                guard reply.watchesText, let first = pending.first(where: { !$0.isWhitespace }) else {
                    // Leading whitespace says nothing yet; without watching, speak at once.
                    if reply.watchesText {
                        try reply.wait(pending, provider: name)
                    } else {
                        try await speak(pending, reply: &reply, onText: onText)
                    }
                    return false
                }
                if TextToolCalls.opensMarkup(first) {
                    try reply.hold(pending, provider: name)
                    await reply.announceWrittenCall()
                } else {
                    try await speak(pending, reply: &reply, onText: onText)
                }
            }
            return false
        }
    }

    /// Passes reply text to the caller; the caller's own errors are marked as theirs.
    private func speak(_ text: String, reply: inout ReplyState, onText: (String) async throws -> Void) async throws {
        reply.text = .spoken
        reply.spoke = true
        do {
            try await onText(text)
        } catch {
            throw ConsumerError(underlying: error)
        }
    }
}

/// How one streamed request ended.
private enum StreamOutcome {
    /// At `[DONE]`, with the calls made (none when the model answered in text).
    case finished([ToolCall])
    /// The reply was held back as a text tool call but named no offered tool.
    case markupWithoutCalls
}

/// The state of one streamed reply.
private struct ReplyState {
    /// What has become of the reply text so far.
    enum Text {
        /// Nothing but whitespace yet, kept while it is unclear whether the reply is a call.
        case undecided(String)
        /// Held back: it opened like a text tool call.
        case held(String)
        /// Being passed to the caller as it arrives.
        case spoken
    }

    /// Whether the reply may be a text tool call (``OpenAICompatibleLanguageModel/toolCallsInText``
    /// with tools offered).
    let watchesText: Bool
    var text = Text.undecided("")
    var calls = ToolCallAccumulator()
    /// Whether any text has reached the caller (a retry would repeat it).
    var spoke = false

    /// The offered tools' names.
    let toolNames: Set<String>
    /// Whether ``ProviderContext/toolCallStarted`` has been told of a call.
    var announced = false

    init(watchesText: Bool, toolNames: Set<String>) {
        self.watchesText = watchesText
        self.toolNames = toolNames
    }

    /// Tells the session, once, that the model started calling `name`.
    mutating func announce(_ name: String) async {
        guard !announced else { return }
        announced = true
        await ProviderContext.toolCallStarted?(name)
    }

    /// Announces the call held-back text names, once its name is complete.
    mutating func announceWrittenCall() async {
        guard !announced, case .held(let text) = text, let name = TextToolCalls.calledName(in: text, toolNames: toolNames) else {
            return
        }
        await announce(name)
    }

    mutating func hold(_ held: String, provider: String) throws {
        try check(held, provider: provider)
        text = .held(held)
    }

    mutating func wait(_ pending: String, provider: String) throws {
        try check(pending, provider: provider)
        text = .undecided(pending)
    }

    private func check(_ held: String, provider: String) throws {
        guard held.utf8.count <= TextToolCalls.maximumHeldBytes else {
            throw ProviderError(
                provider: provider, kind: .badResponse,
                message: "a reply held back as a text tool call ran over \(TextToolCalls.maximumHeldBytes >> 10) KiB")
        }
    }
}

/// Groq refused the model's malformed tool call (`tool_use_failed`).
private struct ToolUseFailed: Error {
    /// The error to report if it is not retried.
    let error: ProviderError
    /// Whether reply text had already reached the caller.
    let spoke: Bool
}

/// An error thrown by the caller's text callback, carried past the stream's error mapping.
private struct ConsumerError: Error {
    let underlying: any Error
}
