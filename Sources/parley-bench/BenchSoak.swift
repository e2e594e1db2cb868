import ArgumentParser
import AsyncHTTPClient
import Foundation
import ParleyServer

/// `parley-bench soak`: sessions churning for minutes against one `parley serve` while the fake
/// providers fail at random; nothing may crash, leak or leave a caller without an answer.
struct BenchSoak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Churn sessions against `parley serve` while the fake providers fail at random; check for crashes and leaks.",
        discussion: """
            Keeps --sessions sessions running for --minutes, each acting out a random script in real time: \
            connect and leave, one question, a barge-in, a close frame mid-reply, a vanish (the TCP connection \
            dropped with no close frame), or a conversation of 2–3 turns. The fake Deepgram, Groq and \
            ElevenLabs misbehave on --fault-rate of their connections and requests (a 5xx or refused upgrade, \
            a connection dropped mid-stream, no first byte until the client's deadline, a slow first byte); \
            `local` in a chain is a calm fake OpenAI-compatible server (--stt-url, --llm-url) or espeak-ng. \
            Reports crashes, turns that got no answer, and the server's open files, threads, child processes \
            and memory before and after; exits 1 unless the server survived, every turn was answered and \
            everything came back to its baseline.
            """)

    @Option(help: "Minutes of churn; fractions allowed (0.5).")
    var minutes = 10.0

    @Option(help: "Sessions running at once.")
    var sessions = 20

    @Option(help: "Seed of the sessions' scripts and the fakes' faults.")
    var seed: UInt64 = 1

    @Option(name: .customLong("fault-rate"), help: "Probability that a connection or request to a cloud fake misbehaves.")
    var faultRate = 0.2

    @Option(name: .customLong("fallback-fault-rate"), help: "The same for the local fallback server (default: it always answers).")
    var fallbackFaultRate = 0.0

    @Option(help: "Speech-to-text chain for `parley serve --stt`.")
    var stt = "deepgram,local"

    @Option(help: "LLM chain for `parley serve --llm`.")
    var llm = "groq,local"

    @Option(help: "Text-to-speech chain for `parley serve --tts`.")
    var tts = "elevenlabs,local"

    @Option(name: .customLong("answer-timeout"), help: "Seconds a caller waits for an answer's first audio before the turn counts as failed.")
    var answerTimeout = 45

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard minutes >= 0.05 && minutes <= 24 * 60 else { throw ValidationError("--minutes must be 0.05…1440") }
        guard (1...500).contains(sessions) else { throw ValidationError("--sessions must be 1…500") }
        guard (0...1).contains(faultRate) else { throw ValidationError("--fault-rate must be 0…1") }
        guard (0...1).contains(fallbackFaultRate) else { throw ValidationError("--fallback-fault-rate must be 0…1") }
        guard (5...600).contains(answerTimeout) else { throw ValidationError("--answer-timeout must be 5…600 seconds") }
    }

    func run() async throws {
        ParleyLogging.bootstrap(.error)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let report: BenchSoakReport
        do {
            let soak = BenchSoakRun(
                duration: .milliseconds(Int64(minutes * 60_000)), sessions: sessions, seed: seed, faultRate: faultRate,
                fallbackFaultRate: fallbackFaultRate, chains: .init(stt: stt, llm: llm, tts: tts), answerTimeout: .seconds(answerTimeout))
            report = try await soak.measure(httpClient: httpClient)
            try await httpClient.shutdown()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        print(json ? report.json.serialized : report.table)
        if !report.passed { throw ExitCode(1) }
    }
}
