public import ParleyCore

extension FakeElevenLabsServer {
    /// One `multi-stream-input` WebSocket as the fake saw it.
    public struct MultiStreamInputRecord: Sendable {
        /// One context as the fake saw it. A context id used again after its close is a new
        /// context with a record of its own.
        public struct Context: Sendable {
            /// The `context_id` (`"default"` for messages without one).
            public var id: String
            /// The text the client sent for it, joined in order (a lone space adds nothing, as it
            /// adds nothing to the speech).
            public var text = ""
            /// Text spoken, one entry per generation, in order.
            public var generations: [String] = []
            /// Buffered text that was never flushed and was thrown away by its close.
            public var discarded = ""
            /// Whether the client sent `flush: true` for it.
            public var flushed = false
            /// Whether the client closed it (`close_context`, or `close_socket` while it was open).
            public var closedByClient = false
            /// Whether its final message was sent.
            public var finalSent = false
            /// Audio messages sent for it.
            public var audioMessages = 0
            /// Audio messages sent for it after the client closed it: flushed audio still on its
            /// way, which a client that barged in must drop.
            public var audioMessagesAfterClose = 0
            /// Every audio byte sent for it, in order, in the output format.
            public var audio: [UInt8] = []
        }

        /// The voice id from the path.
        public var voiceID: String
        /// Query items in order.
        public var query: [(String, String)]
        /// Where the accepted key came from (nil when it was never accepted).
        public var keySource: KeySource?
        /// The client's text messages in order, with any key replaced by `<redacted>`.
        public var messages: [String] = []
        /// The contexts in order of creation.
        public var contexts: [Context] = []
        /// Rules the client broke that the fake tolerates (a text without a trailing space,
        /// changed settings, closing a context that is not open, …): tests expect none.
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

        /// The context ids in order of creation (an id used again appears again).
        public var contextIDs: [String] { contexts.map(\.id) }

        /// The latest context with id `id`.
        public func context(_ id: String) -> Context? {
            contexts.last { $0.id == id }
        }

        /// The first value of query item `name`.
        public func queryValue(_ name: String) -> String? {
            query.first { $0.0 == name }?.1
        }

        /// The messages parsed as JSON (nil for those that are not).
        public var json: [JSONValue?] { messages.map { JSONValue.parse($0) } }
    }

    /// The `multi-stream-input` connections so far, in the order they opened.
    public var multiStreamInput: [MultiStreamInputRecord] { records.withLock { $0.multiStreamInput } }

    /// How many `multi-stream-input` sockets have been opened so far.
    public var multiStreamInputCount: Int { records.withLock { $0.multiStreamInput.count } }

    /// Changes one multi-context connection's record.
    func updateMultiStreamInput(_ index: Int, _ change: (inout MultiStreamInputRecord) -> Void) {
        records.withLock { change(&$0.multiStreamInput[index]) }
    }

    /// Changes one context's record.
    func updateContext(_ index: Int, _ serial: Int, _ change: (inout MultiStreamInputRecord.Context) -> Void) {
        records.withLock { change(&$0.multiStreamInput[index].contexts[serial]) }
    }
}
