import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import ParleyCore
import ParleyProviders
import ParleyServer

/// `parley-bench engines`: espeak-ng's and the local voice's first audio and real-time factor,
/// Silero VAD's time per window, smart-turn's time per decision, local Whisper's time per utterance, and the local LLM's first
/// token, first sentence and tokens per second.
struct BenchEngines: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engines", abstract: "Measure the embedded engines (run `make setup` first).")

    @Option(help: "Repetitions of each measurement.")
    var runs = 5

    @Option(name: .customLong("engine-layout"), help: "The engines' layout file written by `make setup`.")
    var engineLayout = LocalEngineLayout.defaultPath

    @Option(name: .customLong("local-llm"), help: "The local LLM to measure: small or large.")
    var localLLM = LocalLanguageModel.large.rawValue

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    static let sentences = [
        "My name is John and I live in Paris.", "What is the weather like today?",
        "Could you remind me to call my sister tomorrow morning?",
    ]

    func validate() throws {
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be 1…100") }
        guard LocalLanguageModel(rawValue: localLLM) != nil else { throw ValidationError("--local-llm must be small or large") }
    }

    func run() async throws {
        ParleyLogging.bootstrap(.warning)
        let layout = try LocalEngineLayout.load(from: engineLayout)
        var results: [String: JSONValue] = ["espeak": try await espeak()]
        if let silero = try await silero(layout: layout) { results["silero"] = silero }
        if let smartTurn = try await smartTurn(layout: layout) { results["smart_turn"] = smartTurn }
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let logDirectory = FileManager.default.temporaryDirectory.path + "/parley-bench-\(ProcessInfo.processInfo.processIdentifier)"
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
            let whisper = try LocalEngines.whisper(layout: layout, httpClient: httpClient, logDirectory: logDirectory)
            let size = LocalLanguageModel(rawValue: localLLM) ?? .large
            let llama = try LocalEngines.llama(
                layout: layout, size: size, httpClient: httpClient, logDirectory: logDirectory, model: size.modelID,
                warmUp: [.system(SessionConfiguration.defaultSystemPrompt), .user("Hello")])
            let speech = try LocalEngines.speech(layout: layout, httpClient: httpClient, logDirectory: logDirectory)
            let logger = Logger(label: "parley.bench")
            results.merge(
                try await withThrowingTaskGroup(of: [String: JSONValue]?.self) { group in
                    defer { group.cancelAll() }
                    group.addTask {
                        try await whisper.run(logger: logger)
                        return nil
                    }
                    group.addTask {
                        try await llama.run(logger: logger)
                        return nil
                    }
                    group.addTask {
                        try await speech.run(logger: logger)
                        return nil
                    }
                    try await Self.waitUntilReady([whisper, llama, speech])
                    let measured = [
                        "whisper": try await measureWhisper(whisper, httpClient: httpClient),
                        "llm": try await measureLLM(llama, model: size.modelID, httpClient: httpClient),
                        "voice": try await measureVoice(speech, httpClient: httpClient),
                    ]
                    group.cancelAll()
                    return measured
                }
            ) { $1 }
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
        print(json ? JSONValue.object(results).serialized : Self.table(results))
    }

    /// Time to the first audio and real-time factor, per sentence.
    func espeak() async throws -> JSONValue {
        _ = try await EspeakEngine.shared.synthesize("warm up")
        return try await measureSpeech(EspeakTextToSpeech())
    }

    /// Silero VAD in process: time per window (32 ms of audio at 16 kHz, 32 ms at 8 kHz) over
    /// espeak-ng speech fed in 20 ms frames as a session feeds it; nil when setup installed no model.
    func silero(layout: LocalEngineLayout) async throws -> JSONValue? {
        guard let library = layout.onnxRuntimeLibrary, let path = layout.sileroVADModel else { return nil }
        let runtime = try OnnxRuntime(libraryPath: library)
        let spoken = try await EspeakEngine.shared.synthesize(Self.sentences.joined(separator: " "))
        var results: [String: JSONValue] = ["onnxruntime": .string(runtime.version)]
        for rate in [16000, 8000] {
            let model = try SileroVoiceModel(runtime: runtime, modelPath: path, sampleRate: rate)
            var resampler = Resampler(from: spoken.sampleRate, to: rate)
            let audio = resampler.process(spoken.samples) + resampler.finishInt16()
            var perWindow: [Double] = []
            for _ in 0..<max(1, runs) {
                var stream = model.makeStream()
                var windows = 0
                let start = ContinuousClock.now
                for frame in stride(from: 0, to: audio.count, by: rate / 50) {
                    windows += try model.process(audio[frame..<min(audio.count, frame + rate / 50)], stream: &stream).count
                }
                perWindow.append((ContinuousClock.now - start).milliseconds / Double(max(1, windows)))
            }
            results[rate == 16000 ? "window_ms_16k" : "window_ms_8k"] = Self.summary(perWindow)
        }
        return .object(results)
    }

    /// smart-turn v3.2 in process: the Whisper features and the model's run for one decision on
    /// 8 s of audio; nil when setup installed no model.
    func smartTurn(layout: LocalEngineLayout) async throws -> JSONValue? {
        guard let library = layout.onnxRuntimeLibrary, let path = layout.smartTurnModel else { return nil }
        let model = try SmartTurnModel(runtime: OnnxRuntime(libraryPath: library), modelPath: path)
        let audio = PCM.floats(try await EspeakEngine.shared.synthesize(Self.sentences.joined(separator: " "), sampleRate: SmartTurnModel.sampleRate))
        var featureTimes: [Double] = []
        var decisionTimes: [Double] = []
        for _ in 0..<max(1, runs) {
            let start = ContinuousClock.now
            _ = model.input(audio)
            featureTimes.append((ContinuousClock.now - start).milliseconds)
            let decision = ContinuousClock.now
            _ = try model.probability(audio)
            decisionTimes.append((ContinuousClock.now - decision).milliseconds)
        }
        return ["features_ms": Self.summary(featureTimes), "decision_ms": Self.summary(decisionTimes)]
    }

    /// The natural local voice through the OpenAI speech client, as sessions use it.
    func measureVoice(_ engine: LocalEngine, httpClient: HTTPClient) async throws -> JSONValue {
        let endpoint = OpenAICompatibleEndpoint(name: engine.name, baseURL: engine.baseURL, httpClient: httpClient, maximumRetries: 0)
        return try await measureSpeech(OpenAISpeechTextToSpeech(endpoint: endpoint, model: "hibari", voice: "heart"))
    }

    func measureSpeech(_ tts: some TextToSpeech) async throws -> JSONValue {
        var firsts: [Double] = []
        var factors: [Double] = []
        for run in 0..<runs {
            let sentence = Self.sentences[run % Self.sentences.count]
            let (text, sink) = AsyncStream.makeStream(of: String.self)
            sink.yield(sentence)
            sink.finish()
            let start = ContinuousClock.now
            var first: Duration?
            var samples = 0
            var rate = 1
            try await tts.synthesize(text, sampleRate: 16000) { chunk in
                if first == nil { first = ContinuousClock.now - start }
                samples += chunk.samples.count
                rate = chunk.sampleRate
            }
            let total = ContinuousClock.now - start
            firsts.append((first ?? total).milliseconds)
            factors.append(total.seconds / (Double(samples) / Double(rate)))
        }
        return ["first_audio_ms": Self.summary(firsts), "real_time_factor": Self.summary(factors)]
    }

    /// Seconds from the end of an utterance to its transcript.
    func measureWhisper(_ engine: LocalEngine, httpClient: HTTPClient) async throws -> JSONValue {
        let endpoint = OpenAICompatibleEndpoint(name: engine.name, baseURL: engine.baseURL, httpClient: httpClient)
        let stt = OpenAICompatibleSpeechToText(endpoint: endpoint, model: "whisper-tiny.en")
        var times: [Double] = []
        var transcripts: [JSONValue] = []
        // Run 0 warms the engine up and is not counted.
        for run in 0...runs {
            let sentence = Self.sentences[run % Self.sentences.count]
            let spoken = try await EspeakEngine.shared.synthesize(sentence)
            var resampler = Resampler(from: spoken.sampleRate, to: 16000)
            let samples = resampler.process(spoken.samples) + resampler.finishInt16()
            let (input, sink) = AsyncStream.makeStream(of: SpeechInput.self)
            sink.yield(.speechStarted)
            sink.yield(.audio(samples))
            sink.yield(.speechEnded)
            sink.finish()
            let start = ContinuousClock.now
            var text = ""
            try await stt.transcribe(input) { event in
                if case .final(let final, _) = event { text = final }
            }
            guard run > 0 else { continue }
            times.append((ContinuousClock.now - start).milliseconds)
            transcripts.append(.string(text))
        }
        return ["utterance_ms": Self.summary(times), "transcripts": .array(transcripts)]
    }

    /// Time to the first token and tokens per second after it.
    func measureLLM(_ engine: LocalEngine, model name: String, httpClient: HTTPClient) async throws -> JSONValue {
        let endpoint = OpenAICompatibleEndpoint(name: engine.name, baseURL: engine.baseURL, httpClient: httpClient, responseTimeout: .seconds(60))
        let model = OpenAICompatibleLanguageModel(endpoint: endpoint, model: name, temperature: 0, maxTokens: 80)
        var firsts: [Double] = []
        var sentences: [Double] = []
        var rates: [Double] = []
        // Run 0 loads the system prompt into llama.cpp's cache and is not counted.
        for run in 0...runs {
            let messages: [ChatMessage] = [.system(SessionConfiguration.defaultSystemPrompt), .user(Self.sentences[run % Self.sentences.count])]
            let start = ContinuousClock.now
            var first: ContinuousClock.Instant?
            var sentence: ContinuousClock.Instant?
            var chunker = SentenceChunker()
            var pieces = 0
            try await model.complete(messages) { text in
                if first == nil { first = .now }
                if sentence == nil, !chunker.push(text).isEmpty { sentence = .now }
                pieces += 1
            }
            let end = ContinuousClock.now
            guard run > 0, let first else { continue }
            firsts.append((first - start).milliseconds)
            sentences.append(((sentence ?? end) - start).milliseconds)
            if pieces > 1 { rates.append(Double(pieces - 1) / (end - first).seconds) }
        }
        return [
            "first_token_ms": Self.summary(firsts), "first_sentence_ms": Self.summary(sentences), "tokens_per_second": Self.summary(rates),
        ]
    }

    static func waitUntilReady(_ engines: [LocalEngine]) async throws {
        let deadline = ContinuousClock.now + .seconds(180)
        while !engines.allSatisfy({ $0.status.snapshot.ready }) {
            if let failed = engines.first(where: { $0.status.snapshot.failed }) {
                throw ValidationError("\(failed.name) failed to start: \(failed.status.snapshot.lastError ?? "see its log")")
            }
            guard ContinuousClock.now < deadline else { throw ValidationError("the engines did not start within 180 s") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A real-time-factor summary expressed in milliseconds per second of audio.
    static func perMille(_ summary: JSONValue) -> JSONValue {
        guard case .object(let fields) = summary else { return summary }
        return .object(fields.mapValues { .number(($0.doubleValue ?? 0) * 1000) })
    }

    /// Median, minimum and maximum.
    static func summary(_ values: [Double]) -> JSONValue {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .null }
        return ["median": .number(sorted[sorted.count / 2]), "min": .number(sorted[0]), "max": .number(sorted[sorted.count - 1])]
    }

    static func table(_ results: [String: JSONValue]) -> String {
        func row(_ label: String, _ value: JSONValue?, _ unit: String) -> String {
            guard let value, let median = value["median"]?.doubleValue else { return "  \(label): n/a" }
            let low = value["min"]?.doubleValue ?? median
            let high = value["max"]?.doubleValue ?? median
            let format = median < 1 ? "%.2f" : "%.1f"
            return
                "  \(label): median \(String(format: format, median)) \(unit) (min \(String(format: format, low)), max \(String(format: format, high)))"
        }
        return [
            "embedded engines on this machine",
            row("espeak-ng first audio", results["espeak"]?["first_audio_ms"], "ms"),
            row("Silero VAD per 32 ms window at 16 kHz (in process)", results["silero"]?["window_ms_16k"], "ms"),
            row("Silero VAD per 32 ms window at 8 kHz", results["silero"]?["window_ms_8k"], "ms"),
            row("smart-turn features of 8 s (in process)", results["smart_turn"]?["features_ms"], "ms"),
            row("smart-turn decision, features and model", results["smart_turn"]?["decision_ms"], "ms"),
            row("espeak-ng synthesis time per second of speech", results["espeak"]?["real_time_factor"].map(Self.perMille), "ms"),
            row("local Whisper, end of utterance → transcript", results["whisper"]?["utterance_ms"], "ms"),
            row("local voice (hibari-tts over HTTP) first audio", results["voice"]?["first_audio_ms"], "ms"),
            row("local voice synthesis time per second of speech", results["voice"]?["real_time_factor"].map(Self.perMille), "ms"),
            row("local LLM first token", results["llm"]?["first_token_ms"], "ms"),
            row("local LLM first sentence (or clause)", results["llm"]?["first_sentence_ms"], "ms"),
            row("local LLM tokens per second", results["llm"]?["tokens_per_second"], "tokens/s"),
        ].joined(separator: "\n")
    }
}
