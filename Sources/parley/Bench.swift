import ArgumentParser

/// `parley bench`: reproducible measurements of Parley's own latency and of the embedded engines.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Parley's orchestration overhead and the embedded engines.",
        subcommands: [BenchOverhead.self, BenchEngines.self])
}
