import Foundation
import ParleyCore

extension FakeOpenAISpeechServer {
    /// An output format of `/audio/speech`.
    enum AudioFormat: String, CaseIterable {
        case mp3, opus, aac, flac, wav, pcm
    }

    /// A speech request whose body passed the checks.
    struct Speech {
        var model: String
        var input: String
        var instructions: String
        var format: AudioFormat
        var speed: Double
        var sse: Bool

        static let maximumLength = 4096
        static let speeds = 0.25...4.0
        /// Models that take neither `instructions` nor SSE.
        static let classicModels: Set<String> = ["tts-1", "tts-1-hd"]

        /// Checks `body` as the configured server would, throwing the first problem found.
        init(_ body: JSONValue?, configuration: Configuration) throws(Refusal) {
            guard let body, case .object(let fields) = body else { throw .invalidJSON }
            let openAI = configuration.errorShape == .openAI
            func string(_ name: String) throws(Refusal) -> String? {
                guard let value = fields[name], value != .null else { return nil }
                guard let text = value.stringValue else { throw .wrongType(name, value: value, expected: "string") }
                return text
            }
            // Kokoro-FastAPI validates the whole model (422) before its own checks (400).
            guard let input = try string("input") else { throw .missing("input") }
            let model = try string("model")
            guard model != nil || !openAI else { throw .missing("model") }
            let voice = fields["voice"].flatMap { $0 == .null ? nil : $0 }
            guard voice != nil || !openAI else { throw .missing("voice") }
            if let voice, voice.stringValue == nil, !(openAI && voice["id"]?.stringValue != nil) {
                throw .wrongType("voice", value: voice, expected: openAI ? "string or object with an id" : "string")
            }
            let formatName = try string("response_format") ?? AudioFormat.mp3.rawValue
            guard let format = AudioFormat(rawValue: formatName) else {
                throw .invalidValue("response_format", value: formatName, allowed: AudioFormat.allCases.map(\.rawValue))
            }
            var speed = 1.0
            if let value = fields["speed"], value != .null {
                guard let number = value.doubleValue else { throw .wrongType("speed", value: value, expected: "number") }
                guard Self.speeds.contains(number) else { throw .outOfRange("speed", value: number, range: Self.speeds) }
                speed = number
            }
            // A local server ignores what it does not know, `instructions` and `stream_format` included.
            var instructions = ""
            var streamFormat = "audio"
            if openAI {
                instructions = try string("instructions") ?? ""
                streamFormat = try string("stream_format") ?? "audio"
                guard streamFormat == "audio" || streamFormat == "sse" else {
                    throw .invalidValue("stream_format", value: streamFormat, allowed: ["audio", "sse"])
                }
                // Python counts code points.
                guard !input.isEmpty else { throw .tooShort("input") }
                guard input.unicodeScalars.count <= Self.maximumLength else { throw .tooLong("input", maximum: Self.maximumLength) }
                guard instructions.unicodeScalars.count <= Self.maximumLength else {
                    throw .tooLong("instructions", maximum: Self.maximumLength)
                }
            }
            let modelName = model ?? "kokoro"
            guard configuration.models.isEmpty || configuration.models.contains(modelName) else { throw .unknownModel(modelName) }
            try Self.check(voice: voice, configuration: configuration)
            if openAI, Self.classicModels.contains(modelName) {
                guard instructions.isEmpty else {
                    throw .unsupported("instructions", message: "Instructions are not supported for the model \(modelName).")
                }
                guard streamFormat == "audio" else {
                    throw .unsupported("stream_format", message: "Streaming format 'sse' is not supported for the model \(modelName).")
                }
            }
            self.model = modelName
            self.input = input
            self.instructions = instructions
            self.format = format
            self.speed = speed
            self.sse = streamFormat == "sse"
        }

        /// A named voice must be configured; OpenAI takes a custom voice object, Kokoro a
        /// combination `a+b` or `a(2)+b(1)`, each part configured.
        static func check(voice: JSONValue?, configuration: Configuration) throws(Refusal) {
            guard let name = voice?.stringValue else { return }
            let available = configuration.voices.sorted()
            guard configuration.errorShape == .kokoro else {
                guard configuration.voices.contains(name) else { throw .unknownVoice(name, available: available) }
                return
            }
            for part in name.replacingOccurrences(of: " ", with: "").split(separator: "+", omittingEmptySubsequences: false) {
                let voice = String(part.prefix { $0 != "(" })
                guard configuration.voices.contains(voice) else { throw .unknownVoice(voice, available: available) }
            }
        }
    }

    static func handle(_ request: FakeRequest, _ response: FakeResponseWriter, configuration: Configuration, log: Log) async throws {
        let shape = configuration.errorShape
        let headers = shape == .openAI ? FakeOpenAIServer.rateLimitHeaders() : []
        if configuration.headDelay > .zero { try await FakeClock.sleep(for: configuration.headDelay) }
        guard request.path == "/v1/audio/speech" else {
            return try await Refusal.notFound(method: request.method, path: request.path).send(shape, to: response, headers: headers)
        }
        guard request.method == "POST" else {
            return try await Refusal.methodNotAllowed(method: request.method, path: request.path).send(shape, to: response, headers: headers)
        }
        let authorized = configuration.apiKey.map { request.header("authorization") == "Bearer \($0)" } ?? true
        let json = JSONValue.parse(request.text)
        let index = log.record(request, authorized: authorized, json: json)
        guard authorized else {
            let refusal = Refusal.unauthorized(missing: request.header("authorization") == nil)
            return try await refusal.send(shape, to: response, headers: headers)
        }
        let speech: Speech
        do {
            speech = try Speech(json, configuration: configuration)
        } catch {
            return try await error.send(shape, to: response, headers: headers, body: json)
        }
        var fault = log.nextFault()
        var dropAt: Double?
        switch fault == nil ? log.dice.draw() : nil {
        case .refuse(let status)?:
            log.dice.acted(.refuse)
            fault = .status(status)
        case .stall(let limit)?:
            log.dice.acted(.stall)
            return await response.stall(upTo: limit)
        case .slow(let delay)?:
            log.dice.acted(.slow)
            try await FakeClock.sleep(for: delay)
        case .drop(let at)?:
            dropAt = at
        case nil:
            break
        }
        switch fault {
        case .status(let status, let retryAfter, let retryAfterMilliseconds)?:
            var extra = headers
            if let retryAfter { extra.append(("retry-after", retryAfter)) }
            if let retryAfterMilliseconds { extra.append(("retry-after-ms", retryAfterMilliseconds)) }
            return try await Refusal.status(status).send(shape, to: response, headers: extra)
        case .stall?:
            return await response.stall(upTo: configuration.stallLimit)
        case .slowHead(let delay)?:
            try await FakeClock.sleep(for: delay)
        case .dropAfter?, nil:
            break
        }
        let body = SpeechBody(speech, request: index, configuration: configuration)
        var dropAfter: Int?
        if case .dropAfter(let bytes)? = fault { dropAfter = bytes }
        if let dropAt { dropAfter = Int(dropAt * Double(body.audioBytes)) }
        // A drop is counted before the connection goes, so a client that sees it end sees it counted.
        let outcome = try await body.stream(to: response, headers: headers, dropAfter: dropAfter) {
            if dropAt != nil { log.dice.acted(.drop) }
        }
        switch outcome {
        case .completed: log.completed.withLock { $0 += 1 }
        case .abandoned: log.abandoned.withLock { $0 += 1 }
        case .dropped: break
        }
    }
}
