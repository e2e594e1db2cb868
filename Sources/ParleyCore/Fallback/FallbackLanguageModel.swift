/// An LLM chain (`--llm groq,local`): asks each provider in turn until one answers.
///
/// A provider that fails before its first text (refused, 5xx, unreachable, silent past the
/// chain's deadline) is retried per ``ProviderChain/retries`` and then replaced by the next; one
/// that fails mid-reply (dropped, stalled) is replaced at once, and the next is asked to continue
/// the reply from where it was cut off, so nothing already spoken is said twice. When every
/// provider has failed, the last failure is thrown (the session then apologises).
public struct FallbackLanguageModel: LanguageModel {
    /// The providers, in order of preference.
    public let models: [any LanguageModel]
    /// Deadlines, retries and recent failures, shared by every session.
    public let chain: ProviderChain

    public var name: String { models.map(\.name).joined(separator: ",") }

    /// Creates a chain of at least one model.
    public init(_ models: [any LanguageModel], chain: ProviderChain) {
        precondition(!models.isEmpty, "a chain needs a provider")
        self.models = models
        self.chain = chain
    }

    /// What the next provider is told after a reply was cut off mid-way.
    static let continuation =
        "(Your answer above was cut off there. Continue it from exactly that point, without repeating any of it and without mentioning the interruption.)"

    public func complete(
        _ messages: [ChatMessage], tools: [ToolDefinition], onText: (String) async throws -> Void
    ) async throws
        -> [ToolCall]
    {
        var spoken = ""
        var calls: [ToolCall] = []
        let timeout = chain.timeout
        try await chain.serve(models.map(\.name), output: "reply text") { index, produced in
            let model = models[index]
            let asked = spoken.isEmpty ? messages : messages + [.assistant(spoken), .user(Self.continuation)]
            try await relay(
                deadline: { since in timeout.map { since + $0 } },
                produce: { yield in
                    let made = try await model.complete(asked, tools: tools) { try await yield(.text($0)) }
                    if !made.isEmpty { try await yield(.calls(made)) }
                },
                consume: { (output: Output) in
                    produced = true
                    switch output {
                    case .text(let text):
                        spoken += text
                        try await onText(text)
                    case .calls(let made):
                        calls = made
                    }
                })
        }
        return calls
    }

    /// What a provider produced: reply text, or at its end the tools it called.
    enum Output: Sendable {
        case text(String)
        case calls([ToolCall])
    }
}
