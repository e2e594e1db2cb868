public import AsyncHTTPClient
import Foundation
import NIOCore
public import ParleyCore

/// Text-to-speech over ElevenLabs' HTTP streaming endpoint (docs/providers.md), for when the
/// WebSocket cannot be used: one `POST …/stream` per sentence, as sentences arrive.
///
/// Each response's chunked PCM16 body is handed on as it arrives, at
/// ``ElevenLabsConfiguration/outputSampleRate(for:)``, with no timings. The previous sentence
/// goes along as `previous_text` so the voice carries on naturally. Cancelling the task cancels
/// the request in flight and delivers no more audio.
public struct ElevenLabsHTTPTextToSpeech: TextToSpeech {
    /// Where and how to connect (the WebSocket-only settings are not used).
    public var configuration: ElevenLabsConfiguration
    /// The HTTP client; owned by the caller, who shuts it down.
    public var httpClient: HTTPClient

    public var name: String { "elevenlabs-http" }

    /// Creates a client.
    public init(configuration: ElevenLabsConfiguration, httpClient: HTTPClient) {
        self.configuration = configuration
        self.httpClient = httpClient
    }

    public func synthesize(_ text: AsyncStream<String>, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        let outputRate = ElevenLabsConfiguration.outputSampleRate(for: sampleRate)
        var previous: String?
        for await sentence in text {
            try Task.checkCancellation()
            let trimmed = sentence.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            try await speak(trimmed, previous: previous, sampleRate: outputRate, onAudio: onAudio)
            previous = trimmed
        }
        // A cancelled reply ends `text` early.
        try Task.checkCancellation()
    }

    /// The JSON request body for one sentence.
    func requestBody(_ sentence: String, previous: String?) -> JSONValue {
        [
            "text": .string(sentence),
            "model_id": .string(configuration.modelID),
            "voice_settings": configuration.voiceSettings.json,
            "previous_text": previous.map(JSONValue.string) ?? .null,
            "apply_text_normalization": "auto",
        ]
    }

    /// Requests one sentence and streams its audio to `onAudio`.
    private func speak(_ sentence: String, previous: String?, sampleRate: Int, onAudio: (AudioChunk) async throws -> Void) async throws {
        var request = HTTPClientRequest(url: configuration.streamURL(sampleRate: sampleRate))
        request.method = .POST
        request.headers.add(name: "xi-api-key", value: configuration.apiKey)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "audio/*")
        request.headers.add(name: "User-Agent", value: "parley/1")
        request.body = .bytes(ByteBuffer(string: requestBody(sentence, previous: previous).serialized))

        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .nanoseconds(configuration.connectTimeout.nanoseconds))
        } catch {
            let mapped = configuration.connectError(name, error)
            if let mapped = mapped as? ProviderError { configuration.health.failed(mapped) }
            throw mapped
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let body = (try? await response.body.collect(upTo: 1 << 16)).map { String(buffer: $0) } ?? ""
            let failure = configuration.httpError(name, status: status, body: body)
            configuration.health.failed(failure)
            throw failure
        }
        configuration.health.succeeded()

        var assembler = PCM16Assembler()
        var body = response.body.makeAsyncIterator()
        while true {
            let buffer: ByteBuffer?
            do {
                buffer = try await body.next()
            } catch {
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                throw configuration.error(name, .streamEnded, "ElevenLabs' audio stream broke off: \(error)")
            }
            guard let buffer else { break }
            let samples = assembler.push(buffer.readableBytesView)
            guard !samples.isEmpty else { continue }
            // Barge-in: no audio may reach the caller once the reply is cancelled.
            try Task.checkCancellation()
            try await onAudio(AudioChunk(samples: samples, sampleRate: sampleRate))
        }
        try Task.checkCancellation()
    }
}
