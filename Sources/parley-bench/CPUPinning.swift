import ArgumentParser
import Foundation
import Subprocess

/// `--server-cpus` and `--generator-cpus`: the cores the server and the load generator may run
/// on, so that the two need not share them.
///
/// On this project's 2-core machine the generator (the callers and the fake providers) takes
/// about as much CPU as the server and runs on the same cores; the server's figures then include
/// what sharing costs. On a larger machine, `--server-cpus 0-1 --generator-cpus 2-15` measures a
/// 2-core server with a generator that cannot slow it. Pinning is util-linux's `taskset`
/// (installed on every Debian system) rather than `sched_setaffinity`, which Swift's Glibc module
/// does not export; every thread of the process is pinned, and the threads it starts later
/// inherit the mask.
struct CPUPinning: ParsableArguments {
    @Option(
        name: .customLong("server-cpus"),
        help: "CPUs for `parley serve`, as taskset reads them (0 / 0-1 / 0,2); default: any.")
    var server: String?

    @Option(
        name: .customLong("generator-cpus"),
        help: "CPUs for this process: the callers and the fake providers (2-15); default: any.")
    var generator: String?

    func validate() throws {
        for (list, option) in [(server, "--server-cpus"), (generator, "--generator-cpus")] {
            guard let list else { continue }
            guard Self.isCPUList(list) else {
                throw ValidationError("\(option) must be CPU numbers and ranges separated by commas, such as 0 or 0-1 or 0,2; got \(list)")
            }
        }
    }

    /// Numbers and ascending ranges, separated by commas.
    static func isCPUList(_ list: String) -> Bool {
        let items = list.split(separator: ",", omittingEmptySubsequences: false)
        return !items.isEmpty && list.count <= 200
            && items.allSatisfy { item in
                let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
                let numbers = bounds.compactMap { $0.allSatisfy(\.isASCII) ? Int($0) : nil }
                return (1...2).contains(bounds.count) && numbers.count == bounds.count && numbers.allSatisfy { $0 >= 0 }
                    && numbers.first! <= numbers.last!
            }
    }

    /// Pins this process (the generator) if `--generator-cpus` was given.
    func pinGenerator() async throws {
        if let generator { try await Self.pin(getpid(), to: generator, what: "the load generator") }
    }

    /// Pins every thread of process `pid` to `cpus`.
    static func pin(_ pid: Int32, to cpus: String, what: String) async throws {
        let status: TerminationStatus
        let message: String
        do {
            let result = try await run(
                .name("taskset"), arguments: ["--all-tasks", "--cpu-list", "--pid", cpus, "\(pid)"], output: .discarded,
                error: .string(limit: 4096))
            status = result.terminationStatus
            message = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw BenchError("cannot run taskset to pin \(what) to CPUs \(cpus) (util-linux): \(error)")
        }
        guard status.isSuccess else {
            throw BenchError("cannot pin \(what) to CPUs \(cpus): \(message.isEmpty ? "taskset \(status)" : message)")
        }
    }
}
