import Logging
import ParleyCore
import ParleyTesting
import Testing

@Suite("Tool calls in a voice session")
struct ToolSessionTests {
    /// A session with `tools`, fed by the test.
    struct Harness {
        let output: RecordingSessionOutput
        let inputs: AsyncStream<ClientMessage>
        let sink: AsyncStream<ClientMessage>.Continuation
        let session: VoiceSession

        init(
            transcripts: [String], llm: any LanguageModel, tools: [any AgentTool], clock: SessionClock = .continuous,
            configure: (inout SessionConfiguration) -> Void = { _ in }
        ) {
            output = RecordingSessionOutput(clock: clock)
            (inputs, sink) = AsyncStream.makeStream(of: ClientMessage.self)
            var configuration = SessionConfiguration(systemPrompt: "Be brief.")
            configure(&configuration)
            session = VoiceSession(
                id: "tools", configuration: configuration,
                providers: SessionProviders(
                    speechToText: ScriptedSpeechToText(transcripts: transcripts), languageModel: llm,
                    textToSpeech: ToneTextToSpeech(durationPerCharacter: .milliseconds(2)),
                    tools: Toolbox(sources: [StaticToolSource(tools)])),
                logger: Logger(label: "test"), clock: clock)
        }

        func utterance() {
            let audio = AudioFixtures.tone(frequency: 200, duration: .milliseconds(600)) + AudioFixtures.silence(.milliseconds(400))
            for frame in AudioFixtures.frames(audio) { sink.yield(.audio(frame)) }
        }

        func turnEnded(_ id: Int) async -> Bool {
            await output.wait { events in
                events.contains { event in
                    guard case .turnEnd(let summary) = event else { return false }
                    return summary.turnID == id
                }
            }
        }

        func saw(_ predicate: @escaping @Sendable (SessionEvent) -> Bool) async -> Bool {
            await output.wait { $0.contains(where: predicate) }
        }

        /// Runs `body` while the session runs; ends the input afterwards unless the session ended itself.
        func run(_ body: () async throws -> Void) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await session.run(inputs: inputs, output: output) }
                for frame in AudioFixtures.frames(AudioFixtures.silence(.milliseconds(300))) { sink.yield(.audio(frame)) }
                try await body()
                sink.finish()
                try await group.waitForAll()
            }
        }

        var replyText: [Int: String] {
            var texts: [Int: String] = [:]
            for case .turnEnd(let summary) in output.events { texts[summary.turnID] = summary.text }
            return texts
        }
    }

    static let weather = ToolCall(id: "call_1", name: "get_weather", arguments: #"{"city":"Paris"}"#)

    /// Calls get_weather for a user message, and answers with the tool's result after it.
    static func weatherModel(preamble: String = "Let me check.") -> ScriptedToolLanguageModel {
        ScriptedToolLanguageModel { messages, tools in
            if let last = messages.last, last.role == .tool { return .init(text: "It is \(last.content) in Paris.") }
            guard !tools.isEmpty, messages.last?.content.hasSuffix("?") == true else { return .init(text: "Fine.") }
            return .init(text: preamble, calls: [weather])
        }
    }

    @Test("the model calls a tool: its arguments reach it, its result is spoken and remembered")
    func toolResultSpokenAndRemembered() async throws {
        let tool = RecordingTool(name: "get_weather") { arguments in
            ToolResult(content: arguments["city"]?.stringValue == "Paris" ? "14 degrees and light rain" : "unknown city")
        }
        let llm = Self.weatherModel()
        let harness = Harness(transcripts: ["Weather in Paris?", "Thanks."], llm: llm, tools: [tool])
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
            harness.utterance()
            #expect(await harness.turnEnded(2))
        }
        #expect(tool.invocations.map(\.arguments) == [["city": "Paris"]])
        #expect(tool.invocations.first?.sessionID == "tools")
        #expect(harness.replyText[1] == "Let me check. It is 14 degrees and light rain in Paris.")
        let events = harness.output.events
        let calls = events.compactMap { if case .toolCall(let call) = $0 { call } else { nil } }
        let results = events.compactMap { if case .toolResult(let result) = $0 { result } else { nil } }
        #expect(calls == [ToolCallEvent(turnID: 1, callID: "call_1", name: "get_weather")])
        #expect(results.count == 1 && results[0].ok && results[0].result == nil && results[0].callID == "call_1")
        // The follow-up request carries the call and its result; so does the next turn's history.
        let requests = llm.requests
        #expect(requests.count == 3)
        #expect(requests[0].tools.map(\.name) == ["get_weather"])
        let followUp = requests[1].messages.suffix(2)
        #expect(followUp.first == .assistant("Let me check.", toolCalls: [Self.weather]))
        #expect(followUp.last == .tool(callID: "call_1", content: "14 degrees and light rain"))
        #expect(requests[2].messages.contains(.tool(callID: "call_1", content: "14 degrees and light rain")))
        #expect(requests[2].messages.contains(.assistant("Let me check. It is 14 degrees and light rain in Paris.")))
        var summary: TurnSummary?
        for case .turnEnd(let ended) in events where ended.turnID == 1 { summary = ended }
        let timeline = try #require(summary?.timeline)
        #expect(timeline[.toolStart] != nil && timeline[.toolEnd] != nil)
        #expect(timeline[.toolStart]! <= timeline[.toolEnd]!)
    }

    @Test("--log-tool-payloads puts arguments and results in the events")
    func payloadsWhenAsked() async throws {
        let tool = RecordingTool(name: "get_weather") { _ in ToolResult(content: "sunny") }
        let harness = Harness(transcripts: ["Weather?"], llm: Self.weatherModel(), tools: [tool]) { $0.logToolPayloads = true }
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        let events = harness.output.events
        #expect(events.contains(.toolCall(ToolCallEvent(turnID: 1, callID: "call_1", name: "get_weather", arguments: #"{"city":"Paris"}"#))))
        #expect(events.contains { if case .toolResult(let result) = $0 { result.result == "sunny" } else { false } })
    }

    @Test("a slow tool gets a filler after --filler-after; a quick one does not")
    func fillerForSlowTools() async throws {
        let slow = RecordingTool(name: "get_weather", delay: .milliseconds(600)) { _ in ToolResult(content: "sunny") }
        let harness = Harness(transcripts: ["Weather?"], llm: Self.weatherModel(preamble: ""), tools: [slow]) {
            $0.fillerAfter = .milliseconds(100)
        }
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        #expect(harness.replyText[1] == "One moment. It is sunny in Paris.")

        let quick = RecordingTool(name: "get_weather") { _ in ToolResult(content: "sunny") }
        let second = Harness(transcripts: ["Weather?"], llm: Self.weatherModel(preamble: ""), tools: [quick]) {
            $0.fillerAfter = .milliseconds(300)
        }
        try await second.run {
            second.utterance()
            #expect(await second.turnEnded(1))
        }
        #expect(second.replyText[1] == "It is sunny in Paris.")
    }

    @Test("a client that announces a call gets the filler at once when nothing was said yet; not with a preamble, not for end_call")
    func fillerWhenTheCallStarts() async throws {
        for (preamble, tool, expected) in [
            ("", "get_weather", "One moment. It is sunny in Paris."), ("Let me see.", "get_weather", "Let me see. It is sunny in Paris."),
            ("", "end_call", "It is sunny in Paris."),
        ] {
            let quick = RecordingTool(name: tool) { _ in ToolResult(content: "sunny") }
            var llm = ScriptedToolLanguageModel { messages, tools in
                if let last = messages.last, last.role == .tool { return .init(text: "It is \(last.content) in Paris.") }
                return .init(text: preamble, calls: [ToolCall(id: "c", name: tool, arguments: "{}")])
            }
            llm.announcesCalls = true
            // With a word limit too, as the local LLM has: the text after the filler keeps its space.
            let harness = Harness(transcripts: ["Weather?"], llm: llm, tools: [quick]) { $0.maximumReplyWords = 40 }
            try await harness.run {
                harness.utterance()
                #expect(await harness.turnEnded(1))
            }
            #expect(harness.replyText[1] == expected, "\(tool), preamble \(preamble.debugDescription)")
        }
    }

    @Test("speaking over a slow tool cancels it; the history answers the call as cancelled")
    func bargeInCancelsTool() async throws {
        let tool = RecordingTool(name: "get_weather", delay: .seconds(30)) { _ in ToolResult(content: "sunny") }
        let llm = Self.weatherModel()
        let harness = Harness(transcripts: ["Weather in Paris?", "Never mind."], llm: llm, tools: [tool])
        let started = ContinuousClock.now
        try await harness.run {
            harness.utterance()
            #expect(await harness.saw { if case .toolCall = $0 { true } else { false } })
            harness.utterance()
            #expect(await harness.turnEnded(2))
        }
        #expect(started.duration(to: .now) < .seconds(10))
        #expect(tool.cancelled == 1 && tool.finished == 0)
        let summaries = harness.output.events.compactMap { if case .turnEnd(let summary) = $0 { summary } else { nil } }
        #expect(summaries.first { $0.turnID == 1 }?.interrupted == true)
        let history = llm.requests.last?.messages ?? []
        #expect(history.contains(.assistant("", toolCalls: [Self.weather])))
        #expect(history.contains(.tool(callID: "call_1", content: Conversation.unansweredToolResult)))
    }

    @Test("a tool marked not interruptible finishes after a barge-in, and its result is remembered")
    func uninterruptibleToolFinishes() async throws {
        let tool = RecordingTool(name: "get_weather", delay: .milliseconds(700), interruptible: false) { _ in
            ToolResult(content: "booked")
        }
        let llm = Self.weatherModel()
        let harness = Harness(transcripts: ["Book it?", "Wait.", "Well."], llm: llm, tools: [tool])
        try await harness.run {
            harness.utterance()
            #expect(await harness.saw { if case .toolCall = $0 { true } else { false } })
            harness.utterance()
            #expect(await harness.turnEnded(2))
            try await Task.sleep(for: .milliseconds(900))
            harness.utterance()
            #expect(await harness.turnEnded(3))
        }
        #expect(tool.finished == 1 && tool.cancelled == 0)
        let history = llm.requests.last?.messages ?? []
        #expect(history.contains(.tool(callID: "call_1", content: "booked")))
    }

    @Test("unknown tools, bad arguments and timeouts become error results the model reads")
    func failuresBecomeErrorResults() async throws {
        let slow = RecordingTool(name: "slow", delay: .seconds(5), timeout: .milliseconds(100)) { _ in ToolResult(content: "late") }
        let llm = ScriptedToolLanguageModel { messages, _ in
            if messages.last?.role == .tool { return .init(text: "Sorry.") }
            return .init(calls: [
                ToolCall(id: "a", name: "nope", arguments: "{}"),
                ToolCall(id: "b", name: "slow", arguments: "[1]"),
                ToolCall(id: "c", name: "slow", arguments: ""),
            ])
        }
        let harness = Harness(transcripts: ["Go."], llm: llm, tools: [slow])
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        let results = llm.requests[1].messages.filter { $0.role == .tool }
        #expect(results.map(\.toolCallID) == ["a", "b", "c"])
        #expect(results[0].content.contains("no tool called nope"))
        #expect(results[1].content.contains("not a JSON object"))
        #expect(results[2].content.contains("timed out after 100 ms"))
        let oks = harness.output.events.compactMap { if case .toolResult(let result) = $0 { result.ok } else { nil } }
        #expect(oks == [false, false, false])
    }

    @Test("at most five rounds of tool calls; the sixth request offers no tools")
    func roundsAreBounded() async throws {
        let tool = RecordingTool(name: "get_weather") { _ in ToolResult(content: "sunny") }
        let llm = ScriptedToolLanguageModel { messages, tools in
            guard !tools.isEmpty else { return .init(text: "Done.") }
            let round = messages.filter { $0.role == .tool }.count
            return .init(calls: [ToolCall(id: "call_\(round)", name: "get_weather", arguments: #"{"city":"City \#(round)"}"#)])
        }
        let harness = Harness(transcripts: ["Loop."], llm: llm, tools: [tool])
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        #expect(tool.invocations.count == 5)
        #expect(llm.requests.map(\.tools.isEmpty) == [false, false, false, false, false, true])
        #expect(harness.replyText[1] == "Done.")
    }

    @Test("a model that repeats the same call is asked for words, without tools, instead of looping")
    func repeatedCallsEndTheLoop() async throws {
        let tool = RecordingTool(name: "get_weather") { _ in ToolResult(content: "foggy") }
        let llm = ScriptedToolLanguageModel { messages, tools in
            guard !tools.isEmpty else { return .init(text: "It is \(messages.last { $0.role == .tool }?.content ?? "?").") }
            return .init(calls: [ToolCall(id: "call_\(messages.count)", name: "get_weather", arguments: #"{ "city": "Paris" }"#)])
        }
        let harness = Harness(transcripts: ["Weather?"], llm: llm, tools: [tool])
        try await harness.run {
            harness.utterance()
            #expect(await harness.turnEnded(1))
        }
        #expect(tool.invocations.count == 1)
        #expect(llm.requests.map(\.tools.isEmpty) == [false, false, true])
        #expect(harness.replyText[1] == "It is foggy.")
    }

    @Test("end_call: the goodbye is said, then session.end, and the session ends by itself")
    func endCallEndsTheSession() async throws {
        let llm = ScriptedToolLanguageModel { messages, tools in
            guard !tools.isEmpty else { return .init(text: "Unexpected.") }
            return .init(text: "Goodbye, take care!", calls: [ToolCall(id: "end", name: "end_call", arguments: "")])
        }
        // On a manual clock that never moves, the grace for a client that never reports cannot
        // run out: only the client's report can end the session.
        let manual = ManualClock()
        let harness = Harness(transcripts: ["Bye."], llm: llm, tools: [EndCallTool()], clock: SessionClock(manual))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await harness.session.run(inputs: harness.inputs, output: harness.output) }
            for frame in AudioFixtures.frames(AudioFixtures.silence(.milliseconds(300))) { harness.sink.yield(.audio(frame)) }
            harness.utterance()
            #expect(await harness.turnEnded(1))
            let samples = harness.output.events.compactMap { if case .agentAudioEnd(_, let samples) = $0 { samples } else { nil } }.first
            // The client reports the goodbye played: the session ends without waiting out its grace.
            harness.sink.yield(.playbackProgress(turnID: 1, playedSamples: samples ?? 0))
            try await group.waitForAll()  // returns without the input ending
        }
        #expect(manual.now == ManualClock.Instant(offset: .zero))
        harness.sink.finish()
        let events = harness.output.events
        #expect(harness.replyText[1] == "Goodbye, take care!")
        #expect(llm.requests.count == 1)
        guard case .sessionEnd(let reason)? = events.last else {
            Issue.record("the last event is not session.end: \(harness.output.controlEvents.suffix(3))")
            return
        }
        #expect(reason == "end_call")
    }
}
