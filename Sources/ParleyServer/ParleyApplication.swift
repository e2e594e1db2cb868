public import Hummingbird
import HummingbirdWebSocket
public import Logging
import NIOCore
public import ParleyCore

/// Builds the Parley HTTP/WebSocket application: `GET /` (the web client), `GET /health`,
/// `GET /health/live`, `GET /health/ready`, `GET /metrics` (Prometheus), `POST /v1/session-tokens`
/// and the voice WebSocket `GET /ws`, and for phone calls the Twilio webhook `POST /twilio/voice`
/// and the Media Streams WebSocket `GET /twilio`.
///
/// With `PARLEY_API_KEY` set (``ServerConfiguration/access``), `/ws` needs a session token or the
/// key (HTTP 401 at the handshake otherwise); the health routes and the web client stay open.
///
/// `telephonyProviders` serve phone calls, whose audio is 8 kHz μ-law (a Deepgram client set
/// for `mulaw` at 8000 Hz, say); nil uses `providers`. `lifecycle` holds the session count and
/// the drain state (`ServerLifecycle.drain`); nil makes one for `configuration.maximumSessions`.
public func buildApplication(
    configuration: ServerConfiguration,
    providers: SessionProviders,
    telephonyProviders: SessionProviders? = nil,
    health: HealthMonitor,
    lifecycle: ServerLifecycle? = nil,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    // Each application owns its registry: several servers may share a process (the tests).
    let metrics = ServerMetrics(health: health)
    var observed = configuration
    observed.session.observer = metrics
    let configuration = observed
    let lifecycle = lifecycle ?? ServerLifecycle(maximumSessions: configuration.maximumSessions)
    let runner = SessionSocketRunner(health: health, lifecycle: lifecycle, metrics: metrics, limits: configuration.limits)
    let authenticator = SessionAuthenticator(access: configuration.access)
    let addresses = AddressLimiter(limits: configuration.limits)
    let router = Router(context: ParleyRequestContext.self)
    // Paths only: a query may carry a session token, which must never reach a log.
    router.add(middleware: RequestPathLogMiddleware())
    if let webRoot = configuration.webRoot {
        router.add(middleware: FileMiddleware(webRoot, searchForIndexHtml: true, logger: logger))
    }
    router.get("/health") { _, _ -> Response in
        let body = health.report(lifecycle: lifecycle).serialized
        return jsonResponse(health.isReady ? .ok : .serviceUnavailable, body)
    }
    router.get("/health/live") { _, _ -> Response in
        jsonResponse(.ok, (["status": "live", "version": .string(ParleyVersion.current)] as JSONValue).serialized)
    }
    router.get("/health/ready") { _, _ -> Response in
        let refusal = lifecycle.refusal(health: health)
        let report = health.readiness(lifecycle: lifecycle, refusal: refusal)
        return jsonResponse(refusal == nil ? .ok : .serviceUnavailable, report.serialized)
    }
    let access = configuration.access
    router.get("/metrics") { request, context -> Response in
        if access.metricsToken != nil, !access.isMetricsToken(SessionAuthenticator.bearer(request.headers[.authorization])) {
            metrics.recordRefusal("unauthorized")
            var response = SessionTokenEndpoint.error(.unauthorized, "unauthorized", "Send Authorization: Bearer <metrics token> (--metrics-token).")
            response.headers[.wwwAuthenticate] = #"Bearer realm="parley-metrics""#
            return response
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }
    let tokenEndpoint = SessionTokenEndpoint(authenticator: authenticator)
    router.post("/v1/session-tokens") { request, context in
        let response = try await tokenEndpoint.respond(to: request, logger: context.logger)
        if response.status == .unauthorized { metrics.recordRefusal("unauthorized") }
        return response
    }
    let origins = configuration.origins
    /// Refuses an upgrade from a page not allowed (403) or when no session can start (503).
    @Sendable func admit(_ request: Request, _ context: ParleyRequestContext, transport: String) async throws {
        let sent = request.headers[values: .origin]
        guard origins.admits(origins: sent, host: request.head.authority) else {
            context.logger.notice(
                "\(transport) handshake refused: origin not allowed", metadata: ["parley.origin": "\(sent.joined(separator: " ").prefix(100))"])
            metrics.recordRefusal("origin")
            try await HandshakeRefusalHandler.decline(
                on: context.channel, status: .forbidden, reason: "This page's origin may not open a Parley session (see --allowed-origins).")
        }
        if let refusal = runner.refusal() {
            context.logger.debug("\(transport) handshake refused", metadata: ["parley.reason": "\(refusal.code)"])
            try await HandshakeRefusalHandler.decline(on: context.channel, status: .serviceUnavailable, reason: refusal.message)
        }
    }
    let handler = VoiceSocketHandler(configuration: configuration, providers: providers, runner: runner)
    // What each admitted /ws handshake's token said, until its session starts.
    let grants = HandshakeGrants()
    router.ws("/ws") { request, context in
        try await admit(request, context, transport: "ws")
        let overrides: SessionOverrides
        switch await authenticator.authenticate(request) {
        case .success(let granted): overrides = granted
        case .failure(let refusal):
            context.logger.notice("ws handshake refused: \(refusal.reason)")
            metrics.recordRefusal("unauthorized")
            try await HandshakeRefusalHandler.decline(on: context.channel, status: .unauthorized, reason: refusal.reason)
        }
        // The channel is open while its upgrade request is handled (the context holds it weakly).
        guard let channel = context.channel else { throw HTTPError(.badRequest, message: "The connection closed during its upgrade.") }
        let address = addresses.address(of: request, channel: channel)
        guard addresses.acquire(address, until: channel) else {
            context.logger.notice("ws handshake refused: too many connections from one address", metadata: ["parley.client": "\(address)"])
            metrics.recordLimitClosure("address")
            try await HandshakeRefusalHandler.decline(
                on: context.channel, status: .tooManyRequests,
                reason: "This address already has \(addresses.maximum) open sessions (see --max-connections-per-address).")
        }
        grants.record(overrides, for: channel)
        return .upgrade(SessionAuthenticator.responseHeaders(for: request))
    } onUpgrade: { inbound, outbound, context in
        let overrides = context.requestContext.channel.map { grants.take(for: $0) } ?? .none
        await ConnectionLoop.run(on: context.requestContext.channel?.eventLoop) {
            await handler.handle(
                inbound: inbound, outbound: outbound, channel: context.requestContext.channel, overrides: overrides, logger: context.logger)
        }
    }
    let webhook = TwilioWebhook(publicURL: configuration.publicURL, authToken: configuration.twilioAuthToken)
    router.post("/twilio/voice") { request, context in
        let response = try await webhook.respond(to: request, logger: context.logger)
        if response.status == .forbidden { metrics.recordRefusal("twilio_signature") }
        return response
    }
    let twilio = TwilioSocketHandler(session: configuration.telephonySession, providers: telephonyProviders ?? providers, runner: runner)
    router.ws("/twilio") { request, context in
        try await admit(request, context, transport: "twilio")
        if let problem = webhook.socketSignatureProblem(request) {
            context.logger.warning("twilio handshake refused: \(problem)")
            metrics.recordRefusal("twilio_signature")
            try await HandshakeRefusalHandler.decline(on: context.channel, status: .forbidden, reason: problem)
        }
        return .upgrade([:])
    } onUpgrade: { inbound, outbound, context in
        await ConnectionLoop.run(on: context.requestContext.channel?.eventLoop) {
            await twilio.handle(inbound: inbound, outbound: outbound, channel: context.requestContext.channel, logger: context.logger)
        }
    }
    return Application(
        router: router,
        server: .parleyWebSocketUpgrade(
            router: router, configuration: .init(maxFrameSize: ConnectionLimits.hardMessageCeiling, autoPing: .enabled(timePeriod: .seconds(30)))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "parley"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}

/// A JSON response that caches must not keep.
private func jsonResponse(_ status: HTTPResponse.Status, _ body: String) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
        body: .init(byteBuffer: ByteBuffer(string: body)))
}
