public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
public import ParleyCore

/// A tool served by the agent's own HTTP endpoint (`"type": "webhook"` in the agent file).
///
/// Each call is a `POST` to ``url`` with the JSON body
/// `{"name": …, "arguments": {…}, "call_id": …, "session_id": …}` and the configured headers; the
/// response body, JSON or text, is the result the model reads. A non-2xx answer, a timeout or a
/// refused connection becomes an error result, so the model can apologise instead of the turn
/// getting stuck. A barge-in cancels the task, which closes the request.
public struct WebhookTool: AgentTool {
    public let definition: ToolDefinition
    /// Where calls go (`http` or `https`).
    public let url: String
    /// Sent with every call, after `${VAR}` expansion (an `Authorization` header, for instance).
    public let headers: [String: String]
    public let timeout: Duration
    public let interruptible: Bool
    private let httpClient: HTTPClient

    /// The longest response body read; the rest is an error.
    public static let maximumResponseBytes = 256 * 1024
    /// The most characters of a result handed to the model.
    public static let maximumResultCharacters = 8000

    /// Creates a tool.
    public init(
        definition: ToolDefinition, url: String, headers: [String: String] = [:], timeout: Duration = .seconds(3),
        interruptible: Bool = true, httpClient: HTTPClient
    ) {
        self.definition = definition
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.interruptible = interruptible
        self.httpClient = httpClient
    }

    public func call(_ invocation: ToolInvocation) async throws -> ToolResult {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/plain;q=0.9, */*;q=0.5")
        request.headers.add(name: "User-Agent", value: "Parley")
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        let body: JSONValue = [
            "name": .string(definition.name), "arguments": .object(invocation.arguments), "call_id": .string(invocation.callID),
            "session_id": .string(invocation.sessionID),
        ]
        request.body = .bytes(ByteBuffer(string: body.serialized))
        let response: HTTPClientResponse
        let text: String
        do {
            response = try await httpClient.execute(request, timeout: .milliseconds(Int64(timeout.milliseconds)))
            let bytes = try await response.body.collect(upTo: Self.maximumResponseBytes)
            text = String(buffer: bytes)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .error("\(definition.name) did not answer within \(Int(timeout.milliseconds)) ms")
        } catch is NIOTooManyBytesError {
            return .error("\(definition.name) answered with more than \(Self.maximumResponseBytes / 1024) KiB")
        } catch {
            if Task.isCancelled { throw CancellationError() }
            return .error("\(definition.name) could not be reached: \(Self.describe(error))")
        }
        let content = String(text.prefix(Self.maximumResultCharacters))
        guard (200..<300).contains(response.status.code) else {
            let detail = content.isEmpty ? response.status.reasonPhrase : String(content.prefix(300))
            return .error("\(definition.name) answered HTTP \(response.status.code): \(detail)")
        }
        return ToolResult(content: content.isEmpty ? #"{"ok":true}"# : content)
    }

    /// A short description of a transport error, without the request's headers.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: error).prefix(200).description
    }
}
