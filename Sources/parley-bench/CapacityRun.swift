import AsyncHTTPClient
import Foundation
import ParleyTesting

#if canImport(Glibc)
import Glibc
#endif

/// One `parley-bench capacity` measurement: a fresh `parley serve` child process on the three
/// cloud providers, reached at fake Deepgram, Groq and ElevenLabs servers in this process that
/// answer with realistic latencies, and `sessions` simulated callers streaming real-time audio.
struct CapacityRun {
    static let keys = ["DEEPGRAM_API_KEY": "bench-dg", "GROQ_API_KEY": "bench-groq", "ELEVENLABS_API_KEY": "bench-xi"]
    /// The fake LLM's time to first token and the fake TTS's time to first audio.
    static let llmFirstToken: Duration = .milliseconds(150)
    static let ttsFirstByte: Duration = .milliseconds(150)
    static let question = "What is the weather like today?"
    /// About 2.7 s of speech at the fake's 30 ms per character.
    static let reply = "It is sunny and warm today. There is a light breeze from the west, so enjoy your afternoon."

    let sessions: Int
    let duration: Duration
    /// Times the callers connect, talk and hang up against the same server (memory must come
    /// back to the same level after each).
    var rounds = 1
    /// More arguments for `parley serve` (`--serve-arg`).
    var serveArguments: [String] = []
    /// How long every caller streams only quiet frames once all are connected, before the first
    /// starts talking (`--idle`); the server's CPU over that window is the idle cost.
    var idle: Duration
    /// The cores of the server and of this process (`--server-cpus`, `--generator-cpus`).
    var cpus = CPUPinning()

    /// One measurement per round.
    func measure(httpClient: HTTPClient) async throws -> [CapacityMeasurement] {
        try await BenchFakes.run(reply: Self.reply) { environment in
            let logPath =
                FileManager.default.temporaryDirectory.path
                + "/parley-capacity-\(getpid())-\(sessions).log"
            let server = try await ServerProcess.start(
                arguments: [
                    "--stt", "deepgram", "--llm", "groq", "--tts", "elevenlabs",
                    "--max-sessions", "\(max(1000, sessions + 10))", "--log-level", "info",
                    // Every simulated caller comes from 127.0.0.1.
                    "--max-connections-per-address", "\(max(1000, sessions + 10))",
                ] + serveArguments,
                environment: environment, logPath: logPath, cpus: cpus.server)
            do {
                try await server.waitUntilSettled(httpClient: httpClient)
                let baseline = try server.requireUsage()
                var measurements: [CapacityMeasurement] = []
                for _ in 0..<rounds {
                    measurements.append(try await drive(server, baseline: baseline, httpClient: httpClient))
                }
                await server.stop()
                return measurements
            } catch {
                await server.stop()
                throw error
            }
        }
    }

    /// Connects the callers, lets them idle, talk and hang up, and samples the server meanwhile.
    private func drive(_ server: ServerProcess, baseline: ServerProcess.Usage, httpClient: HTTPClient) async throws -> CapacityMeasurement {
        // Connections are spread over at most 10 s, as callers arrive, not as one burst.
        let spacing = min(Duration.milliseconds(20), .seconds(10) / sessions)
        let start = ContinuousClock.now
        let connected = start + spacing * sessions
        let activeStart = connected + idle
        let spread = Duration.seconds(8)
        // Measuring starts once every caller is in its cycle.
        let measureStart = activeStart + spread + .seconds(2)
        let plan = CapacityClient.Plan(
            port: server.port, activeStart: activeStart, measureStart: measureStart, stop: measureStart + duration, spread: spread)
        let results = CapacityResults(llmFirstToken: Self.llmFirstToken, ttsFirstByte: Self.ttsFirstByte)

        var measurement = CapacityMeasurement(sessions: sessions, duration: duration, baseline: baseline)
        measurement.cpus = cpus
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            for id in 0..<sessions {
                group.addTask {
                    try await Task.sleep(until: start + spacing * id, clock: .continuous)
                    await CapacityClient(id: id, plan: plan, results: results).run()
                }
            }
            // The idle window: from a second after the last caller connected (its handshake done)
            // to just before the first caller talks.
            let idleWindow = (start: connected + .seconds(1), end: activeStart - .milliseconds(500))
            try await Task.sleep(until: idleWindow.start, clock: .continuous)
            let idleBefore = try server.requireUsage()
            try await Task.sleep(until: idleWindow.end, clock: .continuous)
            let idleAfter = try server.requireUsage()
            measurement.idle = idleAfter
            measurement.idleCPUSeconds = idleAfter.cpuSeconds - idleBefore.cpuSeconds
            measurement.idleDuration = idleWindow.end - idleWindow.start
            measurement.connected = try await server.activeSessions(httpClient: httpClient)
            try await Task.sleep(until: measureStart, clock: .continuous)
            let serverBefore = try server.requireUsage()
            let generatorBefore = ServerProcess.usage(of: getpid())
            try await Task.sleep(until: plan.stop, clock: .continuous)
            let serverAfter = try server.requireUsage()
            measurement.active = serverAfter
            measurement.serverCPUSeconds = serverAfter.cpuSeconds - serverBefore.cpuSeconds
            if let before = generatorBefore, let after = ServerProcess.usage(of: getpid()) {
                measurement.generatorCPUSeconds = after.cpuSeconds - before.cpuSeconds
            }
            while try await group.next() != nil {}
        }
        measurement.samples = results.snapshot
        // Sessions wind down after their callers hang up (the recogniser's stream is closed
        // gracefully); memory is read once none is left.
        let deadline = ContinuousClock.now + .seconds(30)
        while try await server.activeSessions(httpClient: httpClient) > 0 {
            guard ContinuousClock.now < deadline else {
                throw BenchError("sessions were still open 30 s after every caller hung up; see \(server.logPath)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .seconds(2))
        measurement.after = try server.requireUsage()
        return measurement
    }
}

extension ServerProcess {
    /// Waits for `/health`, then a moment for start-up work (the first allocations, the provider
    /// health checks) to finish before the baseline is read.
    func waitUntilSettled(httpClient: HTTPClient) async throws {
        try await waitUntilReady(httpClient: httpClient)
        try await Task.sleep(for: .seconds(2))
    }

    func requireUsage() throws -> Usage {
        guard let usage else { throw BenchError("parley serve exited during the run; see \(logPath)") }
        return usage
    }
}
