public import Hummingbird
import HummingbirdWebSocket
public import Logging
import NIOCore
public import ParleyCore

/// Builds the Parley HTTP/WebSocket application: `GET /` (the web client), `GET /health`,
/// `GET /metrics` (Prometheus) and the voice WebSocket `GET /ws`, and for phone calls the Twilio webhook `POST /twilio/voice` and
/// the Media Streams WebSocket `GET /twilio`.
///
/// `telephonyProviders` serve phone calls, whose audio is 8 kHz μ-law (a Deepgram client set
/// for `mulaw` at 8000 Hz, say); nil uses `providers`.
public func buildApplication(
    configuration: ServerConfiguration,
    providers: SessionProviders,
    telephonyProviders: SessionProviders? = nil,
    health: HealthMonitor,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    // Each application owns its registry: several servers may share a process (the tests).
    let metrics = ServerMetrics(health: health)
    var observed = configuration
    observed.session.observer = metrics
    let configuration = observed
    let limiter = SessionLimiter(maximum: configuration.maximumSessions, metrics: metrics)
    let router = Router(context: BasicWebSocketRequestContext.self)
    router.add(middleware: LogRequestsMiddleware(.debug))
    if let webRoot = configuration.webRoot {
        router.add(middleware: FileMiddleware(webRoot, searchForIndexHtml: true, logger: logger))
    }
    router.get("/health") { _, _ -> Response in
        let body = health.report(activeSessions: limiter.active).serialized
        return Response(
            status: health.isReady ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }
    router.get("/metrics") { _, _ -> Response in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }
    let handler = VoiceSocketHandler(
        configuration: configuration, providers: providers, health: health, limiter: limiter)
    router.ws("/ws") { _, _ in
        .upgrade([:])
    } onUpgrade: { inbound, outbound, context in
        await handler.handle(inbound: inbound, outbound: outbound, logger: context.logger)
    }
    let webhook = TwilioWebhook(publicURL: configuration.publicURL, authToken: configuration.twilioAuthToken)
    router.post("/twilio/voice") { request, context in
        try await webhook.respond(to: request, logger: context.logger)
    }
    let twilio = TwilioSocketHandler(
        session: configuration.telephonySession, providers: telephonyProviders ?? providers, health: health, limiter: limiter)
    router.ws("/twilio") { _, _ in
        .upgrade([:])
    } onUpgrade: { inbound, outbound, context in
        await twilio.handle(inbound: inbound, outbound: outbound, logger: context.logger)
    }
    return Application(
        router: router,
        server: .http1WebSocketUpgrade(
            webSocketRouter: router,
            configuration: .init(ws: .init(maxFrameSize: WireProtocol.maxFrameBytes, autoPing: .enabled(timePeriod: .seconds(30))))
        ),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "parley"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}
