/// The fuzz targets: each feeds arbitrary bytes to one decoder of outside input and checks what
/// it returns.
///
/// A decoder may reject any input, but it must never crash, hang or allocate without bound, and
/// what it accepts must satisfy the target's invariants (round trips through the matching encoder,
/// agreement with Foundation for JSON, chunking not changing server-sent events). The libFuzzer
/// executables in `Fuzz/` call ``run(_:)`` and trap on a violation; `ParleyFuzzingTests` runs every
/// seed in `Fuzz/Corpus/` through every target.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// ``JSONValue/parse(_:)-(Data)`` against Foundation's `JSONSerialization`, and its round trip.
    case json
    /// Client text frames (`WireProtocol.decodeClientText`) and audio frames (`decodeAudio`).
    case clientMessage = "client-message"
    /// Server events as `parley talk` decodes them (`WireProtocol.decodeServerText`).
    case serverEvent = "server-event"
    /// WAV files (`WAVFile(bytes:)`), as `parley talk --wav` reads them.
    case wav
    /// Twilio Media Streams messages, their μ-law audio, and the webhook's form body.
    case twilio
    /// Deepgram's messages, one per line, through the transcript tracker and the replay buffer.
    case deepgram
    /// Deepgram Flux's messages, one per line, through the turn tracker.
    case flux
    /// ElevenLabs' `stream-input` messages, one per line, through the PCM assembler and `HeardText`.
    case elevenlabs
    /// A `text/event-stream` body split into chunks, and each event as a chat-completion chunk.
    case sse

    /// Runs the target on one input.
    public func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        switch self {
        case .json: try JSONDifferential.run(bytes)
        case .clientMessage: try ClientMessageTarget.run(bytes)
        case .serverEvent: try ServerEventTarget.run(bytes)
        case .wav: try WAVTarget.run(bytes)
        case .twilio: try TwilioTarget.run(bytes)
        case .deepgram: try DeepgramTarget.run(bytes)
        case .flux: try FluxTarget.run(bytes)
        case .elevenlabs: try ElevenLabsTarget.run(bytes)
        case .sse: try ServerSentEventTarget.run(bytes)
        }
    }

    /// Runs the target on one input held in an array.
    public func run(_ bytes: [UInt8]) throws(InvariantViolation) {
        // Not withUnsafeBytes: its closure cannot throw a typed error through rethrows.
        var violation: InvariantViolation?
        bytes.withUnsafeBytes { buffer in
            do throws(InvariantViolation) { try run(buffer) } catch { violation = error }
        }
        if let violation { throw violation }
    }
}

/// A decoder accepted an input but what it produced breaks one of the target's invariants.
public struct InvariantViolation: Error, CustomStringConvertible, Sendable {
    /// What is wrong, for the person reading the fuzzer's crash report.
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Throws ``InvariantViolation`` with `message` unless `condition` holds.
func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(InvariantViolation) {
    if !condition { throw InvariantViolation(message()) }
}

extension UnsafeRawBufferPointer {
    /// The bytes as text the way a WebSocket text frame arrives: invalid UTF-8 repaired.
    var text: String { String(decoding: self, as: UTF8.self) }

    /// The bytes split at line feeds, each line as text (for targets that take a sequence of messages).
    var lines: [String] {
        split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }
}

extension FuzzTarget {
    /// libFuzzer's `LLVMFuzzerTestOneInput`: runs the target and traps on a violation, so that
    /// libFuzzer saves the input as a crash.
    public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        do {
            try run(UnsafeRawBufferPointer(start: data, count: size))
        } catch {
            fatalError("fuzz target \(rawValue): \(error)")
        }
        return 0
    }
}
