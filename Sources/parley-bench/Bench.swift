import ArgumentParser

/// `parley-bench`: reproducible measurements of Parley's own latency, its capacity and the
/// embedded engines. A separate executable so that the shipped `parley` carries no test fakes.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-bench",
        abstract: "Measure Parley's orchestration overhead, its capacity and the embedded engines.",
        subcommands: [BenchOverhead.self, BenchCapacity.self, BenchEngines.self])
}
