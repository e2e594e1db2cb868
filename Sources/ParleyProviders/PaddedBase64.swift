import ExtrasBase64

/// Standard base64 with its padding, as the providers send it (ElevenLabs' audio, Twilio's media
/// payload), decoded by ExtrasBase64 into an array rather than Foundation's `Data`.
package enum PaddedBase64 {
    /// The bytes `encoded` spells; nil when it is not padded standard base64. (Foundation's
    /// decoder, used before, also refused input whose length is not a multiple of four.)
    package static func decode(_ encoded: some Collection<UInt8>) -> [UInt8]? {
        guard encoded.count.isMultiple(of: 4) else { return nil }
        return try? Base64.decode(bytes: encoded)
    }
}
