/// The built-in `end_call`: the agent says its goodbye, then the session ends (`session.end` to a
/// browser; a phone call's stream closes once the goodbye has played).
public struct EndCallTool: AgentTool {
    /// Its name.
    public static let name = "end_call"

    public let definition = ToolDefinition(
        name: EndCallTool.name,
        description:
            "End the call. Use it only when the caller says goodbye or asks to hang up, and say a short goodbye in the same reply.")

    /// Creates the tool.
    public init() {}

    public func call(_ invocation: ToolInvocation) async throws -> ToolResult {
        ToolResult(content: #"{"ok":true,"note":"The call ends after this reply."}"#, endsCall: true)
    }
}
