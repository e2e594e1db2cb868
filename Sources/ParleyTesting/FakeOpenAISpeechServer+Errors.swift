import Foundation
import ParleyCore

extension FakeOpenAISpeechServer {
    /// Why a request is refused, answered in OpenAI's envelope or as Kokoro-FastAPI does.
    enum Refusal: Error {
        case notFound(method: String, path: String)
        case methodNotAllowed(method: String, path: String)
        case unauthorized(missing: Bool)
        case invalidJSON
        case missing(String)
        case wrongType(String, value: JSONValue, expected: String)
        case invalidValue(String, value: String, allowed: [String])
        case outOfRange(String, value: Double, range: ClosedRange<Double>)
        case tooShort(String)
        case tooLong(String, maximum: Int)
        case unsupported(String, message: String)
        case unknownVoice(String, available: [String])
        case unknownModel(String)
        case status(Int)

        /// Sends the refusal; `body` is the request's JSON, which FastAPI echoes in its 422s.
        func send(
            _ shape: Configuration.ErrorShape, to response: FakeResponseWriter, headers: [(String, String)], body: JSONValue? = nil
        ) async throws {
            let (status, answer) = shape == .openAI ? openAI() : kokoro(body)
            try await response.send(status: status, headers: headers + FakeOpenAIServer.json, body: answer.serialized)
        }

        /// OpenAI's `{"error":{"message","type","param","code"}}`, `param` and `code` null when unset.
        func openAI() -> (Int, JSONValue) {
            func envelope(
                _ status: Int, _ message: String, param: String? = nil, code: String? = nil, type: String = "invalid_request_error"
            ) -> (Int, JSONValue) {
                let error: JSONValue = [
                    "message": .string(message), "type": .string(type), "param": param.map { .string($0) } ?? .null,
                    "code": code.map { .string($0) } ?? .null,
                ]
                return (status, ["error": error])
            }
            func quoted(_ values: [String]) -> String { values.map { "'\($0)'" }.joined(separator: ", ") }
            switch self {
            case .notFound(let method, let path): return envelope(404, "Invalid URL (\(method) \(path))")
            case .methodNotAllowed(let method, let path): return envelope(405, "Invalid method for URL (\(method) \(path))")
            case .unauthorized(missing: true):
                return envelope(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    code: "invalid_api_key")
            case .unauthorized(missing: false):
                return envelope(
                    401, "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                    code: "invalid_api_key")
            case .invalidJSON:
                return envelope(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
                )
            case .missing(let name):
                return envelope(400, "Missing required parameter: '\(name)'.", param: name, code: "missing_required_parameter")
            case .wrongType(let name, let value, let expected):
                return envelope(
                    400, "Invalid type for '\(name)': expected \(expected), but got \(value.serialized) instead.", param: name, code: "invalid_type")
            case .invalidValue(let name, let value, let allowed):
                return envelope(400, "Invalid value: '\(value)'. Supported values are: \(quoted(allowed)).", param: name, code: "invalid_value")
            case .outOfRange(let name, let value, let range) where value < range.lowerBound:
                return envelope(
                    400, "Invalid '\(name)': decimal below minimum value. Expected a value >= \(range.lowerBound), but got \(value) instead.",
                    param: name, code: "decimal_below_min_value")
            case .outOfRange(let name, let value, let range):
                return envelope(
                    400, "Invalid '\(name)': decimal above maximum value. Expected a value <= \(range.upperBound), but got \(value) instead.",
                    param: name, code: "decimal_above_max_value")
            // OpenAI passes on pydantic's complaint about these two, printed as a Python list.
            case .tooShort(let name):
                return envelope(
                    400,
                    "[{'type': 'string_too_short', 'loc': ('body', '\(name)'), 'msg': 'String should have at least 1 character', 'ctx': {'min_length': 1}}]"
                )
            case .tooLong(let name, let maximum):
                return envelope(
                    400,
                    "[{'type': 'string_too_long', 'loc': ('body', '\(name)'), 'msg': 'String should have at most \(maximum) characters', 'ctx': {'max_length': \(maximum)}}]"
                )
            case .unsupported(let name, let message): return envelope(400, message, param: name, code: "unsupported_value")
            case .unknownVoice(let voice, let available):
                return envelope(400, "Invalid value: '\(voice)'. Supported values are: \(quoted(available)).", param: "voice", code: "invalid_value")
            case .unknownModel(let model):
                return envelope(404, "The model `\(model)` does not exist or you do not have access to it.", code: "model_not_found")
            case .status(let status):
                let error = FakeOpenAIServer.statusError(status)
                return envelope(status, error.message, code: error.code, type: error.type)
            }
        }

        /// Kokoro-FastAPI's answers: its own checks raise `HTTPException(detail={error, message,
        /// type})`; a body that does not validate gets FastAPI's 422 with a list of problems.
        func kokoro(_ body: JSONValue?) -> (Int, JSONValue) {
            func detail(_ status: Int, _ error: String, _ message: String, _ type: String = "invalid_request_error") -> (Int, JSONValue) {
                (status, ["detail": ["error": .string(error), "message": .string(message), "type": .string(type)]])
            }
            func validation(_ type: String, _ name: String, _ message: String, input: JSONValue, context: JSONValue? = nil) -> (Int, JSONValue) {
                var problem: [String: JSONValue] = [
                    "type": .string(type), "loc": ["body", .string(name)], "msg": .string(message), "input": input,
                ]
                if let context { problem["ctx"] = context }
                return (422, ["detail": [.object(problem)]])
            }
            switch self {
            case .notFound: return (404, ["detail": "Not Found"])
            case .methodNotAllowed: return (405, ["detail": "Method Not Allowed"])
            case .unauthorized: return detail(401, "unauthorized", "Invalid API key")
            case .invalidJSON:
                return (
                    422,
                    [
                        "detail": [
                            [
                                "type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": [:],
                                "ctx": ["error": "Expecting value"],
                            ]
                        ]
                    ]
                )
            case .missing(let name): return validation("missing", name, "Field required", input: body ?? .null)
            case .wrongType(let name, let value, let expected):
                return validation(
                    expected == "number" ? "float_parsing" : "\(expected)_type", name, "Input should be a valid \(expected)", input: value)
            case .invalidValue(let name, let value, let allowed):
                let expected = allowed.dropLast().map { "'\($0)'" }.joined(separator: ", ") + " or '\(allowed.last ?? "")'"
                return validation(
                    "literal_error", name, "Input should be \(expected)", input: .string(value), context: ["expected": .string(expected)])
            case .outOfRange(let name, let value, let range):
                return value < range.lowerBound
                    ? validation(
                        "greater_than_equal", name, "Input should be greater than or equal to \(range.lowerBound)", input: .number(value),
                        context: ["ge": .number(range.lowerBound)])
                    : validation(
                        "less_than_equal", name, "Input should be less than or equal to \(range.upperBound)", input: .number(value),
                        context: ["le": .number(range.upperBound)])
            case .tooShort(let name): return validation("string_too_short", name, "String should have at least 1 character", input: "")
            case .tooLong(let name, let maximum):
                return validation("string_too_long", name, "String should have at most \(maximum) characters", input: .null)
            case .unsupported(_, let message): return detail(400, "validation_error", message)
            case .unknownVoice(let voice, let available):
                return detail(400, "validation_error", "Voice '\(voice)' not found. Available voices: \(available.joined(separator: ", "))")
            case .unknownModel(let model): return detail(400, "invalid_model", "Unsupported model: \(model)")
            case .status(let status):
                switch status {
                case 500..<600: return detail(status, "processing_error", "Internal Server Error", "server_error")
                case 429: return detail(status, "rate_limited", "Too many requests", "rate_limit_error")
                default: return detail(status, "error", "error \(status)")
                }
            }
        }
    }
}
