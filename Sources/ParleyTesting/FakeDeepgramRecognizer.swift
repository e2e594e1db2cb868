import ParleyCore

/// What the fake Deepgram "hears" on one connection: it keeps the audio clock, finds speech by
/// energy in 20 ms windows, and answers each utterance with the next scripted transcript as
/// Deepgram would (docs/providers.md).
///
/// Everything follows the audio clock (samples received), never wall time, so results are
/// deterministic: interim results every ``FakeDeepgramServer/Configuration/interimInterval`` of
/// speech, finals once the endpointing silence has been received, `UtteranceEnd` once
/// `utterance_end_ms` of audio has passed the last finalized word.
struct FakeDeepgramRecognizer {
    private struct Utterance {
        var start: Int
        var lastVoicedEnd: Int
        var lastInterim: Int
        var interims = 0
        var words: [FakeDeepgramScript.Word]
    }

    let options: FakeDeepgramOptions
    let configuration: FakeDeepgramServer.Configuration
    let script: FakeDeepgramScript
    let requestID: String

    /// Samples received so far (the audio clock).
    private(set) var position = 0
    private var leftoverByte: UInt8?
    private var window: [Int16] = []
    private let windowSamples: Int
    private var utterance: Utterance?
    private var finalizedThrough = 0
    private var lastWordEnd: Double?
    // After a Finalize in mid-speech, speech that goes on is not a new utterance until a pause.
    private var waitingForPause = false

    init(options: FakeDeepgramOptions, configuration: FakeDeepgramServer.Configuration, script: FakeDeepgramScript, requestID: String) {
        self.options = options
        self.configuration = configuration
        self.script = script
        self.requestID = requestID
        windowSamples = max(1, options.sampleRate / 50)
        window.reserveCapacity(windowSamples)
    }

    /// Seconds of audio received.
    var seconds: Double { Double(position) / Double(options.sampleRate) }

    /// Takes one binary message of audio and returns the messages Deepgram would send for it.
    mutating func receive(audio bytes: [UInt8]) -> [JSONValue] {
        var messages: [JSONValue] = []
        for sample in decode(bytes) {
            window.append(sample)
            if window.count == windowSamples {
                analyseWindow(into: &messages)
                window.removeAll(keepingCapacity: true)
            }
        }
        return messages
    }

    /// Answers `Finalize`: final results for the speech buffered so far, the last marked
    /// `from_finalize`; an empty one when there was audio but no speech; nothing otherwise.
    mutating func finalize() -> [JSONValue] {
        if let current = utterance {
            utterance = nil
            waitingForPause = true
            return finals(for: current, speechFinal: false, fromFinalize: true)
        }
        guard position > finalizedThrough else { return [] }
        return [emptyFinal(fromFinalize: true)]
    }

    /// Answers `CloseStream`: results for whatever audio is left.
    mutating func closeStream() -> [JSONValue] {
        if let current = utterance {
            utterance = nil
            return finals(for: current, speechFinal: speechFinalEnabled, fromFinalize: false)
        }
        guard position > finalizedThrough else { return [] }
        return [emptyFinal(fromFinalize: false)]
    }

    private var speechFinalEnabled: Bool { options.endpointing != nil && configuration.speechFinal }

    private mutating func analyseWindow(into messages: inout [JSONValue]) {
        let start = position
        position += window.count
        let voiced = EnergyVoiceActivityDetector.decibels(PCM.rms(window)) >= configuration.speechThreshold
        if voiced && !waitingForPause {
            if utterance == nil {
                utterance = Utterance(start: start, lastVoicedEnd: position, lastInterim: start, words: script.peek())
                lastWordEnd = nil
                if options.vadEvents {
                    messages.append(["type": "SpeechStarted", "channel": [0, 1], "timestamp": .number(time(start))])
                }
            }
            utterance?.lastVoicedEnd = position
            if let current = utterance, options.interimResults, !current.words.isEmpty,
                position - current.lastInterim >= samples(configuration.interimInterval)
            {
                let words = Array(current.words.prefix(min(current.words.count, current.interims + 1)))
                let timed = timings(words, from: current.start, to: position)
                messages.append(result(words, timings: timed, from: finalizedThrough, to: position, isFinal: false))
                utterance?.interims += 1
                utterance?.lastInterim = position
            }
            return
        }
        if !voiced { waitingForPause = false }
        if let current = utterance {
            let silence = options.endpointing ?? configuration.finalizationSilence
            if position - current.lastVoicedEnd >= samples(silence) {
                utterance = nil
                messages += finals(for: current, speechFinal: speechFinalEnabled, fromFinalize: false)
            }
        } else if let every = configuration.emptyFinalsEvery, position - finalizedThrough >= samples(every) {
            messages.append(emptyFinal(fromFinalize: false))
        }
        if let wordEnd = lastWordEnd, let gap = options.utteranceEnd, seconds - wordEnd >= gap.seconds - 1e-9 {
            messages.append(["type": "UtteranceEnd", "channel": [0, 1], "last_word_end": .number(wordEnd)])
            lastWordEnd = nil
        }
    }

    /// Final results for an utterance, split into ``FakeDeepgramServer/Configuration/finalsPerUtterance``
    /// results at word boundaries; the last one carries the end-of-speech flags.
    private mutating func finals(for utterance: Utterance, speechFinal: Bool, fromFinalize: Bool) -> [JSONValue] {
        script.commit()
        let words = utterance.words
        guard !words.isEmpty else { return [emptyFinal(fromFinalize: fromFinalize, speechFinal: speechFinal)] }
        let timed = timings(words, from: utterance.start, to: utterance.lastVoicedEnd)
        let parts = max(1, min(configuration.finalsPerUtterance, words.count))
        var messages: [JSONValue] = []
        var first = 0
        for part in 0..<parts {
            let last = (part + 1) * words.count / parts
            let isLast = part == parts - 1
            let end = isLast ? position : Int((timed[last].start * Double(options.sampleRate)).rounded())
            messages.append(
                result(
                    Array(words[first..<last]), timings: Array(timed[first..<last]), from: finalizedThrough, to: end,
                    isFinal: true, speechFinal: isLast && speechFinal, fromFinalize: isLast && fromFinalize))
            finalizedThrough = end
            first = last
        }
        lastWordEnd = timed.last?.end
        return messages
    }

    private mutating func emptyFinal(fromFinalize: Bool, speechFinal: Bool = false) -> JSONValue {
        let message = result([], from: finalizedThrough, to: position, isFinal: true, speechFinal: speechFinal, fromFinalize: fromFinalize)
        finalizedThrough = position
        return message
    }

    /// Spreads words evenly over the voiced span, each taking 90% of its share.
    private func timings(_ words: [FakeDeepgramScript.Word], from start: Int, to end: Int) -> [(start: Double, end: Double)] {
        let share = Double(max(end - start, 1)) / Double(words.count)
        return words.indices.map { index in
            let wordStart = Double(start) + share * Double(index)
            return (time(wordStart), time(wordStart + share * 0.9))
        }
    }

    private func result(
        _ words: [FakeDeepgramScript.Word], timings: [(start: Double, end: Double)]? = nil, from start: Int, to end: Int,
        isFinal: Bool, speechFinal: Bool = false, fromFinalize: Bool = false
    ) -> JSONValue {
        let timed = timings ?? self.timings(words, from: start, to: max(end, start + 1))
        let punctuate = options.punctuate
        let wordObjects: [JSONValue] = zip(words, timed).map { word, timing in
            var object: [String: JSONValue] = [
                "word": .string(word.plain), "start": .number(timing.start), "end": .number(timing.end), "confidence": 0.98,
            ]
            if punctuate { object["punctuated_word"] = .string(word.punctuated) }
            return .object(object)
        }
        let transcript = words.map { punctuate ? $0.punctuated : $0.plain }.joined(separator: " ")
        var alternative: [String: JSONValue] = [
            "transcript": .string(transcript), "confidence": words.isEmpty ? 0 : 0.98, "words": .array(wordObjects),
        ]
        var message: [String: JSONValue] = [
            "type": "Results", "channel_index": [0, 1], "start": .number(time(start)),
            "duration": .number(time(end) - time(start)), "is_final": .bool(isFinal), "speech_final": .bool(speechFinal),
            "from_finalize": .bool(fromFinalize),
            "metadata": [
                "request_id": .string(requestID), "model_uuid": "1ed36bac-f71c-4f3f-a31f-02fd6525c489",
                "model_info": ["name": .string("general-\(options.model)"), "version": "2025-01-15.0", "arch": .string(options.model)],
            ],
        ]
        if configuration.chaos {
            // Fields newer or other models add; clients must ignore them.
            alternative["languages"] = ["en"]
            message["entities"] = []
            message["x_fake_extension"] = ["nested": ["value": 1]]
        }
        message["channel"] = ["alternatives": [.object(alternative)]]
        return .object(message)
    }

    private mutating func decode(_ bytes: [UInt8]) -> [Int16] {
        switch options.encoding {
        case .mulaw:
            return MuLaw.decode(bytes)
        case .linear16:
            var data = bytes
            if let leftover = leftoverByte { data.insert(leftover, at: 0) }
            let even = data.count & ~1
            let samples = PCM.samples(fromLittleEndian: data[..<even])
            // A sample split across two messages is completed by the next one.
            leftoverByte = even < data.count ? data[even] : nil
            return samples
        }
    }

    private func samples(_ duration: Duration) -> Int {
        Int((duration.seconds * Double(options.sampleRate)).rounded())
    }

    private func time(_ position: Int) -> Double { time(Double(position)) }

    /// A position as seconds, rounded to microseconds as Deepgram's numbers are.
    private func time(_ position: Double) -> Double {
        (position / Double(options.sampleRate) * 1_000_000).rounded() / 1_000_000
    }
}
