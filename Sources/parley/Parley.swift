import ArgumentParser

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A real-time voice agent server.",
        subcommands: [Serve.self, Talk.self]
    )
}
