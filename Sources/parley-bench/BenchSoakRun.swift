import AsyncHTTPClient
import Foundation
import Logging
import ParleyTesting

#if canImport(Glibc)
import Glibc
#endif

/// One `parley-bench soak` run: chaotic fake providers and calm local fallbacks in this process,
/// `parley serve` as a child process pointed at them, a warm-up, the server's baseline, the
/// churn, the settle, and the server again.
struct BenchSoakRun {
    static let question = CapacityRun.question
    static let reply = CapacityRun.reply
    static let fallbackReply = "The local model says it is sunny and warm today."
    /// Warm-up sessions before the baseline is read: the first sessions allocate caches and pools.
    static let warmUpSessions = 3
    /// The longest wait for the server to report no session after the churn.
    static let settleLimit: Duration = .seconds(30)
    /// After that, the longest wait for files, threads and children to come back.
    static let releaseLimit: Duration = .seconds(15)

    /// The provider chains for `parley serve`.
    struct Chains: Sendable {
        var stt: String
        var llm: String
        var tts: String
    }

    let duration: Duration
    let sessions: Int
    let seed: UInt64
    let faultRate: Double
    let fallbackFaultRate: Double
    let chains: Chains
    let answerTimeout: Duration

    /// Runs the soak and reports what it found.
    func measure(httpClient: HTTPClient) async throws -> BenchSoakReport {
        var recogniser = FakeDeepgramServer.Configuration(apiKey: CapacityRun.keys["DEEPGRAM_API_KEY"]!, utterances: [Self.question])
        recogniser.repeatsUtterances = true
        recogniser.recordsTraffic = false
        recogniser.emptyFinalsEvery = .seconds(3)
        recogniser.randomFaults = faults(rate: faultRate, stream: 1)
        let deepgram = recogniser
        var chat = FakeOpenAIServer.Configuration(apiKey: CapacityRun.keys["GROQ_API_KEY"]!)
        chat.reply = { _ in Self.reply }
        chat.firstTokenDelay = CapacityRun.llmFirstToken
        chat.recordsRequests = false
        chat.randomFaults = faults(rate: faultRate, stream: 2)
        let groq = chat
        var speech = FakeElevenLabsServer.Configuration(
            apiKey: CapacityRun.keys["ELEVENLABS_API_KEY"]!, durationPerCharacter: .milliseconds(30), firstByteDelay: CapacityRun.ttsFirstByte)
        speech.recordsAudio = false
        speech.randomFaults = faults(rate: faultRate, stream: 3)
        let elevenLabs = speech
        // The local fallbacks: one OpenAI-compatible server for transcription and chat, as a
        // faster-whisper and a llama.cpp server would be.
        var fallback = FakeOpenAIServer.Configuration()
        fallback.reply = { _ in Self.fallbackReply }
        fallback.transcripts = [Self.question]
        fallback.firstTokenDelay = .milliseconds(50)
        fallback.recordsRequests = false
        fallback.randomFaults = fallbackFaultRate > 0 ? faults(rate: fallbackFaultRate, stream: 4) : nil
        let local = fallback
        return try await FakeDeepgramServer.run(deepgram) { deepgram in
            try await FakeOpenAIServer.run(groq) { groq in
                try await FakeElevenLabsServer.run(elevenLabs) { elevenLabs in
                    try await FakeOpenAIServer.run(local) { local in
                        let fakes = Fakes(deepgram: deepgram, groq: groq, elevenLabs: elevenLabs, local: local)
                        return try await soak(fakes, httpClient: httpClient)
                    }
                }
            }
        }
    }

    /// The running fakes.
    struct Fakes: Sendable {
        let deepgram: FakeDeepgramServer.Running
        let groq: FakeOpenAIServer.Running
        let elevenLabs: FakeElevenLabsServer
        let local: FakeOpenAIServer.Running

        /// The HTTP providers' ports, whose idle keep-alive connections the server may keep.
        var pooledPorts: Set<Int> { Set([groq.baseURL, local.baseURL].compactMap { URL(string: $0)?.port }) }

        /// Random faults acted out, by fake and kind.
        var faults: [String: [FakeRandomFaults.Kind: Int]] {
            [
                "deepgram": deepgram.randomFaultCounts, "groq": groq.randomFaultCounts, "elevenlabs": elevenLabs.randomFaultCounts,
                "local": local.randomFaultCounts,
            ]
        }
    }

    private func faults(rate: Double, stream: UInt64) -> FakeRandomFaults {
        // Each fake draws from its own sequence, so one fake's traffic does not shift another's faults.
        FakeRandomFaults(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ stream, rate: rate)
    }

    private func soak(_ fakes: Fakes, httpClient: HTTPClient) async throws -> BenchSoakReport {
        let environment = CapacityRun.keys.merging([
            "DEEPGRAM_URL": fakes.deepgram.baseURL, "GROQ_BASE_URL": fakes.groq.groqBaseURL, "ELEVENLABS_URL": fakes.elevenLabs.baseURL,
        ]) { $1 }
        let logPath = FileManager.default.temporaryDirectory.path + "/parley-soak-\(getpid()).log"
        let server = try await ServerProcess.start(
            arguments: [
                "--stt", chains.stt, "--llm", chains.llm, "--tts", chains.tts,
                "--stt-url", fakes.local.baseURL, "--llm-url", fakes.local.baseURL,
                "--max-sessions", "\(max(200, 2 * sessions))", "--log-level", "info",
                // Every simulated caller comes from 127.0.0.1, and a vanished one's slot is freed
                // only when the server notices the dead connection.
                "--max-connections-per-address", "\(max(1000, 4 * sessions))",
            ],
            environment: environment, logPath: logPath)
        var report = BenchSoakReport(
            minutes: duration.seconds / 60, sessions: sessions, seed: seed, faultRate: faultRate, chains: chains, logPath: logPath)
        do {
            try await server.waitUntilReady(httpClient: httpClient)
        } catch {
            await server.stop()
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            let tail = log.split(separator: "\n").suffix(5).joined(separator: "\n")
            throw BenchError(
                "\(error)\n\(tail)\n(a parley without provider chains refuses `--stt deepgram,local`: "
                    + "soak it with --stt deepgram --llm groq --tts elevenlabs)")
        }
        let watch = BenchSoakWatch()
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask { await watch.watch(server, httpClient: httpClient) }
                try await phases(server, fakes: fakes, watch: watch, report: &report, httpClient: httpClient)
                group.cancelAll()
            }
        } catch {
            // A server that died is the finding, not a failure of the bench.
            guard server.termination != nil else {
                await server.stop()
                throw error
            }
        }
        report.watch = watch.snapshot
        if report.watch.crash == nil, let ended = server.termination { report.watch.crash = ended }
        await server.stop()
        report.shutdown = server.termination
        report.faults = fakes.faults
        report.logLevels = Self.levels(inLog: logPath)
        return report
    }

    private func phases(
        _ server: ServerProcess, fakes: Fakes, watch: BenchSoakWatch, report: inout BenchSoakReport, httpClient: HTTPClient
    ) async throws {
        let warmUp = BenchSoakScript(kind: .talk, pause: .milliseconds(300), questions: 1, actAfter: .zero, midQuestion: false)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<Self.warmUpSessions {
                group.addTask { _ = await BenchSoakClient(port: server.port, script: warmUp, answerTimeout: answerTimeout).run() }
            }
        }
        try await settle(server, httpClient: httpClient)
        try await Task.sleep(for: .seconds(2))
        report.before = try await snapshot(server, fakes: fakes, httpClient: httpClient)
        let tally = BenchSoakTally()
        let started = ContinuousClock.now
        await churn(server, until: started + duration, tally: tally, watch: watch)
        report.churned = ContinuousClock.now - started
        report.counts = tally.snapshot
        guard !watch.crashed else { return }
        let settleStart = ContinuousClock.now
        try await settle(server, httpClient: httpClient)
        // Files and threads of the last sessions are released just after they are counted out.
        let before = report.before
        let deadline = ContinuousClock.now + Self.releaseLimit
        try await Task.sleep(for: .seconds(2))
        while let probe = server.probe(pooledPorts: fakes.pooledPorts), let before, !BenchSoakReport.released(probe, from: before.probe),
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(500))
        }
        report.settled = ContinuousClock.now - settleStart
        report.after = try await snapshot(server, fakes: fakes, httpClient: httpClient)
    }

    /// Keeps `sessions` sessions running until `end`, each slot drawing its scripts from its own
    /// seeded sequence; a session already running at `end` finishes (within its own deadline).
    private func churn(_ server: ServerProcess, until end: ContinuousClock.Instant, tally: BenchSoakTally, watch: BenchSoakWatch) async {
        let sessions = self.sessions
        let seed = self.seed
        let answerTimeout = self.answerTimeout
        await withTaskGroup(of: Void.self) { group in
            for slot in 0..<sessions {
                group.addTask {
                    var generator = SplitMix64(seed: seed &+ UInt64(slot + 1) &* 0xD1B5_4A32_D192_ED03)
                    // Slots start spread over 2 s, not as one burst.
                    try? await Task.sleep(for: .milliseconds(2000 * slot / sessions))
                    while ContinuousClock.now < end && !watch.crashed {
                        let script = BenchSoakScript.draw(using: &generator)
                        let result = await BenchSoakClient(port: server.port, script: script, answerTimeout: answerTimeout).run()
                        tally.add(script.kind, end: result.end, reason: result.reason, state: result.state)
                        try? await Task.sleep(for: .milliseconds(Int.random(in: 50...500, using: &generator)))
                    }
                }
            }
        }
    }

    /// Counts the log's lines by level (swift-log's default format: a timestamp, then the level).
    static func levels(inLog path: String) -> [String: Int] {
        guard let log = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var levels: [String: Int] = [:]
        for line in log.split(separator: "\n") {
            let words = line.split(separator: " ", maxSplits: 2)
            guard words.count > 1, Logger.Level(rawValue: String(words[1])) != nil else { continue }
            levels[String(words[1]), default: 0] += 1
        }
        return levels
    }

    /// Waits until the server reports no session, for at most ``settleLimit``.
    private func settle(_ server: ServerProcess, httpClient: HTTPClient) async throws {
        let deadline = ContinuousClock.now + Self.settleLimit
        while try await server.healthSessions(httpClient: httpClient) > 0 {
            guard ContinuousClock.now < deadline else { return }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    private func snapshot(_ server: ServerProcess, fakes: Fakes, httpClient: HTTPClient) async throws -> BenchSoakReport.Snapshot {
        guard let probe = server.probe(pooledPorts: fakes.pooledPorts) else {
            throw BenchError("parley serve exited during the run; see \(server.logPath)")
        }
        let metrics = try await server.metrics(httpClient: httpClient)
        return BenchSoakReport.Snapshot(
            probe: probe, sessions: try await server.healthSessions(httpClient: httpClient), metrics: metrics.samples,
            gauges: metrics.gauges)
    }
}
