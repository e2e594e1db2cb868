import Logging

extension VoiceSession {
    /// Records a finished reply in its conversation: whole if it played out, else as far as the
    /// listener heard it (see ``ConversationStore/setInterruptedReply(heard:estimatedPlayedSamples:forTurn:)``).
    func remember(_ request: ReplyRequest, text: String, interrupted: Bool) {
        guard interrupted else {
            request.conversation.setReply(text, interrupted: false, forTurn: request.turnID)
            return
        }
        request.conversation.setInterruptedReply(
            heard: request.heard.snapshot(outputRate: configuration.outputSampleRate),
            estimatedPlayedSamples: estimatedPlayedSamples(request.recorder, gate: request.gate),
            forTurn: request.turnID)
    }

    /// How much of a reply the client has played by the time it was interrupted, judged by the
    /// server alone: the wall time from its first audio to the interruption, in output samples,
    /// capped at the samples sent. While audio still flows this is the samples sent minus the
    /// ``SessionConfiguration/outputLead`` the pacer keeps buffered at the client. Time the reply
    /// spent paused (speech over it being judged) did not play.
    func estimatedPlayedSamples(_ recorder: TurnRecorder, gate: PlaybackGate, now: SessionClock.Instant? = nil) -> Int {
        let timeline = recorder.timeline
        guard let sent = recorder.audioSamples, let firstAudio = timeline[.firstAudioSent] else { return 0 }
        let end = timeline[.interrupted] ?? recorder.origin.duration(to: now ?? clock.now)
        let paused = gate.pausedTime(until: recorder.origin.advanced(by: end))
        let elapsed = max(.zero, end - firstAudio - paused)
        return min(sent, Int(elapsed.seconds * Double(configuration.outputSampleRate)))
    }

    /// The summariser: after each reply, folds the oldest turns into the summary when the history
    /// is over budget, one job at a time, until `replies` ends; runs beside the replies, never
    /// before one. A failed summary is logged and tried again after the next reply.
    func summarise(_ replies: AsyncStream<ConversationStore>) async {
        for await store in replies {
            guard let job = store.foldJob() else { continue }
            var summary = ""
            do {
                try await providers.languageModel.complete(job.messages) { summary += $0 }
            } catch {
                if Task.isCancelled { return }
                logger.warning("summary failed; retrying after the next reply", metadata: ["parley.error": "\(error)"])
                continue
            }
            guard !summary.trimmingWhitespace().isEmpty else {
                logger.warning("summary came back empty; retrying after the next reply")
                continue
            }
            store.applySummary(summary, for: job)
            logger.debug("history summarised", metadata: ["parley.turn.id": "\(job.throughTurn)"])
        }
    }
}

extension VoiceSession.Coordinator {
    /// Queues the configured greeting as turn 0, interruptible like any reply.
    mutating func greet() throws {
        guard let greeting = session.configuration.greeting?.trimmingWhitespace(), !greeting.isEmpty else { return }
        try say(greeting, turnID: 0)
    }

    /// Queues `text` as turn `turnID`'s reply, spoken without the LLM and interruptible like any reply.
    mutating func say(_ text: String, turnID: Int) throws {
        conversation.addUserTurn(id: turnID, text: "")
        let request = VoiceSession.ReplyRequest(
            turnID: turnID, conversation: conversation, recorder: TurnRecorder(clock: session.clock), interruption: CancellationSignal(),
            gate: PlaybackGate(clock: session.clock), script: text)
        activeReply = request
        try VoiceSession.enqueue(request, on: requests, "turn \(turnID)'s scripted reply", logger: session.logger)
    }
}
