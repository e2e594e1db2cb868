import Synchronization

/// Runs a session's uninterruptible tool calls (`"interruptible": false`) outside the reply that
/// made them, so a barge-in does not cancel them: the reply waits for the result unless it is
/// cancelled, and the result is remembered in the conversation either way.
///
/// The worker runs as a child of the session's task group, so the session's end still cancels
/// every call in flight. At most ``capacity`` calls wait or run at once; beyond that a call fails
/// at once with an error result.
final class ToolWorker: Sendable {
    private struct Job: Sendable {
        let tool: any AgentTool
        let invocation: ToolInvocation
        let turnID: Int
        let conversation: ConversationStore
        let completion: Completion
    }

    /// The most uninterruptible calls waiting or running in one session.
    static let capacity = 16
    private let jobs: AsyncStream<Job>
    private let sink: AsyncStream<Job>.Continuation
    private let clock: SessionClock

    init(clock: SessionClock) {
        self.clock = clock
        (jobs, sink) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .bufferingOldest(Self.capacity))
    }

    /// Runs calls until the task is cancelled (the session ended), which cancels those in flight.
    func serve() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask {
                    let result = await VoiceSession.call(job.tool, job.invocation, clock: self.clock)
                    job.conversation.setToolResult(result.content, callID: job.invocation.callID, forTurn: job.turnID)
                    job.completion.resolve(result)
                }
            }
        }
    }

    /// Runs `tool` in the worker and waits for its result; nil if this task is cancelled first
    /// (the call goes on).
    func run(_ tool: any AgentTool, _ invocation: ToolInvocation, turnID: Int, conversation: ConversationStore) async -> ToolResult? {
        let completion = Completion()
        let job = Job(tool: tool, invocation: invocation, turnID: turnID, conversation: conversation, completion: completion)
        guard case .enqueued = sink.yield(job) else {
            return .error("too many tool calls in progress (at most \(Self.capacity) that cannot be interrupted)")
        }
        return await completion.value
    }

    /// One call's result, awaited by at most one task.
    final class Completion: Sendable {
        private enum State {
            case pending
            case waiting(CheckedContinuation<ToolResult?, Never>)
            case resolved(ToolResult)
            case abandoned
        }
        private let state = Mutex(State.pending)

        /// Delivers the result to the waiting task, if it still waits.
        func resolve(_ result: ToolResult) {
            let waiter = state.withLock { state -> CheckedContinuation<ToolResult?, Never>? in
                switch state {
                case .waiting(let continuation):
                    state = .resolved(result)
                    return continuation
                case .pending:
                    state = .resolved(result)
                    return nil
                case .resolved, .abandoned:
                    return nil
                }
            }
            waiter?.resume(returning: result)
        }

        /// The result; nil when the waiting task is cancelled first.
        var value: ToolResult? {
            get async {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let ready = state.withLock { state -> ToolResult?? in
                            switch state {
                            case .pending:
                                state = .waiting(continuation)
                                return nil
                            case .resolved(let result):
                                return .some(result)
                            case .abandoned, .waiting:
                                return .some(nil)
                            }
                        }
                        if let ready { continuation.resume(returning: ready) }
                    }
                } onCancel: {
                    let waiter = state.withLock { state -> CheckedContinuation<ToolResult?, Never>? in
                        switch state {
                        case .waiting(let continuation):
                            state = .abandoned
                            return continuation
                        case .pending:
                            state = .abandoned
                            return nil
                        case .resolved, .abandoned:
                            return nil
                        }
                    }
                    waiter?.resume(returning: nil)
                }
            }
        }
    }
}
