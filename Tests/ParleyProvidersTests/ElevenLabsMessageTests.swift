import Foundation
import ParleyCore
import Testing

@testable import ParleyProviders

@Suite("ElevenLabs wire details")
struct ElevenLabsMessageTests {
    @Test("audio messages decode with isFinal null, alignment under either duration spelling, unknown fields ignored")
    func audioMessage() throws {
        let spellings = ["charsDurationsMs", "charDurationsMs"]
        for spelling in spellings {
            let text =
                #"{"audio":"AQID","isFinal":null,"extra":{"x":1},"normalizedAlignment":{"chars":["h","i"],"charStartTimesMs":[0,5],"\#(spelling)":[5,6]},"alignment":{"chars":["H","i"],"charStartTimesMs":[0,5],"\#(spelling)":[5,6]}}"#
            let message = try ElevenLabsServerMessage(parsing: text)
            #expect(message.audio == [1, 2, 3])
            #expect(!message.isFinal)
            #expect(message.error == nil)
            #expect(message.alignment?.text == "Hi")
            #expect(message.alignment?.characters.last == .init(character: "i", start: .milliseconds(5), duration: .milliseconds(6)))
        }
    }

    @Test("normalizedAlignment is the fallback; null, mismatched or absurd alignment is dropped; the final message has no audio")
    func alignmentFallbacks() throws {
        let normalized = try ElevenLabsServerMessage(
            parsing: #"{"audio":"AA==","alignment":null,"normalizedAlignment":{"chars":["a"],"charStartTimesMs":[0],"charDurationsMs":[3]}}"#)
        #expect(normalized.alignment?.text == "a")
        let mismatched = try ElevenLabsServerMessage(
            parsing: #"{"audio":"AA==","alignment":{"chars":["a","b"],"charStartTimesMs":[0],"charDurationsMs":[3]}}"#)
        #expect(mismatched.alignment == nil)
        // Times beyond an hour would overflow Duration and HeardText's sample counts (found by fuzz-elevenlabs).
        let absurd = try ElevenLabsServerMessage(
            parsing: #"{"audio":"AA==","alignment":{"chars":["a"],"charStartTimesMs":[1e300],"charDurationsMs":[3]}}"#)
        #expect(absurd.alignment == nil && absurd.audio == [0])
        let final = try ElevenLabsServerMessage(parsing: #"{"isFinal":true}"#)
        #expect(final.isFinal && final.audio.isEmpty)
        let nullAudio = try ElevenLabsServerMessage(parsing: #"{"audio":null,"isFinal":true}"#)
        #expect(nullAudio.isFinal && nullAudio.audio.isEmpty)
    }

    @Test("error messages are recognised before audio; malformed messages throw")
    func errorsAndMalformed() throws {
        let error = try ElevenLabsServerMessage(parsing: #"{"message":"Have not received…","error":"input_timeout_exceeded","code":1008}"#)
        #expect(error.error?.code == "input_timeout_exceeded")
        #expect(error.error?.message == "Have not received…")
        #expect(throws: ElevenLabsServerMessage.Malformed.self) { try ElevenLabsServerMessage(parsing: "<html>") }
        #expect(throws: ElevenLabsServerMessage.Malformed.self) { try ElevenLabsServerMessage(parsing: #"{"audio":"%%%"}"#) }
        #expect(throws: ElevenLabsServerMessage.Malformed.self) { try ElevenLabsServerMessage(parsing: #"{"audio":12}"#) }
        // Unpadded or cut base64 is refused, as Foundation's decoder refused it.
        #expect(throws: ElevenLabsServerMessage.Malformed.self) { try ElevenLabsServerMessage(parsing: #"{"audio":"AQI"}"#) }
        #expect(throws: ElevenLabsServerMessage.Malformed.self) { try ElevenLabsServerMessage(parsing: #"{"audio":"AQ=="#) }
    }

    @Test("long audio decodes from the message's bytes as Foundation decodes it; an escaped slash is still base64")
    func longAudio() throws {
        let bytes = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 3) }
        let encoded = Data(bytes).base64EncodedString()
        #expect(encoded.contains("/"))
        let message = try ElevenLabsServerMessage(parsing: #"{"audio":"\#(encoded)","isFinal":false,"alignment":null}"#)
        #expect(message.audio == bytes)
        let escaped = encoded.replacingOccurrences(of: "/", with: #"\/"#)
        #expect(try ElevenLabsServerMessage(parsing: #"{"audio":"\#(escaped)"}"#).audio == bytes)
    }

    @Test("PCM16 bytes split at any offset give the same samples; the odd byte waits for its partner")
    func assembler() {
        let samples: [Int16] = [1, -2, 300, -32768, 32767, 0, 12345]
        let bytes = PCM.littleEndianBytes(samples)
        for size in 1...5 {
            var assembler = PCM16Assembler()
            var out: [Int16] = []
            for start in stride(from: 0, to: bytes.count, by: size) {
                out += assembler.push(bytes[start..<min(bytes.count, start + size)])
            }
            #expect(out == samples)
            #expect(!assembler.hasPartialSample)
        }
        var assembler = PCM16Assembler()
        #expect(assembler.push([0x01]).isEmpty)
        #expect(assembler.hasPartialSample)
        #expect(assembler.push([0x02, 0x03]) == [0x0201])
    }

    @Test("each sentence is sent trimmed with exactly one trailing space and a flush; blank ones are not sent")
    func sentenceMessages() {
        #expect(ElevenLabsTextToSpeech.sentenceMessage("Hello.") == #"{"flush":true,"text":"Hello. "}"#)
        #expect(ElevenLabsTextToSpeech.sentenceMessage("  Hi there!\n\n") == #"{"flush":true,"text":"Hi there! "}"#)
        #expect(ElevenLabsTextToSpeech.sentenceMessage(" \n\t") == nil)
        #expect(ElevenLabsTextToSpeech.keepAliveMessage == #"{"text":" "}"#)
        #expect(ElevenLabsTextToSpeech.endOfStreamMessage == #"{"text":""}"#)
    }

    @Test("error bodies: ElevenLabs' detail, FastAPI's list, and the key never shown")
    func errorBodies() {
        let configuration = ElevenLabsConfiguration(apiKey: "sk_secret_key_42")
        let detail = configuration.httpError(
            "elevenlabs", status: 400, body: #"{"detail":{"status":"voice_limit_reached","message":"Too many voices."}}"#)
        #expect(detail.message == "HTTP 400: voice_limit_reached: Too many voices.")
        let echoed = configuration.httpError(
            "elevenlabs", status: 401, body: #"{"detail":{"status":"invalid_api_key","message":"Key sk_secret_key_42 is invalid"}}"#)
        #expect(!echoed.description.contains("sk_secret_key_42"))
        #expect(echoed.message.contains("ELEVENLABS_API_KEY"))
        let plain = configuration.httpError("elevenlabs", status: 502, body: "Bad Gateway")
        #expect(plain.message == "HTTP 502: Bad Gateway")
        #expect(plain.status == 502)
    }

    @Test("inactivity timeout in whole seconds within 1…180, and the keep-alive comes before it")
    func keepAliveInterval() {
        func configuration(_ timeout: Duration) -> ElevenLabsConfiguration {
            ElevenLabsConfiguration(apiKey: "k", inactivityTimeout: timeout)
        }
        #expect(configuration(.seconds(20)).inactivityTimeoutSeconds == 20)
        #expect(configuration(.seconds(20)).keepAliveInterval == .seconds(15))
        #expect(configuration(.milliseconds(1500)).inactivityTimeoutSeconds == 2)
        #expect(configuration(.seconds(4)).keepAliveInterval == .seconds(2))
        #expect(configuration(.seconds(600)).inactivityTimeoutSeconds == 180)
        #expect(configuration(.zero).inactivityTimeoutSeconds == 1)
    }
}
