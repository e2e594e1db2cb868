import ParleyCore

#if canImport(ParleyProviders)
import ParleyProviders
#endif

/// What ElevenLabs sends on a `stream-input` socket, one message per line, handled as
/// `ElevenLabsTextToSpeech` does: audio bytes through the PCM assembler (no byte lost or invented),
/// alignments through `HeardText` (which must answer for any number of played samples).
enum ElevenLabsTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        var assembler = PCM16Assembler()
        var heard = HeardText(outputRate: 16000)
        var pendingAlignment: [SpeechAlignment.Character] = []
        var audioBytes = 0
        var samples = 0
        for line in bytes.lines {
            guard let message = try? ElevenLabsServerMessage(parsing: line) else { continue }
            if message.error != nil {
                try check(message.audio.isEmpty && message.alignment == nil, "an error message with audio or timings")
                continue
            }
            audioBytes += message.audio.count
            pendingAlignment += message.alignment?.characters ?? []
            let chunk = assembler.push(message.audio)
            samples += chunk.count
            try check(samples == audioBytes / 2, "\(audioBytes) bytes assembled into \(samples) samples")
            try check(assembler.hasPartialSample == !audioBytes.isMultiple(of: 2), "odd byte lost or invented")
            guard !chunk.isEmpty else { continue }
            // ElevenLabs' pcm_24000 into a 16 kHz session, so HeardText converts rates.
            heard.addChunk(
                AudioChunk(
                    samples: chunk, sampleRate: 24000,
                    alignment: pendingAlignment.isEmpty ? nil : SpeechAlignment(characters: pendingAlignment)))
            pendingAlignment = []
        }
        for played in [0, heard.totalSamples / 2, heard.totalSamples, Int.max] {
            _ = heard.heardText(playedSamples: played)
        }
    }
}
