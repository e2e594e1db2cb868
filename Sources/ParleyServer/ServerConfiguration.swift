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
    /// The most concurrent sessions; more are refused with `server_busy`.
    public var maximumSessions: Int

    /// Creates a configuration.
    public init(
        host: String = "127.0.0.1", port: Int = 8080, webRoot: String? = "web",
        session: SessionConfiguration = SessionConfiguration(), maximumSessions: Int = 1000
    ) {
        self.host = host
        self.port = port
        self.webRoot = webRoot
        self.session = session
        self.maximumSessions = maximumSessions
    }
}
