import Logging

extension VoiceSession {
    /// A stage of a reply failed; carries the error to send to the client.
    struct StageFailure: Error {
        let error: SessionError
    }

    /// Speaks one reply and reports it to the client; returns the text and whether it was interrupted.
    func reply(_ request: ReplyRequest, output: some SessionOutput) async -> (text: String, interrupted: Bool) {
        let recorder = request.recorder
        // An adopted early LLM request must not outlive its reply (barge-in, failure).
        defer { request.early?.discard() }
        var failure: SessionError?
        var interrupted = request.interruption.isFired
        // A reply superseded while it waited in the queue is not started at all.
        if !interrupted {
            let messages = request.conversation.messages(upTo: request.turnID)
            do {
                interrupted = try await !request.interruption.run {
                    try await speak(request, messages: messages, output: output)
                }
            } catch let stage as StageFailure {
                failure = stage.error
                // No provider of the stage was left: say so in the local voice rather than go silent.
                if let voice = providers.apologyVoice {
                    let stage = stage.error.code == .ttsFailed ? "tts" : "llm"
                    do {
                        interrupted = try await !request.interruption.run {
                            try await apologise(request, voice: voice, output: output)
                        }
                        configuration.observer?.apologised(stage: stage)
                    } catch {
                        if Task.isCancelled { return (recorder.text, true) }
                        logger.warning("the apology failed too", metadata: ["parley.error": "\(error)"])
                    }
                }
            } catch {
                // The session itself is closing (client gone or cancelled): nothing left to tell.
                if Task.isCancelled { return (recorder.text, true) }
                failure = SessionError(.internal, "Reply failed: \(error)")
            }
        }
        let turnID = request.turnID
        let summary = TurnSummary(
            turnID: turnID, text: recorder.text, interrupted: interrupted, timeline: recorder.timeline, endOfTurn: recorder.endOfTurn)
        configuration.observer?.turnEnded(summary)
        do {
            if interrupted {
                try await output.send(.agentInterrupted(turnID: turnID))
            } else if let samples = recorder.audioSamples {
                try await output.send(.agentAudioEnd(turnID: turnID, samples: samples))
            }
            if let failure {
                logger.warning("reply failed", metadata: ["parley.turn.id": "\(turnID)", "parley.error": "\(failure)"])
                try await output.send(.error(failure))
            }
            logger.info("turn ended", metadata: Self.metadata(for: summary))
            try await output.send(.turnEnd(summary))
        } catch {
            logger.debug("could not report the end of turn \(turnID): \(error)")
        }
        return (recorder.text, interrupted)
    }

    /// Speaks ``SessionConfiguration/apology`` with `voice` as the rest of the failed reply.
    func apologise(_ request: ReplyRequest, voice: any TextToSpeech, output: some SessionOutput) async throws {
        let apology = (request.recorder.text.isEmpty ? "" : " ") + configuration.apology
        request.recorder.appendText(apology)
        try await output.send(.agentText(turnID: request.turnID, delta: apology))
        request.heard.addGivenText(apology, outputRate: configuration.outputSampleRate)
        let (text, sink) = AsyncStream.makeStream(of: String.self)
        sink.yield(configuration.apology)
        sink.finish()
        var pacer = AudioPacer(
            outputRate: configuration.outputSampleRate, lead: configuration.outputLead, batch: configuration.outputBatch, gate: request.gate,
            clock: clock)
        let send = audioSender(request, output: output)
        try await ProviderContext.$voice.withValue(nil) {
            try await voice.synthesize(text, sampleRate: configuration.outputSampleRate) { chunk in
                request.heard.addChunk(chunk, outputRate: configuration.outputSampleRate)
                try await pacer.play(chunk, send: send)
            }
        }
        try await pacer.finish(send: send)
    }

    /// What sends a reply's paced audio: `agent.audio.start` before the first frame, the frames,
    /// and `agent.paused`/`agent.resumed` when the gate closes and opens.
    func audioSender(_ request: ReplyRequest, output: some SessionOutput) -> (AudioPacer.Output) async throws -> Void {
        let recorder = request.recorder
        let turnID = request.turnID
        let outputRate = configuration.outputSampleRate
        return { item in
            let frame: [Int16]
            switch item {
            case .frames(let samples): frame = samples
            case .paused:
                try await output.send(.agentPaused(turnID: turnID))
                return
            case .resumed:
                try await output.send(.agentResumed(turnID: turnID))
                return
            }
            if recorder.addAudio(samples: frame.count) {
                try await output.send(.agentAudioStart(turnID: turnID, sampleRate: outputRate))
                try await output.send(.agentAudio(turnID: turnID, samples: frame))
                recorder.mark(.firstAudioSent)
            } else {
                try await output.send(.agentAudio(turnID: turnID, samples: frame))
            }
            recorder.update(.lastAudioSent)
        }
    }

    /// LLM → sentences → text-to-speech → paced frames, the two halves running concurrently.
    func speak(_ request: ReplyRequest, messages: [ChatMessage], output: some SessionOutput) async throws {
        let recorder = request.recorder
        let turnID = request.turnID
        let (sentences, sentenceSink) = AsyncStream.makeStream(
            of: String.self, bufferingPolicy: .bufferingOldest(Self.sentenceCapacity))
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                defer { sentenceSink.finish() }
                var chunker = SentenceChunker(firstClauseWords: configuration.firstChunkWords)
                // Scripted turns (greetings, re-asks) are said in full.
                var length = request.script == nil ? configuration.maximumReplyWords.map { ReplyLength(limit: $0) } : nil
                func queue(_ sentence: String) throws {
                    recorder.mark(.firstSentence)
                    request.heard.addGivenText(sentence, outputRate: configuration.outputSampleRate)
                    if case .dropped = sentenceSink.yield(sentence) {
                        throw StageFailure(error: SessionError(.llmFailed, "Reply has more than \(Self.sentenceCapacity) sentences pending."))
                    }
                }
                // The text of the current round of the LLM's answer (before its tool calls, if any).
                var roundText = ""
                let filler = configuration.fillerAfter == nil ? nil : fillerVoice(request, output: output, sentences: sentenceSink)
                func say(_ text: String) async throws {
                    var delta = text
                    // A round after tool calls goes on from what was said before them.
                    if roundText.isEmpty, let last = recorder.text.last, !last.isWhitespace,
                        let first = delta.first, !first.isWhitespace
                    {
                        delta = " " + delta
                    }
                    var complete = false
                    if length != nil {
                        let admitted = length!.admit(delta)
                        delta = String(admitted.kept)
                        complete = admitted.complete
                    }
                    if !delta.isEmpty {
                        recorder.mark(.llmFirstToken)
                        recorder.appendText(delta)
                        roundText += delta
                        filler?.textSpoken()
                        try await output.send(.agentText(turnID: turnID, delta: delta))
                        for sentence in chunker.push(delta) { try queue(sentence) }
                    }
                    // Long enough: the LLM is stopped here (below) and the rest never said.
                    if complete { throw ReplyLength.Reached() }
                }
                do {
                    if let script = request.script {
                        try await say(script)
                    } else {
                        var messages = messages
                        var tools = await providers.tools?.current()
                        var rounds = 0
                        // Each call made in this reply, by name and arguments: a model that asks for
                        // the same again (a small local model, looping) is asked for words instead.
                        var made: Set<String> = []
                        var repeated = false
                        while true {
                            let toolsLeft = rounds < configuration.maximumToolRounds && !request.callEnding.isFired && !repeated
                            var offered = toolsLeft ? tools?.definitions ?? [] : []
                            let calls: [ToolCall]
                            roundText = ""
                            filler?.newRound()
                            if rounds == 0, let early = request.early {
                                // Asked before the turn was committed; what it said so far is replayed now.
                                recorder.mark(.llmRequest, at: early.created)
                                for try await piece in early.deltas {
                                    switch piece {
                                    case .text(let delta): try await say(delta)
                                    case .toolCallStarted(let name): try await filler?.callStarted(name)
                                    }
                                }
                                (tools, calls) = early.toolCalls
                                offered = tools?.definitions ?? []
                            } else {
                                recorder.mark(.llmRequest)
                                let announce = ToolCallAnnouncer { name in try? await filler?.callStarted(name) }
                                calls = try await ProviderContext.$toolCallStarted.withValue(offered.isEmpty ? nil : announce) {
                                    try await providers.languageModel.complete(messages, tools: offered) { try await say($0) }
                                }
                            }
                            guard !calls.isEmpty, !offered.isEmpty, let tools else { break }
                            let keys = calls.map { $0.name + " " + ($0.parsedArguments.map { JSONValue.object($0).serialized } ?? $0.arguments) }
                            guard !keys.allSatisfy(made.contains) else {
                                logger.debug(
                                    "the model repeated its tool calls: asked to answer without tools", metadata: ["parley.turn.id": "\(turnID)"])
                                repeated = true
                                continue
                            }
                            made.formUnion(keys)
                            rounds += 1
                            // What was said before the calls is spoken while they run.
                            if let rest = chunker.finish() { try queue(rest) }
                            let spokeThisRound = !roundText.isEmpty
                            let results = try await runToolRound(calls, tools: tools, request: request, output: output) {
                                try await filler?.toolsSlow()
                            }
                            messages += [.assistant(roundText, toolCalls: calls)]
                            messages += zip(calls, results).map { .tool(callID: $0.id, content: $1.content) }
                            if results.contains(where: \.endsCall) {
                                request.callEnding.fire()
                                // The goodbye was said with the call: nothing more to ask.
                                if spokeThisRound { break }
                            }
                        }
                    }
                } catch is ReplyLength.Reached {
                    logger.debug("reply ended at its word limit", metadata: ["parley.turn.id": "\(turnID)"])
                } catch let error as ProviderError {
                    configuration.observer?.providerFailed(error, stage: "llm")
                    throw StageFailure(error: SessionError(.llmFailed, error.description))
                }
                if let rest = chunker.finish() { try queue(rest) }
            }
            // The synthesiser and the pacer each in their own task, with the reply's audio queued
            // between them, so each burst holds all the audio that has come (ReplyAudioQueue).
            let audio = ReplyAudioQueue(capacity: Self.audioAhead)
            let outputRate = configuration.outputSampleRate
            group.addTask {
                do {
                    try await providers.textToSpeech.synthesize(sentences, sampleRate: outputRate) { chunk in
                        recorder.mark(.ttsFirstAudio)
                        request.heard.addChunk(chunk, outputRate: outputRate)
                        try await audio.push(chunk)
                    }
                    // All of it came: the pacer plays out what is queued. (On a failure the group
                    // cancels the pacer instead, and what is queued is dropped, as before.)
                    audio.finish()
                } catch let error as ProviderError {
                    configuration.observer?.providerFailed(error, stage: "tts")
                    throw StageFailure(error: SessionError(.ttsFailed, error.description))
                }
            }
            group.addTask {
                var pacer = AudioPacer(
                    outputRate: outputRate, lead: configuration.outputLead, batch: configuration.outputBatch, gate: request.gate,
                    clock: clock)
                let send = audioSender(request, output: output)
                while let chunk = await audio.next() {
                    try await pacer.play(chunk, refill: audio.takeAvailable, send: send)
                }
                // Cancelled (the reply was interrupted or failed): nothing more is sent.
                try Task.checkCancellation()
                try await pacer.finish(send: send)
            }
            // The first failure stops the other half at once (`waitForAll()` would wait for it).
            while try await group.next() != nil {}
        }
    }

    /// What says a reply's filler: its text to the client and the reply, its sentence to
    /// text-to-speech (the sentence chunker is empty whenever a filler is due).
    func fillerVoice(
        _ request: ReplyRequest, output: some SessionOutput, sentences: AsyncStream<String>.Continuation
    ) -> ToolFiller {
        let recorder = request.recorder
        let heard = request.heard
        let text = configuration.filler
        let outputRate = configuration.outputSampleRate
        return ToolFiller {
            let delta = (recorder.text.last.map { $0.isWhitespace } ?? true ? "" : " ") + text
            recorder.appendText(delta)
            try await output.send(.agentText(turnID: request.turnID, delta: delta))
            recorder.mark(.firstSentence)
            heard.addGivenText(text, outputRate: outputRate)
            if case .dropped = sentences.yield(text) {
                throw StageFailure(error: SessionError(.llmFailed, "Reply has more than \(Self.sentenceCapacity) sentences pending."))
            }
        }
    }

    static func metadata(for summary: TurnSummary) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "parley.turn.id": "\(summary.turnID)",
            "parley.turn.interrupted": "\(summary.interrupted)",
        ]
        for (stage, offset) in summary.timeline.offsets where stage != .speechEnd {
            metadata["parley.timeline.\(stage.rawValue)_ms"] = "\(Int(offset.milliseconds.rounded()))"
        }
        if let verdict = summary.endOfTurn {
            metadata["parley.end_of_turn.probability"] = "\(verdict.probability.map { "\($0)" } ?? "none")"
            metadata["parley.end_of_turn.complete"] = "\(verdict.complete)"
            metadata["parley.end_of_turn.wait_ms"] = "\(Int(verdict.wait.milliseconds.rounded()))"
        }
        return metadata
    }
}
