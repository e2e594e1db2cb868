import ArgumentParser

/// `parley bench`: reproducible measurements of Parley's own latency and of the embedded engines.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Parley's orchestration overhead, its capacity and the embedded engines.",
        subcommands: [BenchOverhead.self, BenchCapacity.self, BenchEngines.self])
}
