import AsyncHTTPClient
public import ParleyCore
import Synchronization

/// Transcribes utterances cut by Parley's VAD through the OpenAI-compatible
/// `POST /audio/transcriptions` API: Groq and OpenAI Whisper, or the local faster-whisper server
/// (docs/providers.md).
///
/// Audio is kept from a short pre-roll before the VAD's speech start to its speech end, sent as a
/// 16-bit WAV, and the text comes back as one final transcript that ends the turn. Utterances that
/// are too short, and the phrases Whisper invents for noise, are reported as no speech.
///
/// When the VAD reports a pause (``SpeechInput/paused``, `--vad-pause`), the utterance so far is
/// sent at once: if the speech then ends without more voice, that transcript is the turn's, ready
/// up to the rest of the VAD's silence earlier. Voice coming back cancels the request (the local
/// Whisper server skips a request whose client has gone).
public struct OpenAICompatibleSpeechToText: SpeechToText {
    /// The API.
    public var endpoint: OpenAICompatibleEndpoint
    /// The model id, such as `whisper-large-v3-turbo`.
    public var model: String
    /// ISO-639-1 language, or nil to let the server detect it.
    public var language: String?
    /// Rate of the audio the session sends, in Hz.
    public var sampleRate: Int
    /// Audio kept from before the VAD noticed speech, so first syllables are not cut.
    public var preroll: Duration
    /// Utterances shorter than this are not sent.
    public var minimumUtterance: Duration
    /// Longest utterance; longer speech is transcribed in pieces of this length.
    public var maximumUtterance: Duration

    public var name: String { endpoint.name }

    /// Creates a client.
    public init(
        endpoint: OpenAICompatibleEndpoint, model: String, language: String? = "en", sampleRate: Int = 16000,
        preroll: Duration = .milliseconds(300), minimumUtterance: Duration = .milliseconds(250),
        maximumUtterance: Duration = .seconds(30)
    ) {
        self.endpoint = endpoint
        self.model = model
        self.language = language
        self.sampleRate = sampleRate
        self.preroll = preroll
        self.minimumUtterance = minimumUtterance
        self.maximumUtterance = maximumUtterance
    }

    public func transcribe(_ input: AsyncStream<SpeechInput>, onEvent: (TranscriptEvent) async throws -> Void) async throws {
        let prerollSamples = Int(Double(sampleRate) * preroll.seconds)
        let maximumSamples = Int(Double(sampleRate) * maximumUtterance.seconds)
        var recent: [Int16] = []
        var utterance: [Int16] = []
        var inSpeech = false
        // The transcript of the utterance up to the latest pause, while no voice has followed.
        // An unstructured task because it must be cancelled on its own (the speaker goes on) while
        // the loop carries on; the defer cancels it when this call ends or is cancelled.
        var speculation: Task<TranscriptEvent, Never>?
        // Its result once it is in, for telling the session early (checked as audio arrives,
        // every 20 ms while a client streams); and whether that was done.
        var speculated = SpeculationResult()
        var announced = false
        defer { speculation?.cancel() }
        func dropSpeculation() {
            speculation?.cancel()
            speculation = nil
        }
        for await item in input {
            // Told as soon as it is in, unless this item says the speaker went on.
            if speculation != nil, !announced, item != .resumed, item != .speechStarted, let event = speculated.event {
                announced = true
                if case .final(let text, _) = event { try await onEvent(.tentative(text)) }
            }
            switch item {
            case .audio(let samples):
                if inSpeech {
                    utterance.append(contentsOf: samples)
                    if utterance.count >= maximumSamples {
                        dropSpeculation()
                        try await onEvent(await transcribe(utterance, endsTurn: false))
                        utterance.removeAll(keepingCapacity: true)
                    }
                } else {
                    recent.append(contentsOf: samples)
                    if recent.count > prerollSamples { recent.removeFirst(recent.count - prerollSamples) }
                }
            case .speechStarted:
                dropSpeculation()
                inSpeech = true
                utterance = recent
                recent.removeAll(keepingCapacity: true)
            case .paused:
                guard inSpeech else { continue }
                dropSpeculation()
                let sofar = utterance
                let result = SpeculationResult()
                speculated = result
                announced = false
                speculation = Task {
                    let event = await transcribe(sofar, endsTurn: true)
                    result.store(event)
                    return event
                }
            case .resumed:
                dropSpeculation()
            case .speechEnded:
                guard inSpeech else { continue }
                inSpeech = false
                let event: TranscriptEvent
                if let pending = speculation {
                    speculation = nil
                    event = await withTaskCancellationHandler {
                        await pending.value
                    } onCancel: {
                        pending.cancel()
                    }
                } else {
                    event = await transcribe(utterance, endsTurn: true)
                }
                try await onEvent(event)
                utterance.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Transcribes one utterance; failures become ``TranscriptEvent/failed(_:)``.
    func transcribe(_ samples: [Int16], endsTurn: Bool) async -> TranscriptEvent {
        let duration = Double(samples.count) / Double(sampleRate)
        guard duration >= minimumUtterance.seconds else { return .noSpeech }
        do {
            let text = try await request(samples).trimmingWhitespace()
            if text.isEmpty || Self.isLikelyHallucination(text, duration: duration) {
                return .noSpeech
            }
            return .final(text, endsTurn: endsTurn)
        } catch let error as ProviderError {
            return .failed(error)
        } catch {
            return .failed(ProviderError(provider: name, kind: .unreachable, message: "\(error)"))
        }
    }

    /// Sends one WAV and returns the recognised text.
    func request(_ samples: [Int16]) async throws -> String {
        var form = MultipartFormData()
        form.add(
            name: "file", filename: "utterance.wav", contentType: "audio/wav",
            data: WAVFile.encodePCM16(samples, sampleRate: sampleRate))
        form.add(name: "model", value: model)
        if let language { form.add(name: "language", value: language) }
        form.add(name: "response_format", value: "json")
        form.add(name: "temperature", value: "0")
        let request = endpoint.request(path: "/audio/transcriptions", contentType: form.contentType, body: form.encoded())
        let response = try await endpoint.execute(request)
        let body: String
        do {
            body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            throw endpoint.mapTransportError(error)
        }
        guard let text = JSONValue.parse(body)?["text"]?.stringValue else {
            throw ProviderError(provider: name, kind: .badResponse, message: "transcription response has no \"text\"")
        }
        return text
    }

    /// Phrases Whisper is known to produce for silence or noise; dropped when the utterance is short.
    static let hallucinations: Set<String> = [
        "thank you", "thank you.", "thanks for watching!", "thanks for watching.", "you", "bye.", "bye",
        "thank you very much.", "so", ".", "okay.", "[blank_audio]", "(silence)", "[music]",
    ]

    static func isLikelyHallucination(_ text: String, duration: Double) -> Bool {
        duration < 1.5 && hallucinations.contains(text.lowercased())
    }
}

/// Where a transcription started at a pause leaves its result for the recogniser's loop.
final class SpeculationResult: Sendable {
    private let value = Mutex<TranscriptEvent?>(nil)
    var event: TranscriptEvent? { value.withLock { $0 } }
    func store(_ event: TranscriptEvent) { value.withLock { $0 = event } }
}
