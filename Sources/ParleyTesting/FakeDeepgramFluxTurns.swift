import ParleyCore
import ParleyProviders

/// What the fake Flux "hears" on one connection: it keeps the audio clock, finds speech by energy
/// in 20 ms windows, and plays Flux's turn state machine (docs/providers.md) with the script's
/// next turn. Everything follows the audio clock (samples received), never wall time.
struct FakeDeepgramFluxTurns {
    enum State { case idle, ongoing, awaitingEnd }

    var options: FakeDeepgramFluxOptions
    let configuration: FakeDeepgramFluxServer.Configuration
    let log: FakeDeepgramFluxLog
    let requestID: String

    private(set) var state = State.idle
    /// Turns ended on this connection.
    private(set) var turnsEnded = 0
    /// Samples received so far (the audio clock).
    private(set) var position = 0
    private var assembler = PCM16Assembler()
    private var window: [Int16] = []
    private let windowSamples: Int
    private var words: [String] = []
    private var turnStart = 0
    private var voicedSamples = 0
    private var lastVoicedEnd = 0
    private var nextUpdate = 0

    init(options: FakeDeepgramFluxOptions, configuration: FakeDeepgramFluxServer.Configuration, log: FakeDeepgramFluxLog, requestID: String) {
        self.options = options
        self.configuration = configuration
        self.log = log
        self.requestID = requestID
        windowSamples = max(1, options.sampleRate / 50)
    }

    /// Seconds of audio received.
    var seconds: Double { Double(position) / Double(options.sampleRate) }

    /// Takes one binary message of audio and returns the messages Flux would send for it.
    mutating func receive(audio bytes: [UInt8]) -> [JSONValue] {
        var messages: [JSONValue] = []
        for sample in decode(bytes) {
            window.append(sample)
            position += 1
            if window.count == windowSamples {
                let voiced = EnergyVoiceActivityDetector.decibels(PCM.rms(window)) >= configuration.speechThreshold
                window.removeAll(keepingCapacity: true)
                analyse(voiced: voiced, into: &messages)
            }
        }
        return messages
    }

    /// Answers `ForceEndTurn`: `EndOfTurn` with `trigger:"manual"`, or a `Warning` when no turn is open.
    mutating func forceEndTurn() -> [JSONValue] {
        guard state != .idle else {
            return [
                [
                    "type": "Warning", "request_id": .string(requestID), "code": "FORCE_END_TURN_NO_ACTIVE_TURN",
                    "description": "ForceEndTurn was received with no active turn.",
                ]
            ]
        }
        return [endTurn(trigger: "manual")]
    }

    /// Answers `CloseStream`: an `Update` for the open turn's audio, never an `EndOfTurn`.
    func closeStream() -> [JSONValue] {
        state == .idle ? [] : [turnInfo("Update", transcript: revealed)]
    }

    private mutating func analyse(voiced: Bool, into messages: inout [JSONValue]) {
        let end = position
        var changed = false
        if voiced {
            switch state {
            case .idle:
                words = log.currentTurn().split(whereSeparator: \.isWhitespace).map(String.init)
                turnStart = end - windowSamples
                voicedSamples = 0
                nextUpdate = end + samples(configuration.updateInterval)
                state = .ongoing
                messages.append(turnInfo("StartOfTurn", transcript: ""))
                changed = true
            case .awaitingEnd:
                state = .ongoing
                messages.append(turnInfo("TurnResumed", transcript: revealed))
                changed = true
            case .ongoing:
                break
            }
            voicedSamples += windowSamples
            lastVoicedEnd = end
        } else if state != .idle {
            let silence = end - lastVoicedEnd
            if options.modelEndsTurns, silence >= samples(configuration.endSilence) {
                messages.append(endTurn(trigger: "model"))
                return
            }
            if silence >= options.endOfTurnTimeoutMilliseconds * options.sampleRate / 1000 {
                messages.append(endTurn(trigger: "timeout"))
                return
            }
            if state == .ongoing, options.eagerEndOfTurnThreshold != nil, !words.isEmpty, silence >= samples(configuration.eagerSilence) {
                state = .awaitingEnd
                messages.append(turnInfo("EagerEndOfTurn", transcript: full))
                changed = true
            }
        }
        guard state != .idle, end >= nextUpdate else { return }
        nextUpdate += samples(configuration.updateInterval)
        // About every 0.25 s of audio, unless the state changed in this window.
        if !changed { messages.append(turnInfo("Update", transcript: state == .awaitingEnd ? full : revealed)) }
    }

    private mutating func endTurn(trigger: String) -> JSONValue {
        let message = turnInfo("EndOfTurn", transcript: full).setting("trigger", .string(trigger))
        state = .idle
        turnsEnded += 1
        log.turnEnded()
        return message
    }

    /// The words spoken so far, one per ``FakeDeepgramFluxServer/Configuration/wordDuration`` of speech.
    private var revealed: String {
        let count = min(words.count, voicedSamples / max(1, samples(configuration.wordDuration)))
        return words.prefix(count).joined(separator: " ")
    }

    /// The turn's whole transcript (what the eager and final events carry).
    private var full: String { words.joined(separator: " ") }

    private func turnInfo(_ event: String, transcript: String) -> JSONValue {
        let confidence: Double
        switch event {
        case "EndOfTurn": confidence = min(1, options.endOfTurnThreshold + 0.05)
        case "EagerEndOfTurn": confidence = (options.eagerEndOfTurnThreshold ?? 0.5) + 0.05
        default: confidence = 0.05
        }
        let spoken = transcript.split(separator: " ").map { word -> JSONValue in ["word": .string(String(word)), "confidence": 0.95] }
        return [
            "type": "TurnInfo", "request_id": .string(requestID), "event": .string(event), "turn_index": .number(Double(turnsEnded)),
            "audio_window_start": .number(time(turnStart)), "audio_window_end": .number(time(position)), "transcript": .string(transcript),
            "words": .array(spoken), "end_of_turn_confidence": .number((confidence * 1000).rounded() / 1000),
        ]
    }

    private func samples(_ duration: Duration) -> Int {
        Int((duration.seconds * Double(options.sampleRate)).rounded())
    }

    private func time(_ position: Int) -> Double {
        (Double(position) / Double(options.sampleRate) * 1000).rounded() / 1000
    }

    private mutating func decode(_ bytes: [UInt8]) -> [Int16] {
        // A sample split across two messages is completed by the next one.
        options.encoding == .mulaw ? MuLaw.decode(bytes) : assembler.push(bytes)
    }
}

extension JSONValue {
    /// This object with `key` set to `value` (unchanged when it is not an object).
    func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var fields) = self else { return self }
        fields[key] = value
        return .object(fields)
    }
}
