extension FakeElevenLabsServer {
    /// How the fake behaves: the key it accepts, the audio it makes, its latency and its faults.
    public struct Configuration: Sendable {
        /// The one API key the fake accepts.
        public var apiKey: String
        /// Voice ids that exist; others get `voice_not_found`.
        public var voiceIDs: Set<String>
        /// What a wrong or missing key gets on the WebSocket.
        public var badKeyResponse: BadKeyResponse
        /// Length of speech per character of text.
        public var durationPerCharacter: Duration
        /// Audio bytes per WebSocket message and per HTTP chunk; odd by default so that chunks end
        /// in the middle of a PCM16 sample and clients must carry the odd byte.
        public var audioChunkBytes: Int
        /// How the alignment's duration key is spelt.
        public var durationKey: DurationKey
        /// Overrides the `inactivity_timeout` query parameter (whole seconds, default 20), so tests
        /// can use a fraction of a second.
        public var inactivityTimeout: Duration?
        /// Buffered characters needed before `try_trigger_generation` makes audio.
        public var minimumTriggerCharacters: Int
        /// Wait before answering a WebSocket upgrade request.
        public var handshakeDelay: Duration
        /// Wait before the first audio (WebSocket) or the response head (HTTP).
        public var firstByteDelay: Duration
        /// Wait between audio messages or HTTP chunks.
        public var chunkPacing: Duration
        /// A failure to act out, if any.
        public var fault: Fault?
        /// Whether the audio sent is kept in the records (load tests turn it off: a reply's audio
        /// is tens of kilobytes, and a load test sends thousands).
        public var recordsAudio = true
        /// Random faults for connections and requests while ``fault`` is nil: `refuse` answers the
        /// upgrade or the request with a 5xx, `drop` drops the connection after the first audio,
        /// `stall` never sends audio (HTTP: the response head), `slow` sends it late.
        public var randomFaults: FakeRandomFaults?
        /// `multi-stream-input`: how many contexts one socket may hold at once (ElevenLabs allows
        /// 5); a context counts from its creation until its final message is sent.
        public var maximumContexts: Int
        /// `multi-stream-input`: how the final message's flag is spelt, so that client tests can
        /// check both spellings are understood.
        public var finalKey: FinalKey

        /// Creates a configuration.
        public init(
            apiKey: String = "fake-elevenlabs-key",
            voiceIDs: Set<String> = ["21m00Tcm4TlvDq8ikWAM", "JBFqnCBsd6RMkjVDRZzb", "EXAVITQu4vr4xnSDxMaL"],
            badKeyResponse: BadKeyResponse = .rejectUpgrade,
            durationPerCharacter: Duration = .milliseconds(10),
            audioChunkBytes: Int = 1001,
            durationKey: DurationKey = .charsDurationsMs,
            inactivityTimeout: Duration? = nil,
            minimumTriggerCharacters: Int = 20,
            handshakeDelay: Duration = .zero,
            firstByteDelay: Duration = .zero,
            chunkPacing: Duration = .zero,
            fault: Fault? = nil,
            maximumContexts: Int = 5,
            finalKey: FinalKey = .isFinal
        ) {
            self.apiKey = apiKey
            self.voiceIDs = voiceIDs
            self.badKeyResponse = badKeyResponse
            self.durationPerCharacter = durationPerCharacter
            self.audioChunkBytes = max(1, audioChunkBytes)
            self.durationKey = durationKey
            self.inactivityTimeout = inactivityTimeout
            self.minimumTriggerCharacters = minimumTriggerCharacters
            self.handshakeDelay = handshakeDelay
            self.firstByteDelay = firstByteDelay
            self.chunkPacing = chunkPacing
            self.fault = fault
            self.maximumContexts = max(1, maximumContexts)
            self.finalKey = finalKey
        }
    }

    /// What the WebSocket does with a wrong or missing API key.
    public enum BadKeyResponse: Sendable, Equatable {
        /// Refuse the upgrade with HTTP 401 (a key in the header or query is checked at once; a
        /// key expected in the first message is checked then, with an error and close 1008).
        case rejectUpgrade
        /// Accept the upgrade, then answer the first message with an `invalid_api_key` error and close 1008.
        case errorThenClose
    }

    /// The spelling of the alignment's duration array (docs/providers.md: sources differ).
    public enum DurationKey: String, Sendable {
        /// The AsyncAPI spec's spelling, the default.
        case charsDurationsMs
        /// The Python SDK's spelling.
        case charDurationsMs
    }

    /// The spelling of the final message's flag on `multi-stream-input` (sources differ).
    public enum FinalKey: String, Sendable {
        /// `{"isFinal":true,"contextId":…}`, as ElevenLabs' examples and `stream-input` spell it; the default.
        case isFinal
        /// `{"is_final":true,"contextId":…}`, as the AsyncAPI spec spells it.
        case is_final
    }

    /// A failure the fake acts out.
    public enum Fault: Sendable, Equatable {
        /// Refuse every WebSocket upgrade and HTTP request with this status and body.
        case reject(status: Int, body: String)
        /// WebSocket: close with this code and reason right after the first audio message.
        case closeAfterFirstAudio(code: Int, reason: String)
        /// Drop the TCP connection without a close frame right after the first audio message
        /// (WebSocket) or the first body chunk (HTTP).
        case dropAfterFirstAudio
        /// Never send audio (WebSocket) or the response head (HTTP), while still reading.
        case stallFirstByte
        /// WebSocket: send a message that is not JSON instead of the first audio.
        case nonJSONMessage
        /// WebSocket: send an audio message whose `audio` is not base64 instead of the first audio.
        case audioNotBase64
        /// WebSocket: answer the first text after the initialize message with this error and close 1008.
        case errorMessage(error: String, message: String)
        /// HTTP: 401 `quota_exceeded`.
        case quotaExceeded
        /// HTTP: 429 `too_many_concurrent_requests`.
        case tooManyConcurrentRequests
    }
}
