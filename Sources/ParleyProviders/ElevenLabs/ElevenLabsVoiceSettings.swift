public import ParleyCore

/// How an ElevenLabs voice sounds (docs/providers.md).
public struct ElevenLabsVoiceSettings: Sendable, Equatable {
    /// Lower is more expressive, higher more even; 0…1.
    public var stability: Double
    /// How closely to keep to the original voice; 0…1.
    public var similarityBoost: Double
    /// Style exaggeration; 0…1 (0 is fastest).
    public var style: Double
    /// Whether to boost similarity to the speaker (slightly slower).
    public var useSpeakerBoost: Bool
    /// Speaking speed; 1 is normal (0.7…1.2).
    public var speed: Double

    /// Creates settings; the defaults are ElevenLabs' own.
    public init(stability: Double = 0.5, similarityBoost: Double = 0.75, style: Double = 0, useSpeakerBoost: Bool = true, speed: Double = 1) {
        self.stability = stability
        self.similarityBoost = similarityBoost
        self.style = style
        self.useSpeakerBoost = useSpeakerBoost
        self.speed = speed
    }

    /// The settings as the `voice_settings` JSON object.
    public var json: JSONValue {
        [
            "stability": .number(stability),
            "similarity_boost": .number(similarityBoost),
            "style": .number(style),
            "use_speaker_boost": .bool(useSpeakerBoost),
            "speed": .number(speed),
        ]
    }
}
