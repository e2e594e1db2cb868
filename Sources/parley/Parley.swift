import ArgumentParser
import ParleyServer

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A real-time voice agent server.",
        version: ParleyVersion.current,
        subcommands: [Serve.self, Talk.self]
    )
}
