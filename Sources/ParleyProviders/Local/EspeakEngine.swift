import CEspeakNG
import NIOPosix
import ParleyCore
import Synchronization

/// The process-wide espeak-ng synthesiser (espeak-ng keeps global state, so there is one).
///
/// Synthesis is blocking C code: it runs on NIO's blocking thread pool, never on the two-thread
/// cooperative pool, and one call at a time under a lock. espeak-ng speaks at a fixed 22 050 Hz.
public final class EspeakEngine: Sendable {
    /// The shared engine.
    public static let shared = EspeakEngine()

    /// An espeak-ng failure.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private struct State: ~Copyable {
        var sampleRate: Int32 = 0
        var voice = ""
        var rate: Int32 = 0
    }
    private let state = Mutex(State())

    private init() {}

    /// Synthesises `text` with `voice` at `wordsPerMinute`; returns mono PCM16 and its rate in Hz.
    public func synthesize(_ text: String, voice: String = "en-us", wordsPerMinute: Int = 175) async throws -> (samples: [Int16], sampleRate: Int) {
        try await NIOThreadPool.singleton.runIfActive {
            try self.synthesizeBlocking(text, voice: voice, wordsPerMinute: wordsPerMinute)
        }
    }

    /// Synthesises `text` in the default voice, resampled to `sampleRate`: test and bench audio.
    public func synthesize(_ text: String, sampleRate: Int) async throws -> [Int16] {
        let spoken = try await synthesize(text)
        var resampler = Resampler(from: spoken.sampleRate, to: sampleRate)
        return resampler.process(spoken.samples) + resampler.finishInt16()
    }

    /// Synthesises on the calling thread (blocking).
    func synthesizeBlocking(_ text: String, voice: String, wordsPerMinute: Int) throws -> (samples: [Int16], sampleRate: Int) {
        try state.withLock { state in
            if state.sampleRate <= 0 {
                let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, nil, 0)
                guard rate > 0 else { throw Failure(description: "espeak-ng could not initialise (is espeak-ng-data installed?)") }
                state.sampleRate = rate
                espeak_SetSynthCallback(espeakCallback)
            }
            if state.voice != voice {
                guard espeak_SetVoiceByName(voice) == EE_OK else {
                    throw Failure(description: "espeak-ng has no voice \"\(voice)\"")
                }
                state.voice = voice
            }
            let rate = Int32(min(max(wordsPerMinute, 80), 450))
            if state.rate != rate {
                espeak_SetParameter(espeakRATE, rate, 0)
                state.rate = rate
            }
            let sink = SampleSink()
            let context = Unmanaged.passRetained(sink)
            defer { context.release() }
            let status = text.withCString { pointer in
                espeak_Synth(
                    pointer, strlen(pointer) + 1, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil,
                    context.toOpaque())
            }
            guard status == EE_OK else { throw Failure(description: "espeak-ng synthesis failed (status \(status.rawValue))") }
            return (sink.samples, Int(state.sampleRate))
        }
    }
}

/// Collects the samples of one synthesis; used only on the synthesising thread, under the lock.
private final class SampleSink {
    var samples: [Int16] = []
}

/// espeak-ng's synthesis callback: appends each block to the call's `SampleSink`.
private func espeakCallback(
    _ wav: UnsafeMutablePointer<Int16>?, _ count: Int32, _ events: UnsafeMutablePointer<espeak_EVENT>?
) -> Int32 {
    guard let events, let context = events.pointee.user_data else { return 0 }
    let sink = Unmanaged<SampleSink>.fromOpaque(context).takeUnretainedValue()
    if let wav, count > 0 {
        sink.samples.append(contentsOf: UnsafeBufferPointer(start: wav, count: Int(count)))
    }
    return 0
}

#if canImport(Glibc)
import Glibc
#endif
