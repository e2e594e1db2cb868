import ParleyCore

#if canImport(ParleyServer)
import ParleyServer
#endif

/// What Twilio (or anyone who finds the URL) sends: Media Streams messages on the WebSocket, whose
/// μ-law audio must decode to one sample per byte, and the webhook's form-encoded body, whose
/// parameters are signed.
enum TwilioTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        let text = bytes.text
        switch try? TwilioInboundEvent.decode(text) {
        case .start(let start)?:
            try check(!start.streamSID.isEmpty && start.streamSID.utf8.count <= 128, "bad streamSid \(start.streamSID)")
            try check(start.customParameters.count <= 32, "\(start.customParameters.count) custom parameters")
            _ = start.formatProblem
        case .media(_, let samples)?:
            try check(samples.count <= TwilioInboundEvent.maximumPayloadBytes, "\(samples.count) samples in one media message")
        case .connected?, .mark?, .dtmf?, .stop?, nil:
            break
        }
        // μ-law codes all decode; each comes back as itself, but for negative zero (0x7F), which is 0xFF.
        let codes = Array(bytes.prefix(512))
        let recoded = MuLaw.encode(MuLaw.decode(codes))
        try check(recoded == codes.map { $0 == 0x7F ? 0xFF : $0 }, "μ-law codes do not survive decoding")

        let parameters = TwilioSignature.formParameters(text)
        try check(
            parameters.count <= text.utf8.count(where: { $0 == UInt8(ascii: "&") }) + 1,
            "\(parameters.count) form parameters")
        let signature = TwilioSignature.compute(authToken: "token", url: "https://parley.example.com/twilio/voice", parameters: parameters)
        try check(
            TwilioSignature.isValid(signature, authToken: "token", url: "https://parley.example.com/twilio/voice", parameters: parameters),
            "a signature does not validate")
        _ = TwilioSignature.isValid(text, authToken: "token", url: "https://parley.example.com/twilio/voice", parameters: parameters)
    }
}
