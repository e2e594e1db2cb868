public import ParleyCore

/// How the Parley server listens and what each session gets.
public struct ServerConfiguration: Sendable {
    /// Address to bind, `127.0.0.1` by default.
    public var host: String
    /// Port to bind; 0 picks a free one.
    public var port: Int
    /// The directory of the browser client served at `/`; nil serves none.
    public var webRoot: String?
    /// Settings for every session.
    public var session: SessionConfiguration
    /// The most concurrent sessions, browser and Twilio together; more are refused at the handshake
    /// with HTTP 503. The default, 200, is what one 2-core machine carries with a margin
    /// (`parley-bench capacity` passed 237 real-time sessions there; BENCHMARKS.md).
    public var maximumSessions: Int
    /// Which web pages may open `/ws` (`--allowed-origins`).
    public var origins: OriginPolicy
    /// How long a drain (SIGTERM, SIGINT) lets sessions finish their replies before closing them.
    public var drainTimeout: Duration = .seconds(30)
    /// The server's public base URL (`PUBLIC_URL`, e.g. `https://parley.example.com`): the host of
    /// the Media Streams URL in the Twilio webhook's TwiML and of the URL Twilio signs; nil uses
    /// the request's Host header.
    public var publicURL: String?
    /// The Twilio account's auth token (`TWILIO_AUTH_TOKEN`); when set, `POST /twilio/voice`
    /// refuses requests without a valid `X-Twilio-Signature`.
    public var twilioAuthToken: String?
    /// Who may open sessions and read `/metrics` (`PARLEY_API_KEY`, `--metrics-token`); open by default.
    public var access: AccessControl = .open
    /// Per-connection limits (message size and rate, idle time, session length, connections per address).
    public var limits = ConnectionLimits()

    /// Creates a configuration.
    public init(
        host: String = "127.0.0.1", port: Int = 8080, webRoot: String? = "web",
        session: SessionConfiguration = SessionConfiguration(), maximumSessions: Int = ServerConfiguration.defaultMaximumSessions,
        origins: OriginPolicy = .sameOrigin, publicURL: String? = nil, twilioAuthToken: String? = nil
    ) {
        self.host = host
        self.port = port
        self.webRoot = webRoot
        self.session = session
        self.maximumSessions = maximumSessions
        self.origins = origins
        self.publicURL = publicURL
        self.twilioAuthToken = twilioAuthToken
    }

    /// The default session limit (see ``maximumSessions``).
    public static let defaultMaximumSessions = 200
}
