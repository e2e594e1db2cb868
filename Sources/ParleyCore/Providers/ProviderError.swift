/// A failure of a speech-to-text, LLM or text-to-speech provider.
///
/// The description names the provider and says what went wrong in words for the person reading
/// the log or the client's error line. It never contains credentials.
public struct ProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Code: Sendable, Hashable {
            case unreachable, timeout, badResponse, rejected, streamEnded, engine
        }
        private let code: Code

        /// The provider could not be reached (connection refused, DNS, TLS).
        public static let unreachable = Kind(code: .unreachable)
        /// The provider did not answer in time.
        public static let timeout = Kind(code: .timeout)
        /// The provider answered something that does not follow its protocol.
        public static let badResponse = Kind(code: .badResponse)
        /// The provider refused the request (an HTTP error status or an error message).
        public static let rejected = Kind(code: .rejected)
        /// The provider's stream ended before it said it was complete.
        public static let streamEnded = Kind(code: .streamEnded)
        /// A local engine failed.
        public static let engine = Kind(code: .engine)

        public var description: String { "\(code)" }
    }

    /// The provider's name, such as `local-whisper` or `groq`.
    public var provider: String
    /// The kind of failure.
    public var kind: Kind
    /// What happened, for a person.
    public var message: String
    /// The HTTP status, when there was one.
    public var status: Int?

    /// Creates an error.
    public init(provider: String, kind: Kind, message: String, status: Int? = nil) {
        self.provider = provider
        self.kind = kind
        self.message = message
        self.status = status
    }

    public var description: String { "\(provider): \(message)" }
}
