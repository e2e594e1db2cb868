import Foundation
import ParleyCore

extension FakeOpenAISpeechServer {
    /// The answer to one valid speech request: its audio bytes, cut into bursts (one per sentence
    /// with `sentenceBursts`, else one) that are written in `chunkBytes` pieces.
    struct SpeechBody {
        let speech: Speech
        let configuration: Configuration
        let bursts: [[UInt8]]

        /// How a stream ended.
        enum Outcome { case completed, abandoned, dropped }

        init(_ speech: Speech, request index: Int, configuration: Configuration) {
            self.speech = speech
            self.configuration = configuration
            let pieces: [[UInt8]]
            switch speech.format {
            case .pcm, .wav:
                let sentences = FakeOpenAISpeechServer.speechBySentence(
                    for: speech.input, request: index, sampleRate: configuration.sampleRate,
                    secondsPerCharacter: configuration.secondsPerCharacter, speed: speech.speed)
                var bytes = sentences.map { PCM.littleEndianBytes($0) }
                if speech.format == .wav {
                    let header = FakeOpenAISpeechServer.wavHeader(
                        samples: sentences.reduce(0) { $0 + $1.count }, sampleRate: configuration.sampleRate,
                        unknownSizes: configuration.wavUnknownSizes)
                    if bytes.isEmpty { bytes = [header] } else { bytes[0] = header + bytes[0] }
                }
                pieces = bytes
            default:
                pieces = [FakeOpenAISpeechServer.cannedAudio(speech.format)]
            }
            // `append(contentsOf:)` copies whole arrays; `joined()` goes byte by byte, slow in debug builds.
            bursts = configuration.sentenceBursts ? pieces : [pieces.reduce(into: []) { $0.append(contentsOf: $1) }]
        }

        /// All the audio bytes (with a WAV header, its bytes too).
        var audioBytes: Int { bursts.reduce(0) { $0 + $1.count } }

        /// `speech.audio.done`'s usage: a token per four characters of input and instructions,
        /// twenty per second of audio.
        var usage: String {
            let input = (speech.input.unicodeScalars.count + speech.instructions.unicodeScalars.count + 3) / 4
            let seconds = Double(max(0, audioBytes - (speech.format == .wav ? 44 : 0))) / Double(2 * configuration.sampleRate)
            let output = Int((seconds * 20).rounded(.up))
            return #"{"input_tokens":\#(input),"output_tokens":\#(output),"total_tokens":\#(input + output)}"#
        }

        func headers(_ rateLimits: [(String, String)]) -> [(String, String)] {
            let type = speech.sse ? "text/event-stream" : FakeOpenAISpeechServer.contentType(speech.format, configuration: configuration)
            switch configuration.errorShape {
            case .openAI: return rateLimits + [("Content-Type", type)]
            case .kokoro:
                return [
                    ("Content-Type", type), ("Content-Disposition", "attachment; filename=speech.\(speech.format.rawValue)"),
                    ("X-Accel-Buffering", "no"), ("Cache-Control", "no-cache"),
                ]
            }
        }

        /// Streams the answer with chunked encoding, dropping the connection after `dropAfter`
        /// audio bytes if set (calling `beforeDrop` first); `.abandoned` when the client went away first.
        func stream(
            to response: FakeResponseWriter, headers rateLimits: [(String, String)], dropAfter: Int?, beforeDrop: () -> Void = {}
        ) async throws -> Outcome {
            let sizes = configuration.chunkBytes.filter { $0 > 0 }.isEmpty ? [1001] : configuration.chunkBytes.filter { $0 > 0 }
            var sizeIndex = 0
            var sent = 0
            do {
                try await response.writeHead(status: 200, headers: headers(rateLimits))
                if configuration.firstAudioDelay > .zero { try await FakeClock.sleep(for: configuration.firstAudioDelay) }
                for (number, burst) in bursts.enumerated() {
                    if number > 0, configuration.sentenceBursts, configuration.chunkDelay > .zero {
                        try await FakeClock.sleep(for: configuration.chunkDelay)
                    }
                    var offset = 0
                    while offset < burst.count {
                        if let dropAfter, sent >= dropAfter { return try await drop(response, beforeDrop) }
                        if sent > 0, !configuration.sentenceBursts, configuration.chunkDelay > .zero {
                            try await FakeClock.sleep(for: configuration.chunkDelay)
                        }
                        var size = min(sizes[sizeIndex % sizes.count], burst.count - offset)
                        sizeIndex += 1
                        if let dropAfter { size = min(size, dropAfter - sent) }
                        try await write(burst[offset..<(offset + size)], to: response)
                        offset += size
                        sent += size
                    }
                }
                if dropAfter != nil {
                    // Asked to drop at or past the end: all the audio, but no end of the body.
                    return try await drop(response, beforeDrop)
                }
                if speech.sse { try await response.write(Array("data: {\"type\":\"speech.audio.done\",\"usage\":\(usage)}\n\n".utf8)) }
                try await response.end()
                return .completed
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                return .abandoned
            }
        }

        /// Drops the connection once the bytes written have had time to reach the client: closing
        /// at once can lose the last of them, sent but not yet read by the client when the reset
        /// comes, and the fault would then cut at a different byte each run.
        private func drop(_ response: FakeResponseWriter, _ beforeDrop: () -> Void) async throws -> Outcome {
            try await FakeClock.sleep(for: .milliseconds(20))
            beforeDrop()
            response.abort()
            return .dropped
        }

        /// Writes audio bytes as they are, or as one `speech.audio.delta` event.
        private func write(_ bytes: ArraySlice<UInt8>, to response: FakeResponseWriter) async throws {
            guard speech.sse else { return try await response.write(bytes) }
            let audio = Data(bytes).base64EncodedString()
            try await response.write(Array("data: {\"type\":\"speech.audio.delta\",\"audio\":\"\(audio)\"}\n\n".utf8))
        }
    }
}
