#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decides where speech starts and stops from frame energy against an adaptive noise floor.
///
/// Audio is analysed in fixed frames (20 ms by default). A frame is *voiced* when its level is at
/// least ``Configuration/margin`` above the tracked noise floor and above
/// ``Configuration/minimumLevel``. Speech starts when ``Configuration/startFrames`` of the last
/// ``Configuration/startWindow`` frames are voiced (so a click does not start it), and stops after
/// ``Configuration/silenceTimeout`` without a voiced frame. The noise floor follows the quietest
/// recent frames: it falls quickly, rises slowly, and barely moves during speech. Time is counted
/// in samples, so the detector is deterministic and needs no clock.
///
/// With a ``SpeechClassifier`` (Silero VAD), a frame is voiced when the model's latest window
/// says speech (at least ``SpeechClassifierFactory/threshold``, or inside speech at least
/// ``SpeechClassifierFactory/silenceThreshold``) and it is above ``Configuration/minimumLevel``;
/// the same start and end rules then apply. Quiet windows (below ``Configuration/minimumLevel``)
/// are not given to the model: they are silence, and it starts from a fresh state after them.
/// Should the model fail, the detector goes on by energy alone.
public struct EnergyVoiceActivityDetector: Sendable {
    /// Tuning of the detector.
    public struct Configuration: Sendable, Equatable {
        /// Sample rate of the audio in Hz.
        public var sampleRate: Int
        /// Analysis frame length.
        public var frameDuration: Duration
        /// How far above the noise floor a voiced frame must be, in dB.
        public var margin: Float
        /// Level below which no frame is voiced, in dBFS.
        public var minimumLevel: Float
        /// Voiced frames needed within ``startWindow`` frames to start speech.
        public var startFrames: Int
        /// Frames considered when starting speech.
        public var startWindow: Int
        /// Silence after the last voiced frame that ends speech.
        public var silenceTimeout: Duration
        /// Frames at the start of the stream used only to learn the noise floor.
        public var calibrationFrames: Int
        /// Silence within speech after which a ``Event/paused`` is reported (the speaker may be
        /// done; a recogniser can start on the words so far), or nil for none. Only shorter than
        /// ``silenceTimeout`` makes sense.
        public var pauseTimeout: Duration?
        /// Silence within speech after which a ``Event/turnCheck`` is reported (an end-of-turn
        /// model judges the turn so far and may end it with ``endSpeech()``), or nil for none.
        /// Only shorter than ``silenceTimeout`` makes sense.
        public var turnCheckTimeout: Duration?

        /// Creates a configuration; the defaults suit 16 kHz speech from a browser microphone.
        public init(
            sampleRate: Int = 16000,
            frameDuration: Duration = .milliseconds(20),
            margin: Float = 10,
            minimumLevel: Float = -50,
            startFrames: Int = 4,
            startWindow: Int = 8,
            silenceTimeout: Duration = .milliseconds(300),
            calibrationFrames: Int = 5,
            pauseTimeout: Duration? = nil,
            turnCheckTimeout: Duration? = nil
        ) {
            self.sampleRate = sampleRate
            self.frameDuration = frameDuration
            self.margin = margin
            self.minimumLevel = minimumLevel
            self.startFrames = startFrames
            self.startWindow = startWindow
            self.silenceTimeout = silenceTimeout
            self.calibrationFrames = calibrationFrames
            self.pauseTimeout = pauseTimeout
            self.turnCheckTimeout = turnCheckTimeout
        }

        var frameSamples: Int {
            max(1, Int(Double(sampleRate) * frameDuration.seconds))
        }
    }

    /// A change of state found in the audio.
    public enum Event: Sendable, Equatable {
        /// Speech began; `offset` is the position in samples of the first voiced frame of the
        /// start window, counted from the beginning of the stream.
        case speechStarted(offset: Int)
        /// Speech ended; `voicedDuration` is how much of the utterance was voiced.
        case speechEnded(voicedDuration: Duration)
        /// Speech has paused for ``Configuration/pauseTimeout``; it may end or go on.
        case paused
        /// Voice came back after a ``paused``, within the same utterance.
        case resumed
        /// Speech has been silent for ``Configuration/turnCheckTimeout``: time to ask whether the
        /// turn is complete.
        case turnCheck
    }

    /// What one call to ``process(_:)`` found.
    public struct Result: Sendable, Equatable {
        /// State changes, in order.
        public var events: [Event] = []
        /// Whether any complete frame in this call was voiced.
        public var containsVoice = false
    }

    /// The configuration in use.
    public let configuration: Configuration
    /// Whether the detector is currently inside speech.
    public private(set) var isSpeaking = false
    /// Whether speech has paused (``Event/paused``) with no voice since.
    public private(set) var isPaused = false
    /// The current noise floor in dBFS.
    public private(set) var noiseFloor: Float = -70
    /// The level of the most recent frame in dBFS.
    public private(set) var lastLevel: Float = -100
    /// Voiced frames within the start window that start speech: the configuration's, or the
    /// speech model's own (``SpeechClassifierFactory/startFrames``).
    public private(set) var startFrames: Int

    private var pending: [Int16] = []
    private var processedFrames = 0
    private var recent: [Bool]
    private var recentIndex = 0
    private var silentFrames = 0
    private var voicedFramesInUtterance = 0
    private let silenceFrames: Int
    private let pauseFrames: Int?
    private let checkFrames: Int?

    /// The speech model, when one judges the frames (nil: energy alone).
    public private(set) var classifier: (any SpeechClassifier)?
    private var thresholds: (speech: Float, silence: Float) = (0.5, 0.35)
    /// The model's latest speech probability.
    public private(set) var lastProbability: Float = 0
    /// Why the speech model failed, if it did (the detector then went on by energy alone).
    public private(set) var classifierFailure: String?
    /// Whether the model was last given a quiet frame (it was then reset).
    private var modelResting = true

    /// A detector that judges frames by `classifier`'s speech probability when one is given.
    public init(configuration: Configuration = Configuration(), classifier factory: SpeechClassifierFactory?) {
        self.init(configuration: configuration)
        if let factory, let classifier = factory.classifier(sampleRate: configuration.sampleRate) {
            self.classifier = classifier
            thresholds = (factory.threshold, factory.silenceThreshold)
            startFrames = min(factory.startFrames, recent.count)
        }
    }

    /// Creates a detector that judges frames by energy alone.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.recent = Array(repeating: false, count: max(1, configuration.startWindow))
        self.startFrames = configuration.startFrames
        self.silenceFrames = Self.frames(in: configuration.silenceTimeout, of: configuration.frameDuration)
        self.pauseFrames = configuration.pauseTimeout.map { Self.frames(in: $0, of: configuration.frameDuration) }
        self.checkFrames = configuration.turnCheckTimeout.map { Self.frames(in: $0, of: configuration.frameDuration) }
        pending.reserveCapacity(configuration.frameSamples)
    }

    /// Frames that cover `duration`, at least one. Duration ratios are not exact in floating point
    /// (0.3 / 0.02 = 15.000000000000002).
    private static func frames(in duration: Duration, of frame: Duration) -> Int {
        max(1, Int((duration / frame - 1e-9).rounded(.up)))
    }

    /// The silence since the last voiced frame, inside speech (zero outside it).
    public var silence: Duration {
        isSpeaking ? configuration.frameDuration * silentFrames : .zero
    }

    /// Ends the speech in progress now, as though the silence timeout had passed (an end-of-turn
    /// model judged the turn complete); returns its ``Event/speechEnded(voicedDuration:)``, or nil
    /// when the detector is not inside speech.
    public mutating func endSpeech() -> Event? {
        guard isSpeaking else { return nil }
        isSpeaking = false
        isPaused = false
        recent = Array(repeating: false, count: recent.count)
        return .speechEnded(voicedDuration: configuration.frameDuration * voicedFramesInUtterance)
    }

    /// Analyses the next samples of the stream (any length) and reports state changes.
    public mutating func process(_ samples: some Collection<Int16>) -> Result {
        process(Array(samples)[...])
    }

    /// Analyses the next samples of the stream (any length) and reports state changes.
    public mutating func process(_ samples: [Int16]) -> Result {
        process(samples[...])
    }

    /// Analyses the next samples of the stream (any length) and reports state changes.
    ///
    /// Whole frames are analysed where they lie in `samples`; only a frame split across calls is
    /// gathered in `pending`. (Appending sample by sample to `pending`, a uniqueness check each, was
    /// most of the detector's time, 4.6 % of an idle server's CPU at 100 sessions.)
    public mutating func process(_ samples: ArraySlice<Int16>) -> Result {
        var result = Result()
        let frameSamples = configuration.frameSamples
        var index = samples.startIndex
        while index < samples.endIndex {
            let left = samples.endIndex - index
            if pending.isEmpty && left >= frameSamples {
                analyseFrame(samples[index..<index + frameSamples], into: &result)
                index += frameSamples
                continue
            }
            let taken = min(frameSamples - pending.count, left)
            pending.append(contentsOf: samples[index..<index + taken])
            index += taken
            if pending.count == frameSamples {
                // Moved out while it is analysed (the analysis mutates the detector), then back,
                // keeping its storage.
                var frame: [Int16] = []
                swap(&frame, &pending)
                analyseFrame(frame[...], into: &result)
                frame.removeAll(keepingCapacity: true)
                swap(&frame, &pending)
            }
        }
        return result
    }

    private mutating func analyseFrame(_ frame: ArraySlice<Int16>, into result: inout Result) {
        let level = Self.decibels(PCM.rms(frame))
        lastLevel = level
        processedFrames += 1
        if processedFrames <= configuration.calibrationFrames {
            noiseFloor = processedFrames == 1 ? level : min(noiseFloor, level)
            return
        }
        let voiced: Bool
        if classifier != nil {
            let probability = classify(frame, level: level)
            voiced = level >= configuration.minimumLevel && probability >= (isSpeaking ? thresholds.silence : thresholds.speech)
        } else {
            voiced = level >= configuration.minimumLevel && level >= noiseFloor + configuration.margin
        }
        adaptFloor(level: level, voiced: voiced)
        recent[recentIndex] = voiced
        recentIndex = (recentIndex + 1) % recent.count
        if voiced { result.containsVoice = true }

        if isSpeaking {
            if voiced {
                silentFrames = 0
                voicedFramesInUtterance += 1
                if isPaused {
                    isPaused = false
                    result.events.append(.resumed)
                }
            } else {
                silentFrames += 1
                if let pauseFrames, pauseFrames < silenceFrames, silentFrames == pauseFrames {
                    isPaused = true
                    result.events.append(.paused)
                }
                if let checkFrames, checkFrames < silenceFrames, silentFrames == checkFrames {
                    result.events.append(.turnCheck)
                }
                if silentFrames >= silenceFrames, let ended = endSpeech() {
                    result.events.append(ended)
                }
            }
        } else if voiced {
            let count = recent.reduce(0) { $0 + ($1 ? 1 : 0) }
            if count >= startFrames {
                isSpeaking = true
                silentFrames = 0
                voicedFramesInUtterance = count
                let windowStart = (processedFrames - recent.count) * configuration.frameSamples
                result.events.append(.speechStarted(offset: max(0, windowStart)))
            }
        }
    }

    /// Runs the model on `frame` and returns its latest probability.
    private mutating func classify(_ frame: ArraySlice<Int16>, level: Float) -> Float {
        guard var model = classifier else { return 0 }
        do {
            // A quiet frame is silence; the model's state would only learn the quiet.
            if level < configuration.minimumLevel {
                if !modelResting {
                    model.reset()
                    classifier = model
                    modelResting = true
                }
                lastProbability = 0
                return 0
            }
            modelResting = false
            classifier = nil  // not shared while the model runs on its copy
            let probabilities = try model.probabilities(frame)
            classifier = model
            if let latest = probabilities.last { lastProbability = latest }
        } catch {
            // The model failed: energy alone from here on (`classifier` stays nil), by its rules.
            classifierFailure = "\(model.name): \(error)"
            startFrames = configuration.startFrames
            lastProbability = 0
        }
        return lastProbability
    }

    private mutating func adaptFloor(level: Float, voiced: Bool) {
        if level < noiseFloor {
            noiseFloor += 0.2 * (level - noiseFloor)
        } else {
            // Rise slowly in silence (a second or so), much more slowly during speech, so steady
            // noise is learned but a long utterance does not become the floor.
            let rate: Float = voiced ? (isSpeaking ? 0.002 : 0.01) : 0.02
            noiseFloor += rate * (level - noiseFloor)
        }
        noiseFloor = max(noiseFloor, -90)
    }

    /// Converts a linear full-scale level to dBFS, with −100 for silence.
    public static func decibels(_ rms: Float) -> Float {
        rms > 0.00001 ? 20 * log10(rms) : -100
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }

    /// The duration in milliseconds as a floating-point number.
    public var milliseconds: Double { seconds * 1000 }
}
