import ParleyCore
import ParleyProviders

/// One Pulse live-transcription connection of ``FakeSmallestServer``: an audio clock from the
/// bytes, speech found by energy in 20 ms windows, and for each utterance the script's next line
/// as interim transcripts, then a final after the endpointing silence; `finalize` and
/// `close_stream` as Pulse answers them (docs/providers.md).
struct FakeSmallestPulse: Sendable {
    /// The query as the fake reads it.
    struct Options: Sendable {
        struct Failure: Error { var message: String }
        enum Encoding: String, Sendable { case linear16, mulaw }

        var language: String
        var encoding: Encoding
        var sampleRate: Int
        var endpointing = true
        var endOfUtteranceTimeoutMilliseconds = 800
        var vadEvents = false

        static func parse(_ query: [(String, String)]) -> Result<Self, Failure> {
            func value(_ name: String) -> String? { query.last { $0.0 == name }?.1 }
            guard let model = value("model") else { return .failure(Failure(message: "model is required")) }
            guard model == "pulse" else {
                return .failure(Failure(message: "model \(model.prefix(40)) does not stream; use pulse (pulse-pro is HTTP only)"))
            }
            guard let language = value("language"), !language.isEmpty else { return .failure(Failure(message: "language is required")) }
            let encodingName = value("encoding") ?? "linear16"
            guard ["linear16", "linear32", "alaw", "mulaw", "opus", "ogg_opus"].contains(encodingName) else {
                return .failure(Failure(message: "unsupported encoding \(encodingName.prefix(40))"))
            }
            guard let encoding = Encoding(rawValue: encodingName) else {
                return .failure(Failure(message: "the fake decodes only linear16 and mulaw, not \(encodingName.prefix(40))"))
            }
            let rate = Int(value("sample_rate") ?? "16000") ?? 0
            guard [8000, 16000, 22050, 24000, 44100, 48000].contains(rate) else {
                return .failure(Failure(message: "unsupported sample_rate \(value("sample_rate")?.prefix(20) ?? "")"))
            }
            var options = Options(language: language, encoding: encoding, sampleRate: rate)
            options.endpointing = value("endpointing") != "false"
            options.vadEvents = value("vad_events") == "true" || value("vad") == "true"
            if let text = value("eou_timeout_ms") {
                guard let milliseconds = Int(text), (100...10000).contains(milliseconds) else {
                    return .failure(Failure(message: "eou_timeout_ms must be 100-10000, got \(text.prefix(20))"))
                }
                options.endOfUtteranceTimeoutMilliseconds = milliseconds
            }
            return .success(options)
        }
    }

    let index: Int
    let options: Options
    let configuration: FakeSmallestServer.Configuration
    let fault: FakeSmallestServer.Fault?
    let log: FakeSmallestLog

    func run(_ socket: FakeWebSocket) async throws {
        var state = State(connection: self, socket: socket)
        try await state.run()
    }

    struct State {
        let connection: FakeSmallestPulse
        let socket: FakeWebSocket
        let sessionID = "fake-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        var position = 0
        var assembler = PCM16Assembler()
        var window: [Int16] = []
        var words: [String]?
        var utteranceStart = 0
        var voicedSamples = 0
        var lastVoicedEnd = 0
        var nextInterim = 0
        var lastInterim = ""
        var messagesSent = 0
        var over = false

        init(connection: FakeSmallestPulse, socket: FakeWebSocket) {
            self.connection = connection
            self.socket = socket
        }

        var options: Options { connection.options }
        var windowSamples: Int { max(1, options.sampleRate / 50) }

        mutating func run() async throws {
            if connection.fault == .concurrencyClose {
                over = true
                connection.log.update(connection.index) { $0.serverClose = (1008, "too many concurrent sessions") }
                return await socket.closeAwaitingReply(code: 1008, reason: "too many concurrent sessions")
            }
            for try await message in socket.messages {
                switch message {
                case .binary(let bytes):
                    connection.log.update(connection.index) { $0.audioBytes += bytes.count }
                    for sample in decode(bytes) { try await hear(sample) }
                case .text(let text):
                    let json = JSONValue.parse(text)
                    connection.log.received(connection.index, json)
                    switch json?["type"]?.stringValue {
                    case "finalize":
                        try await send(final(fromFinalize: true, last: false))
                    case "close_stream":
                        try await send(final(fromFinalize: false, last: true))
                        await close(1000, "")
                    default:
                        try await send(["type": "error", "status": "error", "message": "Unrecognized control message"])
                    }
                case .closed:
                    return
                }
                if over { return }
            }
        }

        private mutating func hear(_ sample: Int16) async throws {
            window.append(sample)
            position += 1
            guard window.count == windowSamples else { return }
            let voiced = EnergyVoiceActivityDetector.decibels(PCM.rms(window)) >= connection.configuration.speechThreshold
            window.removeAll(keepingCapacity: true)
            if voiced {
                if words == nil {
                    words = connection.log.currentUtterance().split(whereSeparator: \.isWhitespace).map(String.init)
                    utteranceStart = position - windowSamples
                    voicedSamples = 0
                    nextInterim = position + samples(connection.configuration.interimInterval)
                    if options.vadEvents {
                        try await send(["type": "speech_started", "session_id": .string(sessionID), "timestamp": .number(seconds(utteranceStart))])
                    }
                }
                voicedSamples += windowSamples
                lastVoicedEnd = position
            } else if words != nil {
                let ceiling = options.endOfUtteranceTimeoutMilliseconds * options.sampleRate / 1000
                let needed = options.endpointing ? min(samples(connection.configuration.endpointingSilence), ceiling) : ceiling
                if position - lastVoicedEnd >= needed {
                    try await send(final(fromFinalize: false, last: false))
                    if options.vadEvents {
                        try await send(["type": "speech_ended", "session_id": .string(sessionID), "timestamp": .number(seconds(lastVoicedEnd))])
                    }
                    return
                }
            }
            guard let words, position >= nextInterim else { return }
            nextInterim += samples(connection.configuration.interimInterval)
            let count = min(words.count, voicedSamples / max(1, samples(connection.configuration.wordDuration)))
            let text = words.prefix(count).joined(separator: " ")
            guard !text.isEmpty, text != lastInterim else { return }
            lastInterim = text
            try await send(transcription(text, final: false))
        }

        /// The final for the utterance in progress (empty when none), ending it.
        private mutating func final(fromFinalize: Bool, last: Bool) -> JSONValue {
            let text = words?.joined(separator: " ") ?? ""
            if words != nil { connection.log.utteranceFinal() }
            words = nil
            lastInterim = ""
            var message = transcription(text, final: true)
            if fromFinalize { message = message.setting("from_finalize", true) }
            return message.setting("is_last", .bool(last))
        }

        private func transcription(_ text: String, final: Bool) -> JSONValue {
            [
                "type": "transcription", "status": "success", "transcription": .string(text), "transcript": .string(text),
                "is_final": .bool(final), "is_last": false, "session_id": .string(sessionID), "language": .string(options.language),
            ]
        }

        private mutating func send(_ message: JSONValue) async throws {
            guard !over, connection.fault != .stall else { return }
            if case .dropAfterMessages(let count) = connection.fault, messagesSent >= count {
                return await close(nil, "dropped")
            }
            if case .errorAfterMessages(let count, let text) = connection.fault, messagesSent >= count {
                let error: JSONValue = ["type": "error", "status": "error", "message": .string(text)]
                connection.log.sent(connection.index, error.serialized)
                try? await socket.send(text: error.serialized)
                return await close(1011, "internal error")
            }
            messagesSent += 1
            connection.log.sent(connection.index, message.serialized)
            try await socket.send(text: message.serialized)
        }

        private mutating func close(_ code: Int?, _ reason: String) async {
            guard !over else { return }
            over = true
            connection.log.update(connection.index) { $0.serverClose = (code, reason) }
            if let code { try? await socket.close(code: code, reason: reason) } else { socket.abort() }
        }

        private func samples(_ duration: Duration) -> Int { Int((duration.seconds * Double(options.sampleRate)).rounded()) }

        private func seconds(_ position: Int) -> Double { (Double(position) / Double(options.sampleRate) * 1000).rounded() / 1000 }

        private mutating func decode(_ bytes: [UInt8]) -> [Int16] {
            // A sample split across two messages is completed by the next one.
            options.encoding == .mulaw ? MuLaw.decode(bytes) : assembler.push(bytes)
        }
    }
}
