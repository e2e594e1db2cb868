import Logging
import Synchronization

extension VoiceSession {
    /// What one round's task group reports.
    private enum RoundEvent: Sendable {
        case answered(index: Int, result: ToolResult, duration: Duration)
        case fillerDue
    }

    /// Runs one round of the model's tool calls concurrently and returns their results in call
    /// order, reporting `tool.call`/`tool.result` and recording each call and result in memory.
    ///
    /// `filler` is called (from this task) once if the calls have not all answered after
    /// ``SessionConfiguration/fillerAfter``. A barge-in cancels this task: the interruptible calls
    /// are cancelled with it (their HTTP request closed, MCP told `notifications/cancelled`), and
    /// the others go on in the session's ``ToolWorker``, which remembers their results.
    func runToolRound(
        _ calls: [ToolCall], tools: ToolSet, request: ReplyRequest, output: some SessionOutput,
        filler: () async throws -> Void
    ) async throws -> [ToolResult] {
        let turnID = request.turnID
        request.conversation.addToolRound(calls, forTurn: turnID)
        request.recorder.mark(.toolStart)
        let payloads = configuration.logToolPayloads
        for call in calls {
            var metadata: Logger.Metadata = ["parley.turn.id": "\(turnID)", "parley.tool": "\(call.name)", "parley.tool.call_id": "\(call.id)"]
            if payloads { metadata["parley.tool.arguments"] = "\(call.arguments)" }
            logger.info("tool called", metadata: metadata)
            try await output.send(
                .toolCall(ToolCallEvent(turnID: turnID, callID: call.id, name: call.name, arguments: payloads ? call.arguments : nil)))
        }
        var results = [ToolResult?](repeating: nil, count: calls.count)
        try await withThrowingTaskGroup(of: RoundEvent.self) { group in
            defer { group.cancelAll() }
            for (index, call) in calls.enumerated() {
                group.addTask {
                    let started = clock.now
                    let result = await execute(call, tools: tools, request: request)
                    return .answered(index: index, result: result, duration: started.duration(to: clock.now))
                }
            }
            if let after = configuration.fillerAfter {
                group.addTask {
                    try await clock.sleep(for: after)
                    return .fillerDue
                }
            }
            var remaining = calls.count
            while remaining > 0, let event = try await group.next() {
                switch event {
                case .fillerDue:
                    try await filler()
                case .answered(let index, let result, let duration):
                    remaining -= 1
                    results[index] = result
                    let call = calls[index]
                    request.conversation.setToolResult(result.content, callID: call.id, forTurn: turnID)
                    configuration.observer?.toolCalled(call.name, ok: !result.isError, duration: duration)
                    var metadata: Logger.Metadata = [
                        "parley.turn.id": "\(turnID)", "parley.tool": "\(call.name)", "parley.tool.call_id": "\(call.id)",
                        "parley.tool.ok": "\(!result.isError)", "parley.tool.duration_ms": "\(Int(duration.milliseconds))",
                    ]
                    if payloads { metadata["parley.tool.result"] = "\(result.content)" }
                    logger.info("tool answered", metadata: metadata)
                    try await output.send(
                        .toolResult(
                            ToolResultEvent(
                                turnID: turnID, callID: call.id, name: call.name, ok: !result.isError, duration: duration,
                                result: payloads ? result.content : nil)))
                }
            }
        }
        request.recorder.update(.toolEnd)
        return results.map { $0 ?? ToolResult.error("no result") }
    }

    /// Runs one call: looked up, its arguments checked, bounded by the tool's timeout; every
    /// failure becomes an error result the model can apologise for.
    private func execute(_ call: ToolCall, tools: ToolSet, request: ReplyRequest) async -> ToolResult {
        guard let tool = tools.tool(named: call.name) else {
            return .error("There is no tool called \(call.name).")
        }
        guard let arguments = call.parsedArguments else {
            return .error("The arguments are not a JSON object.")
        }
        let invocation = ToolInvocation(callID: call.id, sessionID: id, arguments: arguments)
        if !tool.interruptible, let toolWorker {
            return await toolWorker.run(tool, invocation, turnID: request.turnID, conversation: request.conversation)
                ?? .error("cancelled: the caller interrupted; the call goes on and its result will be remembered")
        }
        return await Self.call(tool, invocation, clock: clock)
    }

    /// Calls `tool`, bounded by its timeout on `clock`.
    static func call(_ tool: any AgentTool, _ invocation: ToolInvocation, clock: SessionClock) async -> ToolResult {
        let timeout = tool.timeout
        do {
            return try await withThrowingTaskGroup(of: ToolResult?.self) { group in
                defer { group.cancelAll() }
                group.addTask { try await tool.call(invocation) }
                group.addTask {
                    try await clock.sleep(for: timeout)
                    return nil
                }
                guard let first = try await group.next(), let result = first else {
                    return .error("timed out after \(Int(timeout.milliseconds)) ms")
                }
                return result
            }
        } catch {
            if Task.isCancelled || error is CancellationError {
                return .error("cancelled: the caller interrupted")
            }
            return .error("\(error)")
        }
    }
}

/// The filler of one reply ("One moment."): said at most once per round of tool calls — as soon as
/// the model starts calling a tool (``ProviderContext/toolCallStarted``) if the round has said
/// nothing yet, or when the round's tools have run past ``SessionConfiguration/fillerAfter``.
/// Not for `end_call`, which answers at once and is followed by the goodbye.
final class ToolFiller: Sendable {
    private let state = Mutex<(spoke: Bool, said: Bool)>((false, false))
    private let speak: @Sendable () async throws -> Void

    /// Creates a filler that `speak` says.
    init(speak: @escaping @Sendable () async throws -> Void) {
        self.speak = speak
    }

    /// A new round of the LLM's answer begins.
    func newRound() {
        state.withLock { $0 = (false, false) }
    }

    /// The round said some text.
    func textSpoken() {
        state.withLock { $0.spoke = true }
    }

    /// The model started calling `name`: the filler, unless the round said something already.
    func callStarted(_ name: String) async throws {
        guard name != EndCallTool.name,
            state.withLock({ state in
                defer { if !state.spoke { state.said = true } }
                return !state.spoke && !state.said
            })
        else { return }
        try await speak()
    }

    /// The round's tools have run past `fillerAfter`: the filler, unless it was said.
    func toolsSlow() async throws {
        guard
            state.withLock({ state in
                defer { state.said = true }
                return !state.said
            })
        else { return }
        try await speak()
    }
}
