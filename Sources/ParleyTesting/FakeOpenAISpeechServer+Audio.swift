import Foundation
import ParleyCore

extension FakeOpenAISpeechServer {
    /// Splits `text` into the sentences the fake speaks (and, with `sentenceBursts`, sends) one by
    /// one: a sentence ends after `.`, `!`, `?` or `…` (and any closing quotes or brackets) that
    /// whitespace follows, and keeps that whitespace. The sentences join back into `text`.
    public static func sentences(in text: String) -> [String] {
        var sentences: [String] = []
        var current = ""
        var afterTerminator = false
        var ended = false
        for character in text {
            if character.isWhitespace {
                if afterTerminator { ended = true }
                afterTerminator = false
            } else {
                if ended && !current.isEmpty {
                    sentences.append(current)
                    current = ""
                }
                ended = false
                afterTerminator = ".!?…".contains(character) || (afterTerminator && "\"')]”’»".contains(character))
            }
            current.append(character)
        }
        if !current.isEmpty { sentences.append(current) }
        return sentences
    }

    /// The pitch of the speech for request `index` (its arrival index) in Hz: 200 + 25 × (index mod 32).
    public static func frequency(forRequest index: Int) -> Double {
        200 + 25 * Double(index % 32)
    }

    /// The peak amplitude of sentence `index` of a request, full scale 1: 0.2, 0.3, 0.4, 0.5, repeating.
    public static func amplitude(forSentence index: Int) -> Double {
        0.2 + 0.1 * Double(index % 4)
    }

    /// Samples of speech per character of text.
    public static func samplesPerCharacter(sampleRate: Int, secondsPerCharacter: Duration, speed: Double = 1) -> Int {
        max(1, Int((secondsPerCharacter.seconds * Double(sampleRate) / speed).rounded()))
    }

    /// The speech the fake makes for `text` as request `index`, sentence by sentence: each
    /// sentence a sine tone at ``frequency(forRequest:)`` and ``amplitude(forSentence:)``,
    /// starting at zero phase, ``samplesPerCharacter(sampleRate:secondsPerCharacter:speed:)``
    /// long per character.
    public static func speechBySentence(
        for text: String, request index: Int, sampleRate: Int = 24000, secondsPerCharacter: Duration = .milliseconds(60), speed: Double = 1
    ) -> [[Int16]] {
        let perCharacter = samplesPerCharacter(sampleRate: sampleRate, secondsPerCharacter: secondsPerCharacter, speed: speed)
        // The pitch is a whole number of hertz, so the tone repeats every rate / gcd(rate, pitch)
        // samples: one cycle is computed per loudness and repeated (long inputs stay cheap).
        let frequency = Int(frequency(forRequest: index))
        var (a, b) = (sampleRate, frequency)
        while b != 0 { (a, b) = (b, a % b) }
        let period = sampleRate / a
        var cycles: [Int: [Int16]] = [:]
        return sentences(in: text).enumerated().map { number, sentence in
            let count = sentence.count * perCharacter
            let cycle =
                cycles[number % 4]
                ?? {
                    let level = amplitude(forSentence: number)
                    let step = 2 * Double.pi * Double(frequency) / Double(sampleRate)
                    return (0..<period).map { PCM.int16(Float(level * sin(step * Double($0)))) }
                }()
            cycles[number % 4] = cycle
            var samples = [Int16]()
            samples.reserveCapacity(count)
            while samples.count < count { samples.append(contentsOf: cycle.prefix(count - samples.count)) }
            return samples
        }
    }

    /// The speech the fake makes for `text` as request `index`: the sentences of
    /// ``speechBySentence(for:request:sampleRate:secondsPerCharacter:speed:)`` joined.
    public static func speech(
        for text: String, request index: Int, sampleRate: Int = 24000, secondsPerCharacter: Duration = .milliseconds(60), speed: Double = 1
    ) -> [Int16] {
        speechBySentence(for: text, request: index, sampleRate: sampleRate, secondsPerCharacter: secondsPerCharacter, speed: speed)
            .reduce(into: []) { $0.append(contentsOf: $1) }
    }

    /// The bytes the fake answers for a format it does not really encode: the format's magic
    /// bytes and zeros, enough for a client to see that they are not PCM.
    static func cannedAudio(_ format: AudioFormat) -> [UInt8] {
        let magic: [UInt8] =
            switch format {
            case .mp3: Array("ID3".utf8) + [4, 0, 0, 0, 0, 0, 0xFF, 0xF3, 0x44, 0xC4]
            case .opus: Array("OggS".utf8) + [0, 2] + Array(repeating: 0, count: 22) + Array("OpusHead".utf8)
            case .aac: [0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC]
            case .flac: Array("fLaC".utf8) + [0x80, 0, 0, 0x22]
            case .wav, .pcm: []
            }
        return magic + [UInt8](repeating: 0, count: 400 - magic.count)
    }

    /// The `Content-Type` of a format's audio.
    static func contentType(_ format: AudioFormat, configuration: Configuration) -> String {
        switch format {
        case .mp3: "audio/mpeg"
        case .opus: "audio/opus"
        case .aac: "audio/aac"
        case .flac: "audio/flac"
        case .wav: "audio/wav"
        case .pcm: configuration.pcmContentType
        }
    }

    /// A 44-byte PCM16 mono WAV header for `samples` samples, or with 0xFFFFFFFF sizes.
    static func wavHeader(samples: Int, sampleRate: Int, unknownSizes: Bool) -> [UInt8] {
        var header = Array(WAVFile.encodePCM16([], sampleRate: sampleRate).prefix(44))
        let dataSize = unknownSizes ? UInt32.max : UInt32(2 * samples)
        let riffSize = unknownSizes ? UInt32.max : dataSize + 36
        withUnsafeBytes(of: riffSize.littleEndian) { header.replaceSubrange(4..<8, with: $0) }
        withUnsafeBytes(of: dataSize.littleEndian) { header.replaceSubrange(40..<44, with: $0) }
        return header
    }
}
