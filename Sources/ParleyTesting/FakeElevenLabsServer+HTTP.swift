import Foundation
import ParleyCore

extension FakeElevenLabsServer {
    /// Answers `POST /v1/text-to-speech/{voice_id}/stream` (docs/providers.md): checks the key,
    /// the voice and the body, then streams the speech as a chunked body in odd-sized chunks.
    func respond(to request: FakeRequest, with response: FakeResponseWriter) async throws {
        let body = JSONValue.parse(request.text)
        let index = records.withLock { records in
            records.http.append(
                HTTPRequestRecord(
                    method: request.method, path: request.path, query: request.query,
                    keyAccepted: isValidKey(request.header("xi-api-key")), contentType: request.header("content-type"),
                    body: body, receivedAt: .now))
            return records.http.count - 1
        }
        func answer(_ status: Int, _ text: String) async throws {
            updateHTTP(index) { record in
                record.status = status
                record.finishedAt = .now
            }
            try await response.send(status: status, headers: [("Content-Type", "application/json")], body: text)
        }
        guard let voiceID = Self.voiceID(in: request.path, endpoint: "stream") else {
            return try await answer(404, #"{"detail":"Not Found"}"#)
        }
        guard request.method == "POST" else { return try await answer(405, #"{"detail":"Method Not Allowed"}"#) }
        let misbehaviour = nextMisbehaviour()
        switch misbehaviour.fault {
        case .reject(let status, let text)?:
            return try await answer(status, text)
        case .quotaExceeded?:
            return try await answer(
                401, Self.detail("quota_exceeded", "This request exceeds your quota of 10000. You have 3 credits remaining."))
        case .tooManyConcurrentRequests?:
            return try await answer(
                429, Self.detail("too_many_concurrent_requests", "Too many concurrent requests. Your plan allows 2 at a time."))
        default:
            break
        }
        guard isValidKey(request.header("xi-api-key")) else {
            let said = request.header("xi-api-key") == nil ? "Missing the xi-api-key header." : "Invalid API key."
            return try await answer(401, Self.detail("invalid_api_key", said))
        }
        guard configuration.voiceIDs.contains(voiceID) else {
            return try await answer(404, Self.detail("voice_not_found", "A voice with voice_id \(voiceID) was not found."))
        }
        guard request.header("content-type")?.lowercased().hasPrefix("application/json") == true, let body, case .object = body else {
            return try await answer(422, Self.validationError(["body"], "a JSON object is required", type: "value_error.jsondecode"))
        }
        guard let text = body["text"]?.stringValue, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            return try await answer(422, Self.validationError(["body", "text"], "field required", type: "value_error.missing"))
        }
        let formatName = request.queryValue("output_format") ?? "mp3_44100_128"
        guard let format = AudioFormat(formatName) else {
            return try await answer(
                422, Self.validationError(["query", "output_format"], "the fake speaks pcm_* and ulaw_8000, not \(formatName)", type: "value_error"))
        }
        try await stream(text, format: format, misbehaviour: misbehaviour, to: response, record: index)
    }

    /// Streams the speech for `text`, recording what was sent and whether the client went away.
    private func stream(
        _ text: String, format: AudioFormat, misbehaviour: Misbehaviour, to response: FakeResponseWriter, record index: Int
    ) async throws {
        if misbehaviour.fault == .stallFirstByte {
            // Hold the response back until the client gives up or the limit passes.
            await response.stall(upTo: misbehaviour.stallLimit)
            updateHTTP(index) { record in
                record.clientWentAway = true
                record.finishedAt = .now
            }
            return
        }
        if misbehaviour.firstByteDelay > .zero { try await FakeClock.sleep(for: misbehaviour.firstByteDelay) }
        updateHTTP(index) { $0.status = 200 }
        let pieces = Self.pieces(
            for: text, format: format, durationPerCharacter: configuration.durationPerCharacter, chunkBytes: configuration.audioChunkBytes)
        do {
            try await response.writeHead(status: 200, headers: [("Content-Type", format == .ulaw ? "audio/basic" : "audio/pcm")])
            for (number, piece) in pieces.enumerated() {
                if number > 0 && configuration.chunkPacing > .zero { try await FakeClock.sleep(for: configuration.chunkPacing) }
                try await response.write(piece.bytes)
                if configuration.recordsAudio { updateHTTP(index) { $0.audio += piece.bytes } }
                if number == 0 && misbehaviour.fault == .dropAfterFirstAudio {
                    if misbehaviour.randomDrop { dice.acted(.drop) }
                    response.abort()
                    updateHTTP(index) { $0.finishedAt = .now }
                    return
                }
            }
            try await response.end()
            updateHTTP(index) { $0.finishedAt = .now }
        } catch {
            updateHTTP(index) { record in
                record.clientWentAway = true
                record.finishedAt = .now
            }
            throw error
        }
    }
}
