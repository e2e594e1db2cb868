import Foundation
public import ParleyCore

/// Where ElevenLabs lives, which voice and model speak, and how the connection is kept healthy
/// (docs/providers.md); shared by ``ElevenLabsTextToSpeech`` and ``ElevenLabsHTTPTextToSpeech``.
public struct ElevenLabsConfiguration: Sendable {
    /// The premade voice "Rachel" (docs/providers.md).
    public static let defaultVoiceID = "21m00Tcm4TlvDq8ikWAM"
    /// The PCM rates ElevenLabs can send, in Hz (`pcm_8000` … `pcm_44100`).
    public static let supportedSampleRates = [8000, 16000, 22050, 24000, 44100]

    /// The API base URL, such as `https://api.elevenlabs.io` or a regional host; the WebSocket
    /// uses the matching scheme (`https` → `wss`, `http` → `ws`), so a local gateway or fake works.
    public var baseURL: String
    /// The API key, sent in the `xi-api-key` header. Never logged or put in an error.
    public var apiKey: String
    /// The voice id.
    public var voiceID: String
    /// The model id; `eleven_flash_v2_5` is the lowest-latency model.
    public var modelID: String
    /// How the voice sounds.
    public var voiceSettings: ElevenLabsVoiceSettings
    /// Characters ElevenLabs buffers before each successive generation (WebSocket only), each
    /// 50…500. Parley flushes at every sentence, so this only matters inside long sentences.
    public var chunkLengthSchedule: [Int]
    /// How long ElevenLabs waits for text before closing the WebSocket (whole seconds, 1…180;
    /// ElevenLabs' default is 20 s). Parley sends a keep-alive before it runs out.
    public var inactivityTimeout: Duration
    /// How long to wait for the connection (TCP, TLS and WebSocket upgrade, or the HTTP response head).
    public var connectTimeout: Duration
    /// How long to wait for the first audio after asking for speech before giving up.
    public var responseTimeout: Duration
    /// Where connection attempts are recorded, for `/health`.
    public var health: ConnectionHealth
    /// The clock the keep-alive and the stall watchdog run on.
    public var clock: SessionClock

    /// Creates a configuration.
    public init(
        apiKey: String,
        baseURL: String = "https://api.elevenlabs.io",
        voiceID: String = ElevenLabsConfiguration.defaultVoiceID,
        modelID: String = "eleven_flash_v2_5",
        voiceSettings: ElevenLabsVoiceSettings = ElevenLabsVoiceSettings(),
        chunkLengthSchedule: [Int] = [50],
        inactivityTimeout: Duration = .seconds(20),
        connectTimeout: Duration = .seconds(10),
        responseTimeout: Duration = .seconds(10),
        health: ConnectionHealth = ConnectionHealth(),
        clock: some Clock<Duration> = ContinuousClock()
    ) {
        self.clock = .erasing(clock)
        self.apiKey = apiKey
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.voiceID = voiceID
        self.modelID = modelID
        self.voiceSettings = voiceSettings
        self.chunkLengthSchedule = chunkLengthSchedule
        self.inactivityTimeout = inactivityTimeout
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.health = health
    }

    /// The rate ElevenLabs is asked for when `requested` Hz is wanted: `requested` itself when
    /// ElevenLabs offers it, else the next offered rate above it, at most 44 100 Hz.
    public static func outputSampleRate(for requested: Int) -> Int {
        supportedSampleRates.first { $0 >= requested } ?? supportedSampleRates[supportedSampleRates.count - 1]
    }

    /// `inactivity_timeout` in whole seconds, as ElevenLabs takes it.
    var inactivityTimeoutSeconds: Int {
        let seconds = Int(inactivityTimeout.components.seconds) + (inactivityTimeout.components.attoseconds > 0 ? 1 : 0)
        return min(max(seconds, 1), 180)
    }

    /// How long the WebSocket may be silent before a keep-alive is sent: five seconds inside
    /// the inactivity timeout, or half of it when it is short.
    var keepAliveInterval: Duration {
        let timeout = Duration.seconds(inactivityTimeoutSeconds)
        return timeout > .seconds(10) ? timeout - .seconds(5) : timeout / 2
    }

    /// The voice id as a URL path segment: the session's (``ProviderContext/voice``), else the configured one.
    var escapedVoiceID: String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove("/")
        let voice = ProviderContext.voice ?? voiceID
        return voice.addingPercentEncoding(withAllowedCharacters: allowed) ?? voice
    }

    /// The `stream-input` WebSocket URL for PCM at `sampleRate` Hz.
    func streamInputURL(sampleRate: Int) -> String {
        "\(ProviderURL.webSocket(baseURL))/v1/text-to-speech/\(escapedVoiceID)/stream-input?model_id=\(queryEscaped(modelID))"
            + "&output_format=pcm_\(sampleRate)&sync_alignment=true&inactivity_timeout=\(inactivityTimeoutSeconds)"
    }

    /// The `multi-stream-input` WebSocket URL for PCM at `sampleRate` Hz (same parameters).
    func multiStreamInputURL(sampleRate: Int) -> String {
        "\(ProviderURL.webSocket(baseURL))/v1/text-to-speech/\(escapedVoiceID)/multi-stream-input?model_id=\(queryEscaped(modelID))"
            + "&output_format=pcm_\(sampleRate)&sync_alignment=true&inactivity_timeout=\(inactivityTimeoutSeconds)"
    }

    /// A socket's or a context's first message: one space, the voice settings and the chunk
    /// schedule (allowed only there), and on the multi-context socket the context's id.
    func initializeMessage(context id: String?) -> String {
        var members: [String: JSONValue] = [
            "text": " ",
            "voice_settings": voiceSettings.json,
            "generation_config": ["chunk_length_schedule": .array(chunkLengthSchedule.map { .number(Double($0)) })],
        ]
        if let id { members["context_id"] = .string(id) }
        return JSONValue.object(members).serialized
    }

    /// The HTTP streaming URL for PCM at `sampleRate` Hz.
    func streamURL(sampleRate: Int) -> String {
        "\(baseURL)/v1/text-to-speech/\(escapedVoiceID)/stream?output_format=pcm_\(sampleRate)"
    }

    /// The scheme, host and port of the base URL (no path, no credentials), for messages.
    var host: String { ProviderURL.origin(of: baseURL, defaultScheme: "https") ?? "the configured base URL" }

    private func queryEscaped(_ value: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
