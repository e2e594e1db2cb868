@testable import ParleyProviders
import Testing

@Suite("Whisper-style transcription client")
struct OpenAICompatibleSpeechToTextTests {
    @Test("Whisper's stock phrases on short utterances count as no speech")
    func hallucinations() {
        #expect(OpenAICompatibleSpeechToText.isLikelyHallucination("Thank you.", duration: 0.8))
        #expect(!OpenAICompatibleSpeechToText.isLikelyHallucination("Thank you.", duration: 2.5))
        #expect(!OpenAICompatibleSpeechToText.isLikelyHallucination("My name is John.", duration: 0.8))
    }

    @Test("multipart bodies carry the boundary, fields and file bytes")
    func multipart() {
        var form = MultipartFormData(boundary: "XYZ")
        form.add(name: "model", value: "whisper-1")
        form.add(name: "file", filename: "a.wav", contentType: "audio/wav", data: [0, 1, 2])
        let body = String(decoding: form.encoded(), as: UTF8.self)
        #expect(form.contentType == "multipart/form-data; boundary=XYZ")
        #expect(body == "--XYZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
            + "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n\u{0}\u{1}\u{2}\r\n--XYZ--\r\n")
    }
}
