import ArgumentParser

/// `parley-bench`: reproducible measurements of Parley's own latency, its capacity, the embedded
/// engines and a soak under provider faults. A separate executable so that the shipped `parley`
/// carries no test fakes.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-bench",
        abstract: "Measure Parley's orchestration overhead, its capacity, the embedded engines and its endurance under faults.",
        subcommands: [BenchOverhead.self, BenchCapacity.self, BenchCalls.self, BenchEngines.self, BenchSoak.self])
}
