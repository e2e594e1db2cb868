import ArgumentParser
import AsyncHTTPClient
import Foundation
import ParleyCore
import ParleyServer

/// `parley-bench capacity`: how many real-time conversations one `parley serve` carries.
struct BenchCapacity: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capacity",
        abstract: "Run N simulated real-time callers against one `parley serve` with fake providers.",
        discussion: """
            Each caller streams 20 ms frames in real time: a spoken question, silence, the reply, speech \
            over the next reply (barge-in), that reply heard out, a pause, and again. The fake Deepgram \
            ends utterances after 300 ms of silence, the fake Groq's first token takes 150 ms and the \
            fake ElevenLabs' first audio 150 ms. --ramp doubles N from --sessions until a step fails \
            (p99 overhead over 50 ms, an error or stale audio), then bisects.
            """)

    @Option(help: "Simulated callers (with --ramp: the first step).")
    var sessions = 100

    @Flag(help: "Find the largest number of sessions that keeps p99 overhead ≤ 50 ms with no errors.")
    var ramp = false

    @Option(help: "Seconds measured per run, after the callers are connected and talking (default 60, 30 per --ramp step).")
    var duration: Int?

    @Option(name: .customLong("ramp-limit"), help: "The most sessions --ramp tries.")
    var rampLimit = 2000

    @Option(help: "Times the callers connect, talk and hang up against the same server, to show memory comes back each time.")
    var rounds = 1

    @Option(name: .customLong("serve-arg"), help: "An argument for `parley serve` (repeat for each: --serve-arg=--output-batch=0).")
    var serveArguments: [String] = []

    @Option(
        help:
            "Seconds every caller streams only quiet frames once all are connected, before the talking starts; the server's CPU then is reported as the idle cost."
    )
    var idle = 4

    @OptionGroup(title: "Cores")
    var cpus: CPUPinning

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard (1...5000).contains(sessions) else { throw ValidationError("--sessions must be 1…5000") }
        guard (1...5000).contains(rampLimit) else { throw ValidationError("--ramp-limit must be 1…5000") }
        if let duration { guard (5...3600).contains(duration) else { throw ValidationError("--duration must be 5…3600 seconds") } }
        guard (2...600).contains(idle) else { throw ValidationError("--idle must be 2…600 seconds") }
        guard (1...10).contains(rounds) else { throw ValidationError("--rounds must be 1…10") }
        if ramp && rounds > 1 { throw ValidationError("--rounds is for a single run, not --ramp") }
    }

    func run() async throws {
        ParleyLogging.bootstrap(.error)
        try Self.raiseFileLimit(to: 4 * max(sessions, ramp ? rampLimit : 0) + 256)
        let measured = Duration.seconds(duration ?? (ramp ? 30 : 60))
        try await cpus.pinGenerator()
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await measure(for: measured, httpClient: httpClient)
            try await httpClient.shutdown()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
    }

    private func measure(for measured: Duration, httpClient: HTTPClient) async throws {
        guard ramp else {
            let run = CapacityRun(
                sessions: sessions, duration: measured, rounds: rounds, serveArguments: serveArguments, idle: .seconds(idle), cpus: cpus)
            let measurements = try await run.measure(httpClient: httpClient)
            if json {
                print(measurements.count == 1 ? measurements[0].json.serialized : JSONValue.array(measurements.map(\.json)).serialized)
            } else {
                print(
                    measurements.enumerated().map { round, measurement in
                        (measurements.count > 1 ? "round \(round + 1) of \(measurements.count)\n" : "") + measurement.table
                    }.joined(separator: "\n\n"))
            }
            if !measurements.allSatisfy(\.passed) { throw ExitCode(1) }
            return
        }
        var steps: [CapacityMeasurement] = []
        func step(_ count: Int) async throws -> Bool {
            if !json {
                print("… \(count) sessions")
                fflush(nil)  // every output stream: progress shows even when stdout is a file
            }
            let run = CapacityRun(sessions: count, duration: measured, serveArguments: serveArguments, idle: .seconds(idle), cpus: cpus)
            let measurement = try await run.measure(httpClient: httpClient)[0]
            steps.append(measurement)
            if !json {
                print(measurement.table + "\n")
                fflush(nil)
            }
            return measurement.passed
        }
        var passing: Int?
        var failing: Int?
        var count = min(sessions, rampLimit)
        while count <= rampLimit {
            if try await step(count) {
                passing = count
            } else {
                failing = count
                break
            }
            if count == rampLimit { break }
            count = min(count * 2, rampLimit)
        }
        // Bisect between the last passing and the first failing step, to within 10 % of it.
        while let low = passing, let high = failing, high - low > max(10, low / 10) {
            let middle = (low + high) / 2
            if try await step(middle) { passing = middle } else { failing = middle }
        }
        if json {
            print(
                JSONValue.object([
                    "largest_passing_sessions": passing.map { .number(Double($0)) } ?? .null,
                    "steps": .array(steps.map(\.json)),
                ]).serialized)
        } else if let passing {
            print("largest passing: \(passing) sessions" + (failing.map { " (\($0) failed)" } ?? " (the ramp limit)"))
        } else {
            print("no step passed; the first, \(steps.first?.sessions ?? sessions) sessions, failed")
        }
    }

    /// Each session holds a client socket here and a caller and provider sockets in the server.
    static func raiseFileLimit(to wanted: Int) throws {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        guard limit.rlim_cur < rlim_t(wanted) else { return }
        guard limit.rlim_max >= rlim_t(wanted) else {
            throw ValidationError("\(wanted) open files are needed but the hard limit is \(limit.rlim_max); raise `ulimit -Hn`")
        }
        limit.rlim_cur = rlim_t(wanted)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
