import AsyncHTTPClient
import NIOCore
import ParleyCore

extension ElevenLabsConfiguration {
    /// A provider error for `name` whose message never contains the API key, even when
    /// ElevenLabs (or a gateway) echoes it back.
    func error(_ name: String, _ kind: ProviderError.Kind, _ message: String, status: Int? = nil) -> ProviderError {
        let safe = apiKey.count >= 4 ? message.replacingOccurrences(of: apiKey, with: "<api key>") : message
        return ProviderError(provider: name, kind: kind, message: safe, status: status)
    }

    /// The error for an HTTP error status (a refused upgrade or a failed request), carrying
    /// ElevenLabs' own code and message from `{"detail":{"status":…,"message":…}}` or a FastAPI
    /// validation list.
    func httpError(_ name: String, status: Int, body: String) -> ProviderError {
        let detail = Self.errorDetail(in: body)
        if status == 401 || status == 403, detail?.code != "quota_exceeded" {
            let said = detail.map { " (\($0.code): \($0.message))" } ?? ""
            return error(
                name, .rejected, "ElevenLabs refused the API key (HTTP \(status)) — check ELEVENLABS_API_KEY\(said)",
                status: status)
        }
        let said = detail.map { "\($0.code): \($0.message)" } ?? (body.isEmpty ? "no details" : String(body.prefix(200)))
        return error(name, .rejected, "HTTP \(status): \(said)", status: status)
    }

    /// The code and message of an ElevenLabs error body, if it is one.
    static func errorDetail(in body: String) -> (code: String, message: String)? {
        guard let json = JSONValue.parse(body) else { return nil }
        let detail = json["detail"]
        if let code = detail?["status"]?.stringValue ?? detail?["code"]?.stringValue {
            return (code, detail?["message"]?.stringValue ?? "no message")
        }
        if let items = detail?.arrayValue, !items.isEmpty {
            // FastAPI validation errors: [{"loc": [...], "msg": "...", "type": "..."}].
            let messages = items.map { item -> String in
                let location = item["loc"]?.arrayValue?.compactMap { $0.stringValue ?? $0.intValue.map(String.init) }
                let message = item["msg"]?.stringValue ?? "invalid"
                return location.map { "\($0.joined(separator: ".")): \(message)" } ?? message
            }
            return (items.first?["type"]?.stringValue ?? "validation_error", messages.joined(separator: "; "))
        }
        if let message = detail?.stringValue { return ("error", message) }
        if let message = json["message"]?.stringValue { return (json["error"]?.stringValue ?? "error", message) }
        return nil
    }

    /// Maps a failure to connect (refused, unreachable, timed out, bad TLS) to a provider error;
    /// cancellation passes through.
    func connectError(_ name: String, _ failure: any Error) -> any Error {
        if failure is CancellationError || Task.isCancelled { return CancellationError() }
        if let failure = failure as? ProviderError { return failure }
        if let error = failure as? HTTPClientError {
            switch error {
            case .cancelled where Task.isCancelled:
                return CancellationError()
            case .deadlineExceeded, .readTimeout, .connectTimeout:
                return self.error(name, .timeout, "ElevenLabs at \(host) did not answer within \(connectTimeout)")
            case .remoteConnectionClosed:
                return self.error(name, .streamEnded, "ElevenLabs at \(host) closed the connection")
            default:
                break
            }
        }
        if case ChannelError.connectTimeout = failure {
            return error(name, .timeout, "ElevenLabs at \(host) did not answer within \(connectTimeout)")
        }
        return error(name, .unreachable, "cannot reach ElevenLabs at \(host): \(failure)")
    }
}
