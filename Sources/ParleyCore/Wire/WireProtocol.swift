/// Encoding and decoding of wire protocol v1 (`docs/protocol.md`).
///
/// Pure functions over strings and bytes, shared by the server and `parley talk`.
public enum WireProtocol {
    /// The protocol version this code speaks.
    public static let version = 1
    /// Largest binary (audio) frame accepted without an error: one second of 16 kHz PCM16.
    public static let maxAudioFrameBytes = 32000
    /// Largest text frame accepted without an error.
    public static let maxTextFrameBytes = 16384
    /// Largest frame the WebSocket layer reads at all; bigger frames close the connection (1009).
    public static let maxFrameBytes = 1 << 20

    // MARK: Client → server

    /// Decodes a binary frame of PCM16LE audio.
    public static func decodeAudio(_ bytes: UnsafeRawBufferPointer) throws(SessionError) -> [Int16] {
        guard bytes.count <= maxAudioFrameBytes else {
            throw SessionError(
                .frameTooLarge,
                "Binary frame of \(bytes.count) bytes is over the \(maxAudioFrameBytes)-byte limit; send 20 ms frames.")
        }
        guard bytes.count % 2 == 0 else {
            throw SessionError(
                .badAudioFrame,
                "Binary frame of \(bytes.count) bytes is not a whole number of 16-bit samples.")
        }
        return PCM.samples(fromLittleEndian: bytes)
    }

    /// Decodes a client text frame.
    public static func decodeClientText(_ text: String) throws(SessionError) -> ClientMessage {
        guard text.utf8.count <= maxTextFrameBytes else {
            throw SessionError(
                .frameTooLarge,
                "Text frame of \(text.utf8.count) bytes is over the \(maxTextFrameBytes)-byte limit.")
        }
        guard let value = JSONValue.parse(text), case .object = value else {
            throw SessionError(.invalidJSON, "Text frame is not a JSON object.")
        }
        guard let type = value["type"]?.stringValue else {
            throw SessionError(.invalidJSON, "JSON event has no string \"type\" field.")
        }
        switch type {
        case "playback.progress", "playback.cleared":
            let turnID = try requireInt(value, "turn_id", in: type, minimum: 0)
            let played = try requireInt(value, "played_samples", in: type, minimum: 0)
            return type == "playback.progress"
                ? .playbackProgress(turnID: turnID, playedSamples: played)
                : .playbackCleared(turnID: turnID, playedSamples: played)
        case "ping":
            return .ping(value["id"] ?? .null)
        default:
            throw SessionError(.unknownEvent, "Unknown event type \"\(type.prefix(64))\" for protocol \(version).")
        }
    }

    private static func requireInt(
        _ value: JSONValue, _ key: String, in type: String, minimum: Int
    ) throws(SessionError) -> Int {
        guard let number = value[key]?.intValue, number >= minimum else {
            throw SessionError(.invalidEvent, "\"\(type)\" needs an integer \"\(key)\" ≥ \(minimum).")
        }
        return number
    }

    /// Encodes a client message as JSON text (audio has no text form and returns nil).
    public static func encode(_ message: ClientMessage) -> String? {
        switch message {
        case .audio:
            return nil
        case .playbackProgress(let turnID, let played):
            return JSONValue.object([
                "type": "playback.progress", "turn_id": .number(Double(turnID)),
                "played_samples": .number(Double(played)),
            ]).serialized
        case .playbackCleared(let turnID, let played):
            return JSONValue.object([
                "type": "playback.cleared", "turn_id": .number(Double(turnID)),
                "played_samples": .number(Double(played)),
            ]).serialized
        case .ping(let id):
            return JSONValue.object(["type": "ping", "id": id]).serialized
        }
    }

    // MARK: Server → client

    /// Encodes an event as JSON text; audio frames are binary and return nil.
    public static func encode(_ event: SessionEvent) -> String? {
        json(for: event)?.serialized
    }

    /// The JSON form of an event; nil for audio frames.
    public static func json(for event: SessionEvent) -> JSONValue? {
        switch event {
        case .ready(let description):
            let input: JSONValue = [
                "encoding": "pcm_s16le", "sample_rate": .number(Double(description.inputSampleRate)),
                "channels": 1, "frame_ms": 20,
            ]
            let output: JSONValue = [
                "encoding": "pcm_s16le", "sample_rate": .number(Double(description.outputSampleRate)),
                "channels": 1, "frame_ms": 20,
            ]
            return [
                "type": "session.ready",
                "protocol": .number(Double(description.protocolVersion)),
                "session_id": .string(description.sessionID),
                "input": input,
                "output": output,
                "providers": .object(description.providers.mapValues { .string($0) }),
                "limits": [
                    "max_audio_frame_bytes": .number(Double(description.maxAudioFrameBytes)),
                    "max_text_frame_bytes": .number(Double(description.maxTextFrameBytes)),
                ],
            ]
        case .speechStarted:
            return ["type": "speech.started"]
        case .speechStopped:
            return ["type": "speech.stopped"]
        case .transcriptPartial(let text):
            return ["type": "transcript.partial", "text": .string(text)]
        case .transcriptFinal(let turnID, let text):
            return ["type": "transcript.final", "turn_id": .number(Double(turnID)), "text": .string(text)]
        case .agentText(let turnID, let delta):
            return ["type": "agent.text", "turn_id": .number(Double(turnID)), "delta": .string(delta)]
        case .agentAudioStart(let turnID, let rate):
            return ["type": "agent.audio.start", "turn_id": .number(Double(turnID)), "sample_rate": .number(Double(rate))]
        case .agentAudio:
            return nil
        case .agentAudioEnd(let turnID, let samples):
            return ["type": "agent.audio.end", "turn_id": .number(Double(turnID)), "samples": .number(Double(samples))]
        case .agentPaused(let turnID):
            return ["type": "agent.paused", "turn_id": .number(Double(turnID))]
        case .agentResumed(let turnID):
            return ["type": "agent.resumed", "turn_id": .number(Double(turnID))]
        case .agentInterrupted(let turnID):
            return ["type": "agent.interrupted", "turn_id": .number(Double(turnID))]
        case .turnEnd(let summary):
            let rounded = summary.timeline.roundedToTenthMillisecond
            func milliseconds(_ duration: Duration) -> JSONValue { .number((duration.milliseconds * 10).rounded() / 10) }
            var timeline: [String: JSONValue] = [:]
            for stage in TurnTimeline.Stage.allCases {
                timeline[stage.rawValue] = rounded[stage].map(milliseconds) ?? .null
            }
            var segments: [String: JSONValue] = [:]
            for (segment, duration) in rounded.segments { segments[segment.rawValue] = milliseconds(duration) }
            var object: [String: JSONValue] = [
                "type": "turn.end", "turn_id": .number(Double(summary.turnID)), "text": .string(summary.text),
                "interrupted": .bool(summary.interrupted), "timeline": .object(timeline), "segments": .object(segments),
                "voice_to_voice": rounded.voiceToVoice.map(milliseconds) ?? .null,
            ]
            if let verdict = summary.endOfTurn { object["end_of_turn"] = json(for: verdict) }
            return .object(object)
        case .toolCall(let call):
            var object: [String: JSONValue] = [
                "type": "tool.call", "turn_id": .number(Double(call.turnID)), "call_id": .string(call.callID),
                "name": .string(call.name),
            ]
            if let arguments = call.arguments { object["arguments"] = .string(arguments) }
            return .object(object)
        case .toolResult(let result):
            var object: [String: JSONValue] = [
                "type": "tool.result", "turn_id": .number(Double(result.turnID)), "call_id": .string(result.callID),
                "name": .string(result.name), "ok": .bool(result.ok),
                "duration_ms": .number((result.duration.milliseconds * 10).rounded() / 10),
            ]
            if let content = result.result { object["result"] = .string(content) }
            return .object(object)
        case .sessionEnd(let reason):
            return ["type": "session.end", "reason": .string(reason)]
        case .pong(let id):
            return ["type": "pong", "id": id]
        case .error(let error):
            return [
                "type": "error", "code": .string(error.code.rawValue), "message": .string(error.message),
                "fatal": .bool(error.fatal),
            ]
        }
    }

    /// Decodes a server text frame (used by clients such as `parley talk`).
    ///
    /// Unknown event types decode to nil so that newer servers do not break older clients.
    public static func decodeServerText(_ text: String) throws(SessionError) -> SessionEvent? {
        guard let value = JSONValue.parse(text), let type = value["type"]?.stringValue else {
            throw SessionError(.invalidJSON, "Server sent a text frame that is not a JSON event.")
        }
        func int(_ key: String) throws(SessionError) -> Int {
            guard let number = value[key]?.intValue else {
                throw SessionError(.invalidEvent, "Server event \"\(type)\" lacks integer \"\(key)\".")
            }
            return number
        }
        func string(_ key: String) throws(SessionError) -> String {
            guard let string = value[key]?.stringValue else {
                throw SessionError(.invalidEvent, "Server event \"\(type)\" lacks string \"\(key)\".")
            }
            return string
        }
        switch type {
        case "session.ready":
            var providers: [String: String] = [:]
            if case .object(let members)? = value["providers"] {
                for (key, member) in members { providers[key] = member.stringValue ?? "" }
            }
            guard let input = value["input"]?["sample_rate"]?.intValue,
                let output = value["output"]?["sample_rate"]?.intValue
            else {
                throw SessionError(.invalidEvent, "session.ready lacks input/output sample rates.")
            }
            return .ready(
                SessionDescription(
                    protocolVersion: try int("protocol"), sessionID: try string("session_id"),
                    inputSampleRate: input, outputSampleRate: output, providers: providers,
                    maxAudioFrameBytes: value["limits"]?["max_audio_frame_bytes"]?.intValue ?? maxAudioFrameBytes,
                    maxTextFrameBytes: value["limits"]?["max_text_frame_bytes"]?.intValue ?? maxTextFrameBytes))
        case "speech.started": return .speechStarted
        case "speech.stopped": return .speechStopped
        case "transcript.partial": return .transcriptPartial(try string("text"))
        case "transcript.final": return .transcriptFinal(turnID: try int("turn_id"), text: try string("text"))
        case "agent.text": return .agentText(turnID: try int("turn_id"), delta: try string("delta"))
        case "agent.audio.start": return .agentAudioStart(turnID: try int("turn_id"), sampleRate: try int("sample_rate"))
        case "agent.audio.end": return .agentAudioEnd(turnID: try int("turn_id"), samples: try int("samples"))
        case "agent.paused": return .agentPaused(turnID: try int("turn_id"))
        case "agent.resumed": return .agentResumed(turnID: try int("turn_id"))
        case "agent.interrupted": return .agentInterrupted(turnID: try int("turn_id"))
        case "turn.end":
            var timeline = TurnTimeline()
            for stage in TurnTimeline.Stage.allCases {
                if let milliseconds = value["timeline"]?[stage.rawValue]?.doubleValue {
                    // Bounded so that the nanoseconds fit in Int64 (±292 years) rather than trap.
                    guard abs(milliseconds) < 9e12 else {
                        throw SessionError(.invalidEvent, "turn.end timeline \"\(stage.rawValue)\" is out of range.")
                    }
                    timeline[stage] = .nanoseconds(Int64(milliseconds * 1_000_000))
                }
            }
            return .turnEnd(
                TurnSummary(
                    turnID: try int("turn_id"), text: try string("text"),
                    interrupted: value["interrupted"]?.boolValue ?? false, timeline: timeline,
                    endOfTurn: try Self.endOfTurnVerdict(value["end_of_turn"])))
        case "tool.call":
            return .toolCall(
                ToolCallEvent(
                    turnID: try int("turn_id"), callID: try string("call_id"), name: try string("name"),
                    arguments: value["arguments"]?.stringValue))
        case "tool.result":
            guard let milliseconds = value["duration_ms"]?.doubleValue, milliseconds >= 0, milliseconds < 9e12 else {
                throw SessionError(.invalidEvent, "tool.result lacks a duration_ms in range.")
            }
            return .toolResult(
                ToolResultEvent(
                    turnID: try int("turn_id"), callID: try string("call_id"), name: try string("name"),
                    ok: value["ok"]?.boolValue ?? false, duration: .nanoseconds(Int64(milliseconds * 1_000_000)),
                    result: value["result"]?.stringValue))
        case "session.end": return .sessionEnd(reason: try string("reason"))
        case "pong": return .pong(value["id"] ?? .null)
        case "error":
            return .error(
                SessionError(
                    SessionError.Code(rawValue: try string("code")), try string("message"),
                    fatal: value["fatal"]?.boolValue ?? false))
        default:
            return nil
        }
    }

    /// A `turn.end`'s `end_of_turn` object: times in ms rounded to 0.1, the probability to 0.001.
    public static func json(for verdict: EndOfTurnVerdict) -> JSONValue {
        func milliseconds(_ duration: Duration) -> JSONValue { .number((duration.milliseconds * 10).rounded() / 10) }
        return [
            "probability": verdict.probability.map { .number((Double($0) * 1000).rounded() / 1000) } ?? .null,
            "complete": .bool(verdict.complete), "silence_ms": milliseconds(verdict.silence), "wait_ms": milliseconds(verdict.wait),
            "checks": .number(Double(verdict.checks)),
        ]
    }

    /// The `end_of_turn` object of a `turn.end`, if present.
    private static func endOfTurnVerdict(_ value: JSONValue?) throws(SessionError) -> EndOfTurnVerdict? {
        guard let value, value != .null else { return nil }
        func milliseconds(_ key: String) throws(SessionError) -> Duration {
            guard let number = value[key]?.doubleValue, number >= 0, number < 9e12 else {
                throw SessionError(.invalidEvent, "turn.end end_of_turn lacks a \"\(key)\" in range.")
            }
            return .nanoseconds(Int64(number * 1_000_000))
        }
        let probability = value["probability"]?.doubleValue
        guard probability.map({ (0...1).contains($0) }) ?? (value["probability"] == .null),
            let complete = value["complete"]?.boolValue, let checks = value["checks"]?.intValue, checks >= 0
        else {
            throw SessionError(.invalidEvent, "turn.end end_of_turn needs probability (0–1 or null), complete and checks.")
        }
        return EndOfTurnVerdict(
            probability: probability.map(Float.init), complete: complete, silence: try milliseconds("silence_ms"),
            wait: try milliseconds("wait_ms"), checks: checks)
    }
}
