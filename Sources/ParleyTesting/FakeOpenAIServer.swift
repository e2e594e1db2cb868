import Foundation
public import ParleyCore
import Synchronization

/// A fake Groq / OpenAI-compatible API (docs/providers.md): streaming and non-streaming chat
/// completions, `/audio/transcriptions` with real multipart parsing, the error envelope and
/// statuses, rate-limit headers, and switchable faults and framing chaos.
///
/// Serves the Groq paths (`/openai/v1/…`), smallest.ai Electron's (`/waves/v1/…`) and the generic ones (`/v1/…`).
public struct FakeOpenAIServer: Sendable {
    /// How the fake behaves.
    public struct Configuration: Sendable {
        /// Groq chunks (`x_groq`, usage on the last chunk) or OpenAI chunks (usage chunk with
        /// `include_usage`).
        public enum Flavor: Sendable { case groq, openAI }

        /// The bearer token required, or nil to accept any request.
        public var apiKey: String?
        /// Model ids that exist; others get 404 `model_not_found`. Empty accepts any model.
        public var models: Set<String> = []
        /// Chunk shapes.
        public var flavor: Flavor = .groq
        /// The reply to a chat request.
        public var reply: @Sendable ([ChatMessage]) -> String = { _ in "Hello from the fake model. How can I help?" }
        /// Reasoning text streamed as `delta.reasoning` before the reply unless the request sets
        /// `include_reasoning: false` (Groq's gpt-oss models).
        public var reasoning: String?
        /// Delay before the response head.
        public var headDelay: Duration = .zero
        /// Delay before the first content chunk.
        public var firstTokenDelay: Duration = .zero
        /// Delay between chunks.
        public var tokenDelay: Duration = .zero
        /// Faults, one per request in arrival order; requests beyond the list are served normally.
        public var faults: [Fault] = []
        /// Random faults for chat and transcription requests without a scripted one: `refuse`
        /// answers a 5xx with the error envelope, `drop` drops the connection part way through
        /// the streamed reply (a transcription: before its answer), `stall` never sends the
        /// response head, `slow` sends it late.
        public var randomFaults: FakeRandomFaults?
        /// Whether requests are kept in ``Running/requests`` (long load runs turn it off).
        public var recordsRequests = true
        /// Split the event stream into writes at random byte offsets (seeded), including inside
        /// UTF-8 characters and `data:` prefixes.
        public var splitWrites: UInt64?
        /// End SSE lines with CRLF instead of LF.
        public var crlf = false
        /// Send `: ping` comment lines between events.
        public var pings = false
        /// Transcripts for successive transcription requests (the last repeats).
        public var transcripts: [String] = ["Hello there."]
        /// The tools the model calls, given the request's messages and offered tools; nil (the
        /// default) answers in text with ``reply``. Only asked when tools are offered and
        /// `tool_choice` is not `none`; `required` and a named function force a call.
        public var toolCalls: @Sendable ([ChatMessage], [ToolDefinition]) -> FakeToolTurn? = { _, _ in nil }
        /// How tool calls are streamed.
        public var toolCallStyle: FakeToolCallStyle = .fragmented

        /// Creates a configuration.
        public init(apiKey: String? = nil) {
            self.apiKey = apiKey
        }
    }

    /// A fault injected into one request.
    public enum Fault: Sendable, Equatable {
        /// An HTTP error with the provider's error envelope; optional `retry-after` (seconds)
        /// and `retry-after-ms` headers.
        case status(Int, retryAfter: String? = nil, retryAfterMilliseconds: String? = nil)
        /// HTTP 200, `n` content chunks, then `data: {"error": …}`.
        case errorAfter(tokens: Int)
        /// HTTP 200, `n` content chunks, then a chunk with `x_groq.error`.
        case groqErrorAfter(tokens: Int)
        /// HTTP 200, `n` content chunks, then the body ends without `[DONE]`.
        case endAfter(tokens: Int)
        /// HTTP 200, `n` content chunks, then the connection drops.
        case dropAfter(tokens: Int)
        /// HTTP 200 and a chunk that is not JSON.
        case malformedChunk
        /// Groq's HTTP 400 `tool_use_failed` with `failed_generation`.
        case toolUseFailed
        /// HTTP 200, then `data: {"error": …}` with code `tool_use_failed` before any content.
        case toolUseFailedEvent
        /// The first call's arguments are cut short, so they are not valid JSON.
        case invalidToolArguments
        /// The first call names a function that was not offered.
        case unknownTool
        /// The body ends after the tool-call pieces, before `finish_reason` and `[DONE]`.
        case cutBeforeFinish
    }

    /// A request the fake received (the key itself is never kept).
    public struct Request: Sendable {
        /// The path.
        public var path: String
        /// Whether the bearer token matched.
        public var authorized: Bool
        /// The JSON body (chat) or nil.
        public var json: JSONValue?
        /// Multipart fields other than the file (transcriptions).
        public var fields: [String: String]
        /// The uploaded file's name and bytes (transcriptions).
        public var file: (name: String, bytes: [UInt8])?
        /// When it arrived.
        public var at: ContinuousClock.Instant
        /// The chat messages as the fake read them, with assistant `tool_calls` and `tool`
        /// messages' `tool_call_id` (chat).
        public var messages: [ChatMessage] = []
        /// The offered tools (chat).
        public var tools: [ToolDefinition] = []
    }

    /// The fake as a running test sees it.
    public struct Running: Sendable {
        /// The generic base URL, `http://127.0.0.1:<port>/v1`.
        public let baseURL: String
        /// The Groq-style base URL, `http://127.0.0.1:<port>/openai/v1`.
        public let groqBaseURL: String
        let log: Log

        /// Every request received, in order.
        public var requests: [Request] { log.requests.withLock { $0 } }
        /// Chat streams the client abandoned before the end (connection closed mid-stream).
        public var abandonedStreams: Int { log.abandoned.withLock { $0 } }
        /// The random faults acted out so far, by kind.
        public var randomFaultCounts: [FakeRandomFaults.Kind: Int] { log.dice.counts }
    }

    final class Log: Sendable {
        let requests = Mutex<[Request]>([])
        let faults: Mutex<[Fault]>
        let transcriptIndex = Mutex(0)
        let abandoned = Mutex(0)
        let dice: FakeFaultDice
        let recordsRequests: Bool

        init(faults: [Fault], dice: FakeFaultDice, recordsRequests: Bool) {
            self.faults = Mutex(faults)
            self.dice = dice
            self.recordsRequests = recordsRequests
        }

        func nextFault() -> Fault? {
            faults.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        }

        func record(_ request: Request) {
            guard recordsRequests else { return }
            requests.withLock { $0.append(request) }
        }
    }

    /// The pieces a reply is streamed in, one per `delta.content` chunk (a word with the space
    /// before it), ``Configuration/tokenDelay`` apart.
    public static func contentPieces(_ reply: String) -> [String] { FakeChatCompletion.pieces(reply) }

    /// Runs the fake on a free loopback port for the length of `body`.
    public static func run<Result: Sendable>(
        _ configuration: Configuration, _ body: @Sendable (Running) async throws -> Result
    ) async throws -> Result {
        let log = Log(
            faults: configuration.faults, dice: FakeFaultDice(configuration.randomFaults), recordsRequests: configuration.recordsRequests)
        let server = FakeProviderServer(http: { request, response in
            try await handle(request, response, configuration: configuration, log: log)
        })
        return try await server.run { port in
            try await body(Running(baseURL: "http://127.0.0.1:\(port)/v1", groqBaseURL: "http://127.0.0.1:\(port)/openai/v1", log: log))
        }
    }

    static func handle(_ request: FakeRequest, _ response: FakeResponseWriter, configuration: Configuration, log: Log) async throws {
        var path = request.path
        if path.hasPrefix("/openai/v1/") { path = String(path.dropFirst("/openai".count)) }
        // smallest.ai's Electron serves the same chat API under /waves/v1.
        if path.hasPrefix("/waves/v1/") { path = String(path.dropFirst("/waves".count)) }
        let authorized = configuration.apiKey.map { request.header("authorization") == "Bearer \($0)" } ?? true
        let headers = rateLimitHeaders()
        if configuration.headDelay > .zero { try await FakeClock.sleep(for: configuration.headDelay) }
        switch (request.method, path) {
        case ("GET", "/v1/models"):
            guard authorized else { return try await sendError(response, 401, invalidKey, headers: headers) }
            let data: [JSONValue] = configuration.models.sorted().map { ["id": .string($0), "object": "model"] }
            try await response.send(
                status: 200, headers: headers + json, body: JSONValue.object(["object": "list", "data": .array(data)]).serialized)
        case ("POST", "/v1/chat/completions"):
            let body = JSONValue.parse(request.text)
            let toolRequest = body.map(FakeToolRequest.init(body:))
            log.record(
                Request(
                    path: request.path, authorized: authorized, json: body, fields: [:], at: .now, messages: toolRequest?.messages ?? [],
                    tools: toolRequest?.tools ?? []))
            guard authorized else { return try await sendError(response, 401, invalidKey, headers: headers) }
            guard let body, body["messages"]?.arrayValue != nil, let model = body["model"]?.stringValue else {
                return try await sendError(response, 400, ("'messages' and 'model' are required", "invalid_request_error", nil), headers: headers)
            }
            guard configuration.models.isEmpty || configuration.models.contains(model) else {
                return try await sendError(
                    response, 404,
                    ("The model `\(model)` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
                    headers: headers)
            }
            if let invalid = toolRequest?.invalid {
                return try await sendError(response, 400, (invalid, "invalid_request_error", nil), headers: headers)
            }
            let chat = toolRequest?.messages ?? []
            var fault = log.nextFault()
            let random = fault == nil ? log.dice.draw() : nil
            switch random {
            case .refuse(let status)?:
                log.dice.acted(.refuse)
                fault = .status(status)
            case .stall(let limit)?:
                log.dice.acted(.stall)
                return await response.stall(upTo: limit)
            case .slow(let delay)?:
                log.dice.acted(.slow)
                try await FakeClock.sleep(for: delay)
            case .drop?, nil:
                break
            }
            if case .status(let status, let retryAfter, let retryAfterMilliseconds) = fault {
                var extra = headers
                if let retryAfter { extra.append(("retry-after", retryAfter)) }
                if let retryAfterMilliseconds { extra.append(("retry-after-ms", retryAfterMilliseconds)) }
                return try await sendError(response, status, statusError(status), headers: extra)
            }
            if fault == .toolUseFailed {
                return try await response.send(status: 400, headers: headers + json, body: FakeToolRequest.toolUseFailed.serialized)
            }
            let turn = toolRequest?.turn(configuration, body: body)
            let completion = FakeChatCompletion(
                configuration: configuration, request: body, messages: chat, model: model, toolTurn: turn, fault: fault)
            if case .drop(let at)? = random {
                guard body["stream"]?.boolValue == true, !completion.content.isEmpty else {
                    log.dice.acted(.drop)
                    return response.abort()
                }
                fault = .dropAfter(tokens: min(completion.content.count - 1, Int(at * Double(completion.content.count))))
            }
            if body["stream"]?.boolValue == true {
                // A drop is counted before the connection goes, so a client that sees it end sees it counted.
                let finished = try await completion.stream(to: response, headers: headers + [("Content-Type", "text/event-stream")], fault: fault) {
                    if case .drop? = random { log.dice.acted(.drop) }
                }
                if !finished { log.abandoned.withLock { $0 += 1 } }
            } else {
                try await response.send(status: 200, headers: headers + json, body: completion.whole().serialized)
            }
        case ("POST", "/v1/audio/transcriptions"):
            try await transcribe(request, response, authorized: authorized, configuration: configuration, log: log, headers: headers)
        default:
            try await sendError(
                response, 404, ("Unknown request URL: \(request.method) \(request.path)", "invalid_request_error", "unknown_url"), headers: headers)
        }
    }

    static func transcribe(
        _ request: FakeRequest, _ response: FakeResponseWriter, authorized: Bool, configuration: Configuration, log: Log,
        headers: [(String, String)]
    ) async throws {
        let form = FakeMultipart.parse(body: request.body, contentType: request.header("content-type") ?? "")
        let file = form?.files.first { $0.name == "file" }
        log.record(
            Request(
                path: request.path, authorized: authorized, json: nil, fields: form?.fields ?? [:],
                file: file.map { ($0.filename, $0.bytes) }, at: .now))
        guard authorized else { return try await sendError(response, 401, invalidKey, headers: headers) }
        guard let form else {
            return try await sendError(response, 400, ("request must be multipart/form-data", "invalid_request_error", nil), headers: headers)
        }
        guard let file else {
            return try await sendError(response, 400, ("'file' is required", "invalid_request_error", nil), headers: headers)
        }
        guard form.fields["model"] != nil else {
            return try await sendError(response, 400, ("'model' is required", "invalid_request_error", nil), headers: headers)
        }
        guard (try? WAVFile(bytes: file.bytes)) != nil else {
            return try await sendError(
                response, 400, ("could not process file - is it a valid media file?", "invalid_request_error", nil), headers: headers)
        }
        let fault = log.nextFault()
        if case .status(let status, let retryAfter, _) = fault {
            return try await sendError(
                response, status, statusError(status), headers: headers + (retryAfter.map { [("retry-after", $0)] } ?? []))
        }
        if fault == nil, let random = log.dice.draw() {
            log.dice.acted(random.kind)
            switch random {
            case .refuse(let status): return try await sendError(response, status, statusError(status), headers: headers)
            case .drop: return response.abort()
            case .stall(let limit): return await response.stall(upTo: limit)
            case .slow(let delay): try await FakeClock.sleep(for: delay)
            }
        }
        let index = log.transcriptIndex.withLock { index in
            defer { index += 1 }
            return index
        }
        let text = configuration.transcripts[min(index, configuration.transcripts.count - 1)]
        let answer: JSONValue = ["text": .string(text), "x_groq": ["id": .string("req_fake\(index)")]]
        try await response.send(status: 200, headers: headers + json, body: answer.serialized)
    }

    typealias ErrorBody = (message: String, type: String, code: String?)

    static let json = [("Content-Type", "application/json")]
    static let invalidKey: ErrorBody = ("Invalid API Key", "invalid_request_error", "invalid_api_key")

    static func statusError(_ status: Int) -> ErrorBody {
        switch status {
        case 413: ("Request Entity Too Large", "invalid_request_error", "request_too_large")
        case 429:
            (
                "Rate limit reached for model on tokens per minute (TPM): Limit 15000, Used 11972, Requested 4351. Please try again in 5.289s.",
                "tokens", "rate_limit_exceeded"
            )
        case 500..<600: ("Internal Server Error", "internal_server_error", nil)
        default: ("error \(status)", "invalid_request_error", nil)
        }
    }

    static func sendError(_ response: FakeResponseWriter, _ status: Int, _ error: ErrorBody, headers: [(String, String)]) async throws {
        var body: [String: JSONValue] = ["message": .string(error.message), "type": .string(error.type)]
        if let code = error.code { body["code"] = .string(code) }
        try await response.send(status: status, headers: headers + json, body: JSONValue.object(["error": .object(body)]).serialized)
    }

    static func rateLimitHeaders() -> [(String, String)] {
        [
            ("x-ratelimit-limit-requests", "14400"), ("x-ratelimit-limit-tokens", "6000"),
            ("x-ratelimit-remaining-requests", "14399"), ("x-ratelimit-remaining-tokens", "5990"),
            ("x-ratelimit-reset-requests", "6s"), ("x-ratelimit-reset-tokens", "100ms"),
            ("x-request-id", "req_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)),
        ]
    }
}
