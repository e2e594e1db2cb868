import ParleyCore
import ParleyTesting
import Testing

@Suite("Energy VAD")
struct EnergyVoiceActivityDetectorTests {
    static func run(_ samples: [Int16], configuration: EnergyVoiceActivityDetector.Configuration = .init()) -> [EnergyVoiceActivityDetector.Event] {
        var vad = EnergyVoiceActivityDetector(configuration: configuration)
        return AudioFixtures.frames(samples).flatMap { vad.process($0).events }
    }

    @Test("the same events whether the audio comes whole, in frames, in odd pieces or as slices")
    func anyChunking() {
        let audio =
            AudioFixtures.silence(.milliseconds(500)) + AudioFixtures.tone(frequency: 220, duration: .milliseconds(800))
            + AudioFixtures.silence(.milliseconds(600)) + AudioFixtures.tone(frequency: 330, duration: .milliseconds(300))
        func events(_ pieces: [ArraySlice<Int16>]) -> [EnergyVoiceActivityDetector.Event] {
            var vad = EnergyVoiceActivityDetector()
            return pieces.flatMap { vad.process($0).events }
        }
        let frames = events(AudioFixtures.frames(audio).map { $0[...] })
        #expect(frames.count == 3)  // start, end, and the second start
        // Pieces of 97 samples: frames split across calls.
        let odd = stride(from: 0, to: audio.count, by: 97).map { audio[$0..<min(audio.count, $0 + 97)] }
        #expect(events(odd) == frames)
        #expect(events([audio[...]]) == frames)
        // An array, a slice that does not start at zero, and any other collection: the same.
        var vad = EnergyVoiceActivityDetector()
        var events: [EnergyVoiceActivityDetector.Event] = []
        let offset = [Int16](repeating: 0, count: 5) + audio
        events += vad.process(Array(audio[0..<6400])).events
        events += vad.process(offset[(6400 + 5)..<(16000 + 5)]).events
        events += vad.process(audio[16000...].reversed().reversed()).events
        #expect(events == frames)
    }

    @Test("the RMS level in integers is the double-precision sum's, exactly")
    func rmsExact() {
        var generator = SystemRandomNumberGenerator()
        for count in [1, 7, 320, 4801] {
            let samples = (0..<count).map { _ in Int16.random(in: .min ... .max, using: &generator) }
            let sum = samples.reduce(0.0) { $0 + Double($1) * Double($1) }
            let expected = Float((sum / Double(count)).squareRoot() / 32768)
            #expect(PCM.rms(samples) == expected)
            #expect(PCM.rms(samples.reversed()) == expected)
        }
        #expect(PCM.rms([Int16.min, Int16.min]) == 1)
        #expect(PCM.rms([Int16]()) == 0)
    }

    @Test("silence produces no speech")
    func silence() {
        #expect(Self.run(AudioFixtures.silence(.seconds(3))).isEmpty)
    }

    @Test("a burst of voice-band tone between silences starts and ends speech once")
    func burst() {
        let audio =
            AudioFixtures.silence(.milliseconds(500)) + AudioFixtures.tone(frequency: 220, duration: .milliseconds(800))
            + AudioFixtures.silence(.milliseconds(600))
        let events = Self.run(audio)
        #expect(events.count == 2)
        guard case .speechStarted(let offset)? = events.first, case .speechEnded(let voiced)? = events.last else {
            Issue.record("expected start then end, got \(events)")
            return
        }
        // The start window reaches back to the tone's start at 0.5 s.
        #expect(abs(offset - 8000) <= 320 * 4)
        #expect(voiced >= .milliseconds(700) && voiced <= .milliseconds(820))
    }

    @Test("speech ends after the configured silence, not before")
    func silenceTimeout() {
        var vad = EnergyVoiceActivityDetector()
        let lead = AudioFixtures.silence(.milliseconds(400)) + AudioFixtures.tone(frequency: 200, duration: .milliseconds(500))
        for frame in AudioFixtures.frames(lead) { _ = vad.process(frame) }
        #expect(vad.isSpeaking)
        // 280 ms of silence: still speaking; the 300 ms frame ends it.
        for frame in AudioFixtures.frames(AudioFixtures.silence(.milliseconds(280))) {
            #expect(vad.process(frame).events.isEmpty)
        }
        #expect(vad.process(AudioFixtures.silence(.milliseconds(20))).events.count == 1)
        #expect(!vad.isSpeaking)
    }

    @Test("with a turn check, a silence of that length within speech is reported once; endSpeech ends the speech then")
    func turnCheck() {
        let configuration = EnergyVoiceActivityDetector.Configuration(silenceTimeout: .milliseconds(1200), turnCheckTimeout: .milliseconds(200))
        var vad = EnergyVoiceActivityDetector(configuration: configuration)
        let lead = AudioFixtures.silence(.milliseconds(400)) + AudioFixtures.tone(frequency: 200, duration: .milliseconds(500))
        for frame in AudioFixtures.frames(lead) { _ = vad.process(frame) }
        #expect(vad.isSpeaking)
        var events: [EnergyVoiceActivityDetector.Event] = []
        for frame in AudioFixtures.frames(AudioFixtures.silence(.milliseconds(180))) { events += vad.process(frame).events }
        #expect(events.isEmpty && vad.silence == .milliseconds(180))
        #expect(vad.process(AudioFixtures.silence(.milliseconds(20))).events == [.turnCheck])
        // Voice again: the next silence is checked afresh.
        for frame in AudioFixtures.frames(AudioFixtures.tone(frequency: 200, duration: .milliseconds(200))) { events += vad.process(frame).events }
        for frame in AudioFixtures.frames(AudioFixtures.silence(.milliseconds(400))) { events += vad.process(frame).events }
        #expect(events == [.turnCheck], "\(events)")
        #expect(vad.isSpeaking, "the long silence has not passed")
        guard case .speechEnded(let voiced)? = vad.endSpeech() else {
            Issue.record("endSpeech did not end the speech")
            return
        }
        #expect(voiced >= .milliseconds(600) && voiced <= .milliseconds(720), "\(voiced)")
        #expect(!vad.isSpeaking && vad.endSpeech() == nil)
        // No second end when the long silence would have passed.
        for frame in AudioFixtures.frames(AudioFixtures.silence(.milliseconds(1200))) { #expect(vad.process(frame).events.isEmpty) }
    }

    @Test("a single click does not start speech")
    func click() {
        var audio = AudioFixtures.silence(.seconds(1))
        for index in 9000..<9100 { audio[index] = 20000 }
        #expect(Self.run(audio).isEmpty)
    }

    @Test("steady noise is learned as the floor; speech above it is still heard")
    func steadyNoise() {
        let noise = AudioFixtures.noise(duration: .seconds(4), amplitude: 0.05)
        let noiseEvents = Self.run(noise)
        #expect(noiseEvents.isEmpty)
        let speech = zip(
            AudioFixtures.noise(duration: .seconds(1), amplitude: 0.05, seed: 7),
            AudioFixtures.tone(frequency: 180, duration: .seconds(1), amplitude: 0.6)
        )
        .map { Int16(clamping: Int($0) + Int($1)) }
        let events = Self.run(noise + speech + AudioFixtures.noise(duration: .seconds(1), amplitude: 0.05, seed: 9))
        #expect(events.count == 2)
    }

    @Test("with a pause timeout, short silences within speech are reported as pauses and resumptions")
    func pauses() {
        let configuration = EnergyVoiceActivityDetector.Configuration(pauseTimeout: .milliseconds(100))
        let audio =
            AudioFixtures.silence(.milliseconds(400)) + AudioFixtures.tone(frequency: 220, duration: .milliseconds(600))
            + AudioFixtures.silence(.milliseconds(60)) + AudioFixtures.tone(frequency: 220, duration: .milliseconds(300))
            + AudioFixtures.silence(.milliseconds(160)) + AudioFixtures.tone(frequency: 220, duration: .milliseconds(300))
            + AudioFixtures.silence(.milliseconds(500))
        let events = Self.run(audio, configuration: configuration)
        // The 60 ms gap is no pause; the 160 ms one is, and voice resumes; the end pauses first.
        guard events.count == 5, case .speechStarted? = events.first, case .speechEnded? = events.last else {
            Issue.record("expected start, paused, resumed, paused, end; got \(events)")
            return
        }
        #expect(Array(events[1...3]) == [.paused, .resumed, .paused])
        // Without a pause timeout nothing changes.
        #expect(Self.run(audio).count == 2)
    }
}
