public import ParleyCore

extension ServerConfiguration {
    /// Telephony's only audio rate: G.711 μ-law at 8 kHz.
    public static let telephonySampleRate = 8000

    /// The session settings for phone calls: ``session`` with caller and agent audio, and the
    /// VAD, at 8 kHz.
    public var telephonySession: SessionConfiguration {
        var telephony = session
        telephony.inputSampleRate = Self.telephonySampleRate
        telephony.outputSampleRate = Self.telephonySampleRate
        telephony.vad.sampleRate = Self.telephonySampleRate
        return telephony
    }
}
