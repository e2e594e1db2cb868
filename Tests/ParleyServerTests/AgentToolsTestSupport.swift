import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import ParleyCore
import ParleyProviders
import ParleyServer
import ParleyTesting
import Synchronization
import Testing

/// The application with tools: scripted speech-to-text, `languageModel`, the tone voice and
/// `tools` as the agent's static tool source; the tone voice speaks each character for
/// `speechPerCharacter`.
func makeToolApplication(
    languageModel: any LanguageModel, tools: [any AgentTool], transcripts: [String],
    session: SessionConfiguration = SessionConfiguration(), speechPerCharacter: Duration = .milliseconds(5)
) -> some ApplicationProtocol {
    let providers = SessionProviders(
        speechToText: ScriptedSpeechToText(transcripts: transcripts), languageModel: languageModel,
        textToSpeech: ToneTextToSpeech(durationPerCharacter: speechPerCharacter),
        tools: Toolbox(sources: [StaticToolSource(tools)]))
    return buildApplication(
        configuration: ServerConfiguration(port: 0, webRoot: nil, session: session, maximumSessions: 4),
        providers: providers, health: HealthMonitor(providers: providers), logger: Logger(label: "parley.test"))
}

/// The real OpenAI-compatible client, as Groq, against a running fake.
func groqModel(_ fake: FakeOpenAIServer.Running) -> OpenAICompatibleLanguageModel {
    let endpoint = OpenAICompatibleEndpoint(
        name: "groq", baseURL: fake.groqBaseURL, apiKey: "gsk_tools_server_test", httpClient: HTTPClient.shared,
        maximumRetryDelay: .seconds(1))
    return OpenAICompatibleLanguageModel(endpoint: endpoint, model: "openai/gpt-oss-20b", temperature: 0, maxTokens: 400)
}

/// What a webhook endpoint saw: each request, and when a held request's client went away.
final class WebhookLog: Sendable {
    struct Held: Sendable {
        let since: ContinuousClock.Instant
        let gone: ContinuousClock.Instant
    }
    private let state = Mutex<(requests: [FakeRequest], held: [Held])>(([], []))

    var requests: [FakeRequest] { state.withLock { $0.requests } }
    /// Held requests whose client closed the connection (or whose hold ran out).
    var held: [Held] { state.withLock { $0.held } }

    func record(_ request: FakeRequest) { state.withLock { $0.requests.append(request) } }
    func record(_ held: Held) { state.withLock { $0.held.append(held) } }

    /// Waits (polling, as a hang guard) until `condition` holds; returns whether it did.
    func wait(timeout: Duration = .seconds(10), until condition: (WebhookLog) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(self)
    }
}

/// A WebSocket conversation recorded at the wire level: the decoded events and each text frame's
/// JSON, and whether the server's close came before the client's.
final class WireConversation: Sendable {
    let received = RecordingSessionOutput()
    let inboundEnded = CancellationSignal()
    private let log = Mutex<[JSONValue]>([])

    /// The JSON of every text frame, in order.
    var json: [JSONValue] { log.withLock { $0 } }

    /// The text frames of `type`.
    func frames(ofType type: String) -> [JSONValue] { json.filter { $0["type"]?.stringValue == type } }

    /// Connects to `path`, runs `body`, then closes from the client side unless the server already
    /// closed; returns the conversation, the server's close frame, and whether the client closed.
    static func run(
        port: Int, path: String = "/ws",
        _ body: @escaping @Sendable (WebSocketOutboundWriter, WireConversation) async throws -> Void
    ) async throws -> (conversation: WireConversation, close: WebSocketCloseFrame?, clientClosed: Bool) {
        let conversation = WireConversation()
        let clientClosed = Mutex(false)
        let close = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)\(path)", configuration: WebSocketClientConfiguration(maxFrameSize: 1 << 22),
            logger: Logger(label: "wire")
        ) { inbound, outbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { conversation.inboundEnded.fire() }
                    // Audio frames carry no turn id: they belong to the last `agent.audio.start`.
                    var audioTurn = 0
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        switch message {
                        case .text(let text):
                            if let json = JSONValue.parse(text) { conversation.log.withLock { $0.append(json) } }
                            let event = try WireProtocol.decodeServerText(text)
                            if case .agentAudioStart(let turnID, _) = event { audioTurn = turnID }
                            if let event { try await conversation.received.send(event) }
                        case .binary(let buffer):
                            let samples = try buffer.readableBytesView.withUnsafeBytes { try WireProtocol.decodeAudio($0) }
                            try await conversation.received.send(.agentAudio(turnID: audioTurn, samples: samples))
                        }
                    }
                }
                try await body(outbound, conversation)
                if !conversation.inboundEnded.isFired {
                    clientClosed.withLock { $0 = true }
                    try? await outbound.close(.normalClosure, reason: nil)
                }
                try await group.waitForAll()
            }
        }
        return (conversation, close, clientClosed.withLock { $0 })
    }

    /// Waits until the server has closed the socket, up to `timeout`; returns whether it did.
    func waitForServerClose(timeout: Duration) async -> Bool {
        (try? await withThrowingTaskGroup(of: Bool.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                await self.inboundEnded.wait()
                return true
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            return try await group.next() ?? false
        }) ?? inboundEnded.isFired
    }
}

/// Predicates and accessors over session events.
enum Events {
    static func turnEnd(_ turnID: Int) -> @Sendable ([SessionEvent]) -> Bool {
        { events in summary(turnID, in: events) != nil }
    }

    static func summary(_ turnID: Int, in events: [SessionEvent]) -> TurnSummary? {
        for event in events {
            if case .turnEnd(let summary) = event, summary.turnID == turnID { return summary }
        }
        return nil
    }

    static func toolCalls(_ events: [SessionEvent]) -> [ToolCallEvent] {
        events.compactMap { if case .toolCall(let call) = $0 { call } else { nil } }
    }

    static func toolResults(_ events: [SessionEvent]) -> [ToolResultEvent] {
        events.compactMap { if case .toolResult(let result) = $0 { result } else { nil } }
    }

    /// The agent's text for `turnID`, joined from its deltas.
    static func agentText(_ turnID: Int, in events: [SessionEvent]) -> String {
        events.compactMap { if case .agentText(turnID, let delta) = $0 { delta } else { nil } }.joined()
    }

    static func index(of events: [SessionEvent], _ matches: (SessionEvent) -> Bool) -> Int? {
        events.firstIndex(where: matches)
    }
}

/// What the caller says: a noise-floor calibration, then a voiced tone the VAD cuts as one utterance.
let spokenQuestion = AudioFixtures.silence(.milliseconds(300)) + AudioFixtures.tone(frequency: 200, duration: .milliseconds(700))
