import Foundation
import ParleyCore

extension FakeElevenLabsServer {
    /// An output format the fake can produce.
    enum AudioFormat: Hashable {
        /// PCM16LE at the rate.
        case pcm(Int)
        /// G.711 μ-law at 8000 Hz.
        case ulaw

        /// Parses `output_format`; nil for formats the fake cannot make (mp3, opus, a-law).
        init?(_ name: String) {
            if name == "ulaw_8000" {
                self = .ulaw
            } else if name.hasPrefix("pcm_"), let rate = Int(name.dropFirst(4)), [8000, 16000, 22050, 24000, 44100].contains(rate) {
                self = .pcm(rate)
            } else {
                return nil
            }
        }

        var sampleRate: Int {
            switch self {
            case .pcm(let rate): rate
            case .ulaw: 8000
            }
        }

        var bytesPerSample: Int { self == .ulaw ? 1 : 2 }

        func encode(_ samples: [Int16]) -> [UInt8] {
            switch self {
            case .pcm: PCM.littleEndianBytes(samples)
            case .ulaw: MuLaw.encode(samples)
            }
        }
    }

    /// The speech the fake makes for `text`: for each character a tone of its own pitch,
    /// `durationPerCharacter` long, starting at zero phase, so the same text always gives the
    /// same samples however it was split into generations.
    public static func speech(for text: String, sampleRate: Int, durationPerCharacter: Duration) -> [Int16] {
        let perCharacter = samplesPerCharacter(sampleRate: sampleRate, durationPerCharacter: durationPerCharacter)
        var samples = [Int16]()
        samples.reserveCapacity(perCharacter * text.count)
        for character in text {
            let scalar = Double(character.unicodeScalars.first?.value ?? 0)
            let frequency = 300 + scalar.truncatingRemainder(dividingBy: 50) * 20
            let amplitude = character.isWhitespace ? 0.05 : 0.3
            for index in 0..<perCharacter {
                samples.append(PCM.int16(Float(amplitude * sin(2 * Double.pi * frequency * Double(index) / Double(sampleRate)))))
            }
        }
        return samples
    }

    /// The speech this fake makes for `text` at `sampleRate` Hz.
    public func speech(for text: String, sampleRate: Int) -> [Int16] {
        Self.speech(for: text, sampleRate: sampleRate, durationPerCharacter: configuration.durationPerCharacter)
    }

    static func samplesPerCharacter(sampleRate: Int, durationPerCharacter: Duration) -> Int {
        max(1, Int((durationPerCharacter / .seconds(1) * Double(sampleRate)).rounded()))
    }

    /// One audio message's worth: a byte slice and the characters that start in it.
    struct AudioPiece: Sendable {
        var bytes: [UInt8]
        /// Characters with start and duration in milliseconds from the piece's first byte.
        var characters: [(character: String, startMs: Int, durationMs: Int)]
    }

    /// Splits the speech for `text` into pieces of `chunkBytes` bytes with their alignment.
    static func pieces(for text: String, format: AudioFormat, durationPerCharacter: Duration, chunkBytes: Int) -> [AudioPiece] {
        let rate = format.sampleRate
        let bytes = format.encode(speech(for: text, sampleRate: rate, durationPerCharacter: durationPerCharacter))
        let perCharacter = samplesPerCharacter(sampleRate: rate, durationPerCharacter: durationPerCharacter)
        let characterBytes = perCharacter * format.bytesPerSample
        let durationMs = Int((Double(perCharacter) * 1000 / Double(rate)).rounded())
        let characters = Array(text)
        return stride(from: 0, to: bytes.count, by: chunkBytes).map { start in
            let end = min(bytes.count, start + chunkBytes)
            let first = (start + characterBytes - 1) / characterBytes
            let last = min(characters.count, (end + characterBytes - 1) / characterBytes)
            let timings = (first..<max(first, last)).map { index in
                let offsetBytes = index * characterBytes - start
                let startMs = Int((Double(offsetBytes) / Double(format.bytesPerSample) * 1000 / Double(rate)).rounded())
                return (String(characters[index]), startMs, durationMs)
            }
            return AudioPiece(bytes: Array(bytes[start..<end]), characters: timings)
        }
    }

    /// What identifies a text's audio messages on one fake: everything else they depend on is
    /// the fake's configuration.
    struct MadeMessagesKey: Hashable {
        let text: String
        let format: AudioFormat
        let syncAlignment: Bool
    }

    /// One audio message and the piece of speech it carries.
    struct MadeMessage: Sendable {
        let piece: AudioPiece
        let message: String
    }

    /// The texts whose messages are kept; beyond it the kept messages are dropped.
    static let madeMessagesLimit = 64

    /// The audio messages for `text`, made by `make` the first time and kept: the fake's speech is
    /// the same for the same text, and the capacity bench's thousands of replies repeat a few
    /// texts. Making the tones, their base64 and the JSON anew for each was about a quarter of
    /// that bench's load generator (`perf`, 2026-12-06), CPU the server under test then lacked.
    func audioMessages(for text: String, format: AudioFormat, syncAlignment: Bool, make: () -> [MadeMessage]) -> [MadeMessage] {
        let key = MadeMessagesKey(text: text, format: format, syncAlignment: syncAlignment)
        if let made = madeMessages.withLock({ $0[key] }) { return made }
        let made = make()
        madeMessages.withLock { kept in
            if kept.count >= Self.madeMessagesLimit { kept.removeAll() }
            kept[key] = made
        }
        return made
    }
}
