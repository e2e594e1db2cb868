import ArgumentParser
import Foundation
import Logging
import ParleyClient
import ParleyCore
import ParleyServer

struct Talk: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Speak a WAV file to a Parley server in real time and print each turn as JSON.")

    @Option(help: "The server's voice WebSocket.")
    var url = "ws://127.0.0.1:8080/ws"

    @Option(help: "The question to speak: a WAV file (8–48 kHz, 16-bit PCM or float, mono or stereo).")
    var wav: String

    @Option(help: "Write the agent's reply audio to this WAV file.")
    var out: String?

    @Option(help: "How many times to speak the question, one turn each.")
    var turns = 1

    @Option(name: .customLong("timeout"), help: "Seconds to wait for each reply.")
    var timeout = 60

    @Option(help: "A session token from POST /v1/session-tokens, or the server's PARLEY_API_KEY (default: $PARLEY_TOKEN).")
    var token: String?

    func validate() throws {
        guard turns >= 1, turns <= 100 else { throw ValidationError("--turns must be 1…100") }
        guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1 second") }
        guard url.hasPrefix("ws://") || url.hasPrefix("wss://") else {
            throw ValidationError("--url must be a ws:// or wss:// URL, such as ws://127.0.0.1:8080/ws")
        }
    }

    func run() async throws {
        ParleyLogging.bootstrap(.warning)
        guard let bytes = FileManager.default.contents(atPath: wav) else {
            throw TalkError("cannot read \(wav)")
        }
        let file: WAVFile
        do {
            file = try WAVFile(bytes: [UInt8](bytes))
        } catch {
            throw TalkError("\(wav): \(error)")
        }
        guard (8000...48000).contains(file.sampleRate) else {
            throw TalkError("\(wav): sample rate \(file.sampleRate) Hz is outside 8000…48000 Hz")
        }
        guard file.duration >= 0.1 else { throw TalkError("\(wav): too short (\(file.duration) s)") }
        guard file.duration <= 120 else { throw TalkError("\(wav): too long (\(Int(file.duration)) s; at most 120 s)") }

        let client = TalkClient(
            options: .init(url: url, turns: turns, replyTimeout: .seconds(timeout), token: token ?? Self.environment("PARLEY_TOKEN")),
            logger: Logger(label: "parley.talk"))
        let result: TalkClient.Result
        do {
            result = try await client.run(speech: file.mono, sampleRate: file.sampleRate) { turn in
                FileHandle.standardOutput.write(Data((turn.json.serialized + "\n").utf8))
            }
        } catch let failure as TalkClient.Failure {
            throw TalkError(failure.description)
        }
        if let out {
            let encoded = WAVFile.encodePCM16(result.audio, sampleRate: result.sampleRate)
            guard FileManager.default.createFile(atPath: out, contents: Data(encoded)) else {
                throw TalkError("cannot write \(out)")
            }
        }
    }
}

/// A failure at run time: ArgumentParser prints `Error: <message>` and exits with status 1.
struct TalkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
