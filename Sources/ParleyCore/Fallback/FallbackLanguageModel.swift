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

    public func complete(_ messages: [ChatMessage], onText: (String) async throws -> Void) async throws {
        let order = chain.order(models.map(\.name))
        var spoken = ""
        var lastError: ProviderError?
        for (position, index) in order.enumerated() {
            let model = models[index]
            var attempt = 0
            while true {
                let asked = spoken.isEmpty ? messages : messages + [.assistant(spoken), .user(Self.continuation)]
                var produced = false
                do {
                    let timeout = chain.timeout
                    try await relay(
                        deadline: { since in timeout.map { since + $0 } },
                        produce: { yield in try await model.complete(asked) { try await yield($0) } },
                        consume: { (text: String) in
                            produced = true
                            spoken += text
                            try await onText(text)
                        })
                    chain.served(model.name)
                    return
                } catch is DeadlineExpired {
                    lastError = ProviderError(
                        provider: model.name, kind: .timeout,
                        message: "no reply text within \(chain.timeout.map { "\($0)" } ?? "its deadline")\(produced ? " mid-reply" : "")")
                } catch let error as ProviderError {
                    lastError = error
                }
                try Task.checkCancellation()
                let error = lastError!
                ProviderContext.observer?.providerFailed(error, stage: chain.stage)
                attempt += 1
                guard !produced, attempt <= chain.retries, ProviderChain.isRetryable(error) else { break }
            }
            chain.failed(model.name)
            if position + 1 < order.count {
                chain.fellBack(from: model.name, to: models[order[position + 1]].name, after: lastError!)
            }
        }
        throw lastError!
    }
}
