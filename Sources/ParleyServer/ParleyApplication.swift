public import Hummingbird
import HummingbirdWebSocket
public import Logging
import NIOCore
public import ParleyCore

/// Builds the Parley HTTP/WebSocket application: `GET /` (the web client), `GET /health`,
/// `GET /health/live`, `GET /health/ready`, `GET /metrics` (Prometheus) and the voice WebSocket
/// `GET /ws`, and for phone calls the Twilio webhook `POST /twilio/voice` and the Media Streams
/// WebSocket `GET /twilio`.
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
    let runner = SessionSocketRunner(health: health, lifecycle: lifecycle, metrics: metrics)
    let router = Router(context: ParleyRequestContext.self)
    router.add(middleware: LogRequestsMiddleware(.debug))
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
    router.get("/metrics") { _, _ -> Response in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }
    let origins = configuration.origins
    /// Refuses an upgrade from a page not allowed (403) or when no session can start (503).
    @Sendable func admit(_ request: Request, _ context: ParleyRequestContext, transport: String) async throws -> RouterShouldUpgrade {
        let sent = request.headers[values: .origin]
        guard origins.admits(origins: sent, host: request.head.authority) else {
            context.logger.notice(
                "\(transport) handshake refused: origin not allowed", metadata: ["parley.origin": "\(sent.joined(separator: " ").prefix(100))"])
            try await HandshakeRefusalHandler.decline(
                on: context.channel, status: .forbidden, reason: "This page's origin may not open a Parley session (see --allowed-origins).")
        }
        if let refusal = runner.refusal() {
            context.logger.debug("\(transport) handshake refused", metadata: ["parley.reason": "\(refusal.code)"])
            try await HandshakeRefusalHandler.decline(on: context.channel, status: .serviceUnavailable, reason: refusal.message)
        }
        return .upgrade([:])
    }
    let handler = VoiceSocketHandler(configuration: configuration, providers: providers, runner: runner)
    router.ws("/ws") { request, context in
        try await admit(request, context, transport: "ws")
    } onUpgrade: { inbound, outbound, context in
        await handler.handle(inbound: inbound, outbound: outbound, logger: context.logger)
    }
    let webhook = TwilioWebhook(publicURL: configuration.publicURL, authToken: configuration.twilioAuthToken)
    router.post("/twilio/voice") { request, context in
        try await webhook.respond(to: request, logger: context.logger)
    }
    let twilio = TwilioSocketHandler(session: configuration.telephonySession, providers: telephonyProviders ?? providers, runner: runner)
    router.ws("/twilio") { request, context in
        try await admit(request, context, transport: "twilio")
    } onUpgrade: { inbound, outbound, context in
        await twilio.handle(inbound: inbound, outbound: outbound, logger: context.logger)
    }
    return Application(
        router: router,
        server: .parleyWebSocketUpgrade(
            router: router, configuration: .init(maxFrameSize: WireProtocol.maxFrameBytes, autoPing: .enabled(timePeriod: .seconds(30)))),
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
