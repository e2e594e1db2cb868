import Hummingbird
import Logging

/// Logs each request's method and path at debug level, without its query: a `/ws?token=…` query
/// carries a session token, which must never reach a log (Hummingbird's `LogRequestsMiddleware`
/// logs the whole URI).
struct RequestPathLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        context.logger.debug(
            "Request", metadata: ["hb.request.path": .string(request.uri.path), "hb.request.method": .string(request.method.rawValue)])
        return try await next(request, context)
    }
}
