/// The `/v1/listen` query parameters the fake Deepgram acts on, checked as Deepgram checks them at
/// the handshake (docs/providers.md).
struct FakeDeepgramOptions: Sendable, Equatable {
    /// How the audio is encoded.
    enum Encoding: String, Sendable {
        case linear16, mulaw

        var bytesPerSample: Int { self == .linear16 ? 2 : 1 }
    }

    var model = "nova-3"
    var encoding = Encoding.linear16
    var sampleRate = 16000
    var interimResults = false
    /// Silence that ends an utterance with `speech_final`; nil when `endpointing=false`.
    var endpointing: Duration? = .milliseconds(10)
    var utteranceEnd: Duration?
    var vadEvents = false
    var punctuate = false

    /// Encodings Deepgram knows but the fake cannot decode.
    static let otherEncodings: Set<String> = [
        "linear32", "flac", "alaw", "amr-nb", "amr-wb", "opus", "ogg-opus", "speex", "g729",
    ]

    /// Reads and checks the query; the error is Deepgram-style text for an HTTP 400.
    static func parse(_ query: [(String, String)], validate: Bool) -> Result<FakeDeepgramOptions, FakeDeepgramError> {
        var options = FakeDeepgramOptions()
        func value(_ name: String) -> String? { query.last { $0.0 == name }?.1 }
        func flag(_ name: String) throws(FakeDeepgramError) -> Bool? {
            guard let text = value(name) else { return nil }
            switch text.lowercased() {
            case "true": return true
            case "false": return false
            default: throw .badRequest("Invalid query string. `\(name)` must be true or false, got `\(text)`.")
            }
        }
        do throws(FakeDeepgramError) {
            options.model = value("model") ?? options.model
            options.interimResults = try flag("interim_results") ?? false
            options.vadEvents = try flag("vad_events") ?? false
            // smart_format turns punctuation on unless punctuate says otherwise.
            let smartFormat = try flag("smart_format") ?? false
            let punctuate = try flag("punctuate")
            options.punctuate = punctuate ?? smartFormat
            _ = try flag("no_delay")
            switch value("endpointing")?.lowercased() {
            case nil, "true": options.endpointing = .milliseconds(10)
            case "false": options.endpointing = nil
            case let text?:
                guard let milliseconds = Int(text), milliseconds >= 0 else {
                    throw .badRequest("Invalid query string. `endpointing` must be an integer number of milliseconds or false.")
                }
                options.endpointing = .milliseconds(milliseconds)
            }
            if let text = value("utterance_end_ms") {
                guard let milliseconds = Int(text), milliseconds > 0 else {
                    throw .badRequest("Invalid query string. `utterance_end_ms` must be a positive integer.")
                }
                options.utteranceEnd = .milliseconds(milliseconds)
            }
            try readAudioFormat(value, validate: validate, into: &options)
            guard validate else { return .success(options) }
            if options.utteranceEnd != nil && !options.interimResults {
                throw .badRequest("Invalid query string. `utterance_end_ms` requires `interim_results=true`.")
            }
            if let utteranceEnd = options.utteranceEnd, utteranceEnd < .milliseconds(1000) {
                throw .badRequest("Invalid query string. `utterance_end_ms` must be at least 1000.")
            }
            if options.model.hasPrefix("nova-3"), value("keywords") != nil {
                throw .badRequest("Keywords are not supported for Nova-3. Use `keyterm` instead.")
            }
            if value("keyterm") != nil && !options.model.hasPrefix("nova-3") {
                throw .badRequest("`keyterm` is only supported for Nova-3 models.")
            }
            return .success(options)
        } catch {
            return .failure(error)
        }
    }

    /// Reads `encoding`, `sample_rate` and `channels`; without validation, what is missing or
    /// unknown is taken as 16 kHz linear16 mono.
    private static func readAudioFormat(
        _ value: (String) -> String?, validate: Bool, into options: inout FakeDeepgramOptions
    ) throws(FakeDeepgramError) {
        guard validate else {
            options.encoding = value("encoding").flatMap { Encoding(rawValue: $0.lowercased()) } ?? .linear16
            options.sampleRate = value("sample_rate").flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? 16000
            return
        }
        guard let encoding = value("encoding") else {
            // Raw audio has no header to detect the format from.
            throw .badRequest("Invalid query string. Raw audio requires `encoding` and `sample_rate`.")
        }
        guard let known = Encoding(rawValue: encoding.lowercased()) else {
            if otherEncodings.contains(encoding.lowercased()) {
                throw .badRequest("The fake Deepgram decodes only linear16 and mulaw (got `\(encoding)`).")
            }
            throw .badRequest("Invalid query string. Unknown `encoding` `\(encoding)`.")
        }
        options.encoding = known
        guard let rateText = value("sample_rate") else {
            throw .badRequest("Invalid query string. `sample_rate` is required when `encoding` is set.")
        }
        guard let rate = Int(rateText), (2000...192_000).contains(rate) else {
            throw .badRequest("Invalid query string. `sample_rate` must be an integer number of Hz.")
        }
        options.sampleRate = rate
        if let channels = value("channels"), channels != "1" {
            throw .badRequest("The fake Deepgram handles `channels=1` only (got `\(channels)`).")
        }
    }
}

/// Why the fake refused a handshake.
enum FakeDeepgramError: Error, Sendable, Equatable {
    /// HTTP 400 with Deepgram's reason.
    case badRequest(String)
}
