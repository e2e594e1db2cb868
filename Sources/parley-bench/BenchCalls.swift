import ArgumentParser
import AsyncHTTPClient
import Foundation
import ParleyCore
import ParleyServer
import ParleyTesting

#if canImport(Glibc)
import Glibc
#endif

/// `parley-bench calls`: phone calls through `/twilio` against fakes with realistic latencies.
struct BenchCalls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calls",
        abstract: "Run N simulated Twilio phone calls against one `parley serve` with fake providers.",
        discussion: """
            Each call is a fake Twilio Media Streams client in real time (20 ms μ-law frames; Parley's \
            media played at 8000 bytes/s, marks echoed when reached): a question, the reply, speech over \
            it after 1 s (a barge-in that becomes the next question), that reply heard out, a pause, and \
            again. The fake Deepgram ends utterances after 300 ms of silence, the fake Groq's first token \
            takes 150 ms and each later word --token-ms, the fake ElevenLabs' first audio 150 ms. \
            Reported: voice to voice at the caller (last question frame sent → first reply media) and \
            what it takes beyond the providers' floor, speech over a reply → `clear`, old media after a \
            `clear`, and the server's CPU.
            """)

    @Option(help: "Simultaneous calls.")
    var calls = 50

    @Option(help: "Seconds measured, after the calls are connected and talking.")
    var duration = 60

    @Option(name: .customLong("token-ms"), help: "Milliseconds between the fake LLM's words after the first.")
    var tokenMilliseconds = 12

    @Option(name: .customLong("first-chunk-words"), help: "Passed to `parley serve` (0: whole sentences to text-to-speech).")
    var firstChunkWords: Int?

    @Option(
        name: .customLong("tts-handshake-ms"),
        help: "Milliseconds the fake ElevenLabs takes to answer a WebSocket upgrade: TCP, TLS and the upgrade to a distant provider (default 0).")
    var ttsHandshakeMilliseconds = 0

    @Option(name: .customLong("serve-arg"), help: "An argument for `parley serve` (repeat for each: --serve-arg=--output-batch=0).")
    var serveArguments: [String] = []

    @Flag(
        help:
            "Callers speak (espeak-ng sentences at 8 kHz) instead of tones, and the server runs its defaults: the Silero VAD and smart-turn when installed."
    )
    var speech = false

    @OptionGroup(title: "Cores")
    var cpus: CPUPinning

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard (1...2000).contains(calls) else { throw ValidationError("--calls must be 1…2000") }
        guard (5...3600).contains(duration) else { throw ValidationError("--duration must be 5…3600 seconds") }
        guard (0...200).contains(tokenMilliseconds) else { throw ValidationError("--token-ms must be 0…200") }
        guard (0...2000).contains(ttsHandshakeMilliseconds) else { throw ValidationError("--tts-handshake-ms must be 0…2000") }
    }

    func run() async throws {
        ParleyLogging.bootstrap(.error)
        try BenchCapacity.raiseFileLimit(to: 4 * calls + 256)
        try await cpus.pinGenerator()
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let run = CallsRun(
            calls: calls, duration: .seconds(duration), tokenDelay: .milliseconds(tokenMilliseconds),
            ttsHandshake: .milliseconds(ttsHandshakeMilliseconds), firstChunkWords: firstChunkWords,
            serveArguments: serveArguments, audio: speech ? try await .spoken() : .tones, cpus: cpus)
        let measurement: CallsMeasurement
        do {
            measurement = try await run.measure(httpClient: httpClient)
            try await httpClient.shutdown()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        print(json ? measurement.json.serialized : measurement.table)
        if !measurement.passed { throw ExitCode(1) }
    }
}

/// One `parley-bench calls` run: fakes in this process, `parley serve` as a child, the calls.
struct CallsRun {
    static let endpointing: Duration = .milliseconds(300)
    /// A spoken answer that opens with a clause (5 words), as voice replies often do.
    static let reply = "Right now in the city, it is sunny and warm. There is a light breeze from the west, so enjoy your afternoon."

    let calls: Int
    let duration: Duration
    let tokenDelay: Duration
    var ttsHandshake: Duration = .zero
    let firstChunkWords: Int?
    let serveArguments: [String]
    let audio: CallClient.Audio
    /// The cores of the server and of this process (`--server-cpus`, `--generator-cpus`).
    var cpus = CPUPinning()

    /// The providers' own time from the end of the question to the first reply audio: the
    /// endpointing silence, the LLM's first token and the words until the first piece for
    /// text-to-speech is complete, and the TTS's first audio.
    var floor: Duration {
        let clauseWords = firstChunkWords ?? SentenceChunker.defaultFirstClauseWords
        var chunker = SentenceChunker(firstClauseWords: clauseWords == 0 ? nil : clauseWords)
        var words = 0
        for piece in FakeOpenAIServer.contentPieces(Self.reply) + [" "] {
            words += 1
            if !chunker.push(piece).isEmpty { break }
        }
        // The piece after the boundary shows it ends there (a space), so count up to it.
        return Self.endpointing + CapacityRun.llmFirstToken + tokenDelay * (words - 1) + CapacityRun.ttsFirstByte
    }

    func measure(httpClient: HTTPClient) async throws -> CallsMeasurement {
        try await BenchFakes.run(reply: Self.reply, tokenDelay: tokenDelay, ttsHandshake: ttsHandshake) { environment in
            let logPath = FileManager.default.temporaryDirectory.path + "/parley-calls-\(getpid())-\(calls).log"
            var arguments = [
                "--stt", "deepgram", "--llm", "groq", "--tts", "elevenlabs", "--log-level", "info",
                "--max-sessions", "\(max(1000, calls + 10))", "--max-connections-per-address", "\(max(1000, calls + 10))",
            ]
            if let firstChunkWords { arguments += ["--first-chunk-words", "\(firstChunkWords)"] }
            arguments += serveArguments
            let server = try await ServerProcess.start(
                arguments: arguments, environment: environment, logPath: logPath, speakingCallers: audio.isSpeech, cpus: cpus.server)
            do {
                try await server.waitUntilSettled(httpClient: httpClient)
                let measurement = try await drive(server, httpClient: httpClient)
                await server.stop()
                return measurement
            } catch {
                await server.stop()
                throw error
            }
        }
    }

    private func drive(_ server: ServerProcess, httpClient: HTTPClient) async throws -> CallsMeasurement {
        let spacing = min(Duration.milliseconds(20), .seconds(10) / calls)
        let start = ContinuousClock.now
        let activeStart = start + spacing * calls + .seconds(2)
        let spread = Duration.seconds(8)
        let measureStart = activeStart + spread + .seconds(4)
        let plan = CallClient.Plan(
            port: server.port, activeStart: activeStart, measureStart: measureStart, stop: measureStart + duration, spread: spread)
        let results = CallResults()
        var measurement = CallsMeasurement(calls: calls, duration: duration, floor: floor, tokenDelay: tokenDelay, cpus: cpus)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            for id in 0..<calls {
                group.addTask {
                    try await Task.sleep(until: start + spacing * id, clock: .continuous)
                    await CallClient(id: id, plan: plan, audio: audio, results: results).run()
                }
            }
            try await Task.sleep(until: measureStart, clock: .continuous)
            let serverBefore = try server.requireUsage()
            let generatorBefore = ServerProcess.usage(of: getpid())
            try await Task.sleep(until: plan.stop, clock: .continuous)
            let serverAfter = try server.requireUsage()
            measurement.serverCPUSeconds = serverAfter.cpuSeconds - serverBefore.cpuSeconds
            if let before = generatorBefore, let after = ServerProcess.usage(of: getpid()) {
                measurement.generatorCPUSeconds = after.cpuSeconds - before.cpuSeconds
            }
            while try await group.next() != nil {}
        }
        measurement.samples = results.snapshot
        return measurement
    }
}

/// The figures of one `parley-bench calls` run.
struct CallsMeasurement {
    let calls: Int
    let duration: Duration
    let floor: Duration
    let tokenDelay: Duration
    /// The cores the server and the generator were pinned to, if they were.
    let cpus: CPUPinning
    var serverCPUSeconds = 0.0
    var generatorCPUSeconds = 0.0
    var samples = CallResults.Samples()

    var voiceToVoice: Percentiles { Percentiles(samples.voiceToVoice) }
    var beyondFloor: Percentiles { Percentiles(samples.voiceToVoice.map { $0 - floor.milliseconds }) }
    var clear: Percentiles { Percentiles(samples.clear) }
    var cpuPerSessionMinute: Double { serverCPUSeconds / (Double(calls) * duration.seconds / 60) }
    var errorCount: Int { samples.errors.values.reduce(0, +) }
    /// No errors, no old media after a `clear`, and some turns measured.
    var passed: Bool { errorCount == 0 && samples.staleMedia == 0 && !samples.voiceToVoice.isEmpty }

    var json: JSONValue {
        [
            "calls": .number(Double(calls)), "duration_s": .number(duration.seconds), "token_ms": .number(tokenDelay.milliseconds),
            "floor_ms": .number(floor.milliseconds), "voice_to_voice_ms": voiceToVoice.json, "beyond_floor_ms": beyondFloor.json,
            "speech_to_clear_ms": clear.json, "stale_media": .number(Double(samples.staleMedia)),
            "errors": .object(samples.errors.mapValues { .number(Double($0)) }),
            "server_cpu_cores": .number((serverCPUSeconds / duration.seconds * 1000).rounded() / 1000),
            "server_cpu_s_per_session_minute": .number((cpuPerSessionMinute * 1000).rounded() / 1000),
            "generator_cpu_cores": .number((generatorCPUSeconds / duration.seconds * 1000).rounded() / 1000),
            "server_cpus": cpus.server.map { .string($0) } ?? .null,
            "generator_cpus": cpus.generator.map { .string($0) } ?? .null,
            "passed": .bool(passed),
        ]
    }

    var table: String {
        let errors = samples.errors.isEmpty ? "none" : samples.errors.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; ")
        return """
            calls                         \(calls) over \(Int(duration.seconds)) s (LLM words \(Int(tokenDelay.milliseconds)) ms apart)
            voice to voice (caller)       \(voiceToVoice.line)  (\(samples.voiceToVoice.count) replies)
            providers' floor              \(Int(floor.milliseconds)) ms (endpointing 300 + first token 150 + first piece's words + first audio 150)
            beyond the floor              \(beyondFloor.line)
            speech over a reply → clear   \(clear.line)  (\(samples.clear.count) barge-ins)
            old media after a clear       \(samples.staleMedia)
            errors                        \(errors)
            server CPU                    \(String(format: "%.2f", serverCPUSeconds / duration.seconds)) of a core, \(String(format: "%.3f", cpuPerSessionMinute)) s per session-minute
            generator CPU                 \(String(format: "%.2f", generatorCPUSeconds / duration.seconds)) of a core
            cores                         the server \(cpus.server ?? "any"), the generator \(cpus.generator ?? "any")
            verdict                       \(passed ? "pass" : "FAIL")
            """
    }
}
