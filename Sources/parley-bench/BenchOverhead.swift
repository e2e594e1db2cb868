import ArgumentParser
import Foundation
import HummingbirdWSClient
import Logging
import ParleyCore
import ParleyServer
import ParleyTesting
import Synchronization

/// `parley-bench overhead`: Parley's own time between the final transcript and the first agent
/// audio byte, with fake Deepgram, Groq and ElevenLabs servers on loopback that answer at once.
struct BenchOverhead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overhead",
        abstract: "Measure STT final → first agent audio byte sent, with instant fake providers on loopback.")

    @Option(help: "Turns to measure.")
    var turns = 100

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard (1...10000).contains(turns) else { throw ValidationError("--turns must be 1…10000") }
    }

    func run() async throws {
        ParleyLogging.bootstrap(.warning)
        let keys = ["DEEPGRAM_API_KEY": "bench-dg", "GROQ_API_KEY": "bench-groq", "ELEVENLABS_API_KEY": "bench-xi"]
        let question = "What is the weather like?"
        var recogniser = FakeDeepgramServer.Configuration(
            apiKey: keys["DEEPGRAM_API_KEY"]!, utterances: [String](repeating: question, count: turns))
        recogniser.idleTimeout = .seconds(60)
        let deepgram = recogniser
        var chat = FakeOpenAIServer.Configuration(apiKey: keys["GROQ_API_KEY"]!)
        chat.reply = { _ in "It is sunny." }
        let groq = chat
        let elevenLabs = FakeElevenLabsServer.Configuration(apiKey: keys["ELEVENLABS_API_KEY"]!, durationPerCharacter: .milliseconds(2))
        let turns = self.turns
        let timelines = try await FakeDeepgramServer.run(deepgram) { deepgram in
            try await FakeOpenAIServer.run(groq) { groq in
                try await FakeElevenLabsServer.run(elevenLabs) { elevenLabs in
                    var options = ParleyServer.Options()
                    options.engineLayoutPath = "/nonexistent"  // no local engine is needed
                    options.environment = keys.merging([
                        "DEEPGRAM_URL": deepgram.baseURL, "GROQ_BASE_URL": groq.groqBaseURL, "ELEVENLABS_URL": elevenLabs.baseURL,
                    ]) { $1 }
                    var configuration = ServerConfiguration(port: 0, webRoot: nil)
                    // The client sends each utterance at once, faster than real time, turn after turn.
                    configuration.limits.maximumMessagesPerSecond = 100_000
                    let server = ParleyServer(configuration: configuration, options: options, logger: Logger(label: "parley.bench"))
                    return try await server.withRunning { port in
                        try await BenchClient(port: port).talk(turns: turns)
                    }
                }
            }
        }
        let report = OverheadReport(timelines: timelines)
        print(json ? report.json.serialized : report.table)
    }
}

/// A client that speaks turn after turn as fast as the server takes them (the VAD and the fake
/// recogniser work on samples, not wall time) and collects each turn's server timeline.
struct BenchClient {
    let port: Int

    /// 600 ms of voice, then 500 ms of silence: one utterance that ends the turn.
    static let utterance: [Int16] = {
        let rate = 16000.0
        var samples = (0..<Int(0.6 * rate)).map { Int16(0.4 * 32767 * sin(2 * Double.pi * 220 * Double($0) / rate)) }
        samples += [Int16](repeating: 0, count: Int(0.5 * rate))
        return samples
    }()

    func talk(turns: Int) async throws -> [TurnTimeline] {
        let collected = Collected()
        try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/ws", configuration: .init(maxFrameSize: WireProtocol.maxFrameBytes),
            logger: Logger(label: "parley.bench.client")
        ) { inbound, outbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                group.addTask {
                    for try await message in inbound.messages(maxSize: WireProtocol.maxFrameBytes) {
                        guard case .text(let text) = message, let event = try? WireProtocol.decodeServerText(text) else { continue }
                        switch event {
                        case .turnEnd(let summary): collected.add(summary.timeline)
                        case .error(let error): throw ValidationError("the server reported \(error.code): \(error.message)")
                        default: continue
                        }
                    }
                }
                // Calibration silence for the VAD's noise floor.
                try await send([Int16](repeating: 0, count: 4800), outbound)
                for turn in 1...turns {
                    try await send(Self.utterance, outbound)
                    try await collected.wait(until: turn)
                }
                group.cancelAll()
            }
            try? await outbound.close(.normalClosure, reason: nil)
        }
        return collected.timelines
    }

    private func send(_ samples: [Int16], _ outbound: WebSocketOutboundWriter) async throws {
        for start in stride(from: 0, to: samples.count, by: 320) {
            let frame = samples[start..<min(samples.count, start + 320)]
            try await outbound.write(.binary(.init(bytes: PCM.littleEndianBytes(frame))))
        }
    }

    /// Timelines received so far, with a way to wait for the n-th.
    final class Collected: Sendable {
        private let state = Mutex<[TurnTimeline]>([])
        private let arrived = Mutex<[Int: CancellationSignal]>([:])

        func add(_ timeline: TurnTimeline) {
            let count = state.withLock {
                $0.append(timeline)
                return $0.count
            }
            arrived.withLock { $0.removeValue(forKey: count) }?.fire()
        }

        func wait(until count: Int) async throws {
            let signal = arrived.withLock { waiting in
                if let existing = waiting[count] { return existing }
                let signal = CancellationSignal()
                waiting[count] = signal
                return signal
            }
            if state.withLock({ $0.count }) >= count { return }
            try await withThrowingTaskGroup(of: Bool.self) { group in
                defer { group.cancelAll() }
                group.addTask {
                    await signal.wait()
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(30))
                    return false
                }
                guard try await group.next() == true else {
                    throw ValidationError("turn \(count) did not end within 30 s")
                }
            }
        }

        var timelines: [TurnTimeline] { state.withLock { $0 } }
    }
}
