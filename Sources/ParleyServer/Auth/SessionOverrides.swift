import ParleyCore

/// What a session token may change about its session (each only if the server permits it:
/// `--token-overrides`).
struct SessionOverrides: Sendable, Equatable {
    var systemPrompt: String?
    var greeting: String?
    var voice: String?

    static let none = SessionOverrides()

    /// The longest system prompt a token may carry, in characters: a token travels in a URL.
    static let longestSystemPrompt = 4000
    /// The longest greeting, in characters.
    static let longestGreeting = 500

    /// The overrides present.
    var present: Set<AccessControl.Override> {
        var present = Set<AccessControl.Override>()
        if systemPrompt != nil { present.insert(.systemPrompt) }
        if greeting != nil { present.insert(.greeting) }
        if voice != nil { present.insert(.voice) }
        return present
    }

    /// `configuration` with these overrides applied.
    func applied(to configuration: SessionConfiguration) -> SessionConfiguration {
        var configuration = configuration
        if let systemPrompt { configuration.systemPrompt = systemPrompt }
        if let greeting { configuration.greeting = greeting.isEmpty ? nil : greeting }
        if let voice { configuration.voice = voice }
        return configuration
    }

    /// Checks each value: a reason for a 400, or nil.
    func problem() -> String? {
        if let systemPrompt, systemPrompt.trimmingWhitespace().isEmpty || systemPrompt.count > Self.longestSystemPrompt {
            return "system_prompt must be 1…\(Self.longestSystemPrompt) characters"
        }
        if let greeting, greeting.count > Self.longestGreeting {
            return "greeting must be at most \(Self.longestGreeting) characters"
        }
        if let voice, !Self.isVoiceName(voice) {
            return "voice must be 1…64 letters, digits, '-', '_', '+' or '.' (an ElevenLabs voice id or an espeak-ng voice)"
        }
        return nil
    }

    static func isVoiceName(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "-_+.".utf8.contains(byte)
            }
    }
}
