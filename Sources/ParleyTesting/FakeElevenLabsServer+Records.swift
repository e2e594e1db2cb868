public import ParleyCore

extension FakeElevenLabsServer {
    /// How a client proved its key.
    public enum KeySource: String, Sendable {
        /// The `xi-api-key` header.
        case header
        /// The `authorization` query parameter.
        case query
        /// The first message's `xi-api-key`, `xi_api_key` or `authorization` field.
        case firstMessage
    }

    /// One `stream-input` WebSocket as the fake saw it.
    public struct StreamInputRecord: Sendable {
        /// The voice id from the path.
        public var voiceID: String
        /// Query items in order.
        public var query: [(String, String)]
        /// Where the accepted key came from (nil when it was never accepted).
        public var keySource: KeySource?
        /// The client's text messages in order, with any key replaced by `<redacted>`.
        public var messages: [String]
        /// Text spoken, one entry per generation, in order.
        public var generations: [String] = []
        /// Every audio byte sent, in order, in the output format.
        public var audio: [UInt8] = []
        /// Audio messages sent.
        public var audioMessages = 0
        /// Rules of docs/providers.md the client broke that ElevenLabs tolerates (a text without a
        /// trailing space, a message after end of stream, …): tests expect none.
        public var violations: [String] = []
        /// When the upgrade was accepted.
        public var openedAt: ContinuousClock.Instant
        /// When the connection ended, either way.
        public var closedAt: ContinuousClock.Instant?
        /// The close code the fake sent, if it closed first.
        public var serverCloseCode: Int?
        /// Whether the fake dropped the connection without a close frame (a fault).
        public var serverDropped = false
        /// The close code the client sent, if it closed first (nil with `clientDropped`).
        public var clientCloseCode: Int?
        /// Whether the connection ended without a close frame from the client.
        public var clientDropped = false

        /// The first value of query item `name`.
        public func queryValue(_ name: String) -> String? {
            query.first { $0.0 == name }?.1
        }

        /// The messages parsed as JSON (nil for those that are not).
        public var json: [JSONValue?] { messages.map { JSONValue.parse($0) } }
    }

    /// One HTTP request as the fake saw it.
    public struct HTTPRequestRecord: Sendable {
        /// The method.
        public var method: String
        /// The path.
        public var path: String
        /// Query items in order.
        public var query: [(String, String)]
        /// Whether the `xi-api-key` header held the right key.
        public var keyAccepted: Bool
        /// The `Content-Type` header.
        public var contentType: String?
        /// The body parsed as JSON (nil when it is not JSON).
        public var body: JSONValue?
        /// The status answered.
        public var status: Int?
        /// Every audio byte sent.
        public var audio: [UInt8] = []
        /// When the request arrived.
        public var receivedAt: ContinuousClock.Instant
        /// When the response ended or the client went away.
        public var finishedAt: ContinuousClock.Instant?
        /// Whether the client went away before the response ended.
        public var clientWentAway = false

        /// The first value of query item `name`.
        public func queryValue(_ name: String) -> String? {
            query.first { $0.0 == name }?.1
        }
    }

    /// Everything recorded so far.
    struct Records {
        var streamInput: [StreamInputRecord] = []
        var multiStreamInput: [MultiStreamInputRecord] = []
        var http: [HTTPRequestRecord] = []
    }
}
