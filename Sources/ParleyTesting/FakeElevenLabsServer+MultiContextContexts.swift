import Foundation
import ParleyCore

extension FakeElevenLabsServer.MultiContextConnection {
    /// ElevenLabs' error when a socket would hold more than `limit` contexts.
    static func tooManyContexts(_ limit: Int) -> String {
        "Maximum simultaneous contexts per WebSocket connection exceeded (\(limit)). "
            + "Please close an existing context before opening a new one."
    }

    /// Creates context `id` with the settings of the message that names it first; nil with a
    /// failure in `outcome` when the socket already holds ``Configuration/maximumContexts`` or the
    /// chunk schedule is out of range. A reused id is a new context, unrelated to the closed one.
    func createContext(_ state: inout State, _ id: String, fields: [String: JSONValue], _ outcome: inout Outcome) -> Int? {
        let limit = configuration.maximumContexts
        guard state.contexts.count < limit else {
            outcome.failure = ("max_active_conversations", Self.tooManyContexts(limit))
            return nil
        }
        let (schedule, failure) = FakeElevenLabsServer.chunkSchedule(in: fields)
        if let failure {
            outcome.failure = failure
            return nil
        }
        let serial = state.nextSerial
        state.nextSerial += 1
        let settings = fields.filter { $0.key == "voice_settings" || $0.key == "generation_config" }
        state.contexts[serial] = Context(id: id, settings: settings, schedule: schedule ?? state.defaultSchedule)
        state.open[id] = serial
        fake.updateMultiStreamInput(index) { $0.contexts.append(.init(id: id)) }
        outcome.created.append((serial, id))
        return serial
    }

    /// Adds a message's text to its context's buffer and generates what is due, as `stream-input`
    /// does: by the chunk schedule, on `try_trigger_generation` above the minimum, on `flush`, or
    /// at once with `auto_mode`. An empty text without `flush` only keeps the context alive.
    func add(_ message: ContextMessage, to serial: Int, _ state: inout State, _ outcome: inout Outcome, _ violations: inout [String]) {
        guard var context = state.contexts[serial] else { return }
        defer { state.contexts[serial] = context }
        let text = message.text ?? ""
        // A lone space adds nothing worth speaking, as on `stream-input`.
        if !text.isEmpty && text != " " {
            if !text.hasSuffix(" ") { violations.append("a text without a trailing space: \(text.prefix(80))") }
            context.buffer += text
        }
        fake.updateContext(index, serial) { record in
            if text != " " { record.text += text }
            if message.flush { record.flushed = true }
        }
        let threshold = context.schedule[min(context.generationIndex, context.schedule.count - 1)]
        let trigger = message.trigger && context.buffer.count >= configuration.minimumTriggerCharacters
        guard !context.buffer.isEmpty, options.autoMode || message.flush || trigger || context.buffer.count >= threshold else { return }
        outcome.jobs.append((serial, .speak(context.buffer)))
        context.buffer = ""
        context.generationIndex += 1
    }

    /// Closes a context for the client: text already sent for generation is still spoken, text
    /// buffered but not flushed is thrown away, then its final message follows. Its id is free at once.
    func close(_ serial: Int, _ state: inout State, _ outcome: inout Outcome) {
        guard var context = state.contexts[serial], !context.closed else { return }
        context.closed = true
        let discarded = context.buffer
        context.buffer = ""
        state.contexts[serial] = context
        state.open[context.id] = nil
        fake.updateContext(index, serial) { record in
            record.closedByClient = true
            record.discarded += discarded
        }
        outcome.jobs.append((serial, .final))
    }

    /// `close_socket`: closes every open context; the last final message sent closes the socket
    /// with 1000 (at once when no context exists).
    func closeSocket(_ state: inout State, _ outcome: inout Outcome) {
        state.socketClosed = true
        for serial in state.open.values.sorted() { close(serial, &state, &outcome) }
        outcome.closeNow = state.contexts.isEmpty && state.finalsInFlight == 0
    }

    /// Closes the socket with `input_timeout_exceeded` and 1008 once an open context has had no
    /// message naming it for the inactivity timeout, or once a socket without contexts has had no
    /// message for it. ElevenLabs' per-context behaviour is not documented: closing the whole
    /// socket is the conservative reading. Contexts the client closed are not timed.
    func watchInactivity() async throws {
        let timeout = options.inactivityTimeout
        while true {
            let now = ContinuousClock.now
            let (deadline, fires): (ContinuousClock.Instant?, Bool) = state.withLock { state in
                if state.closing || state.socketClosed { return (nil, false) }
                if let oldest = state.open.values.compactMap({ state.contexts[$0]?.lastMessage }).min() { return (oldest + timeout, true) }
                if state.contexts.isEmpty { return (max(state.lastMessage, state.lastEnded) + timeout, true) }
                // Only closed contexts finishing their audio: look again later.
                return (now + timeout, false)
            }
            guard let deadline else { return }
            if fires && now >= deadline {
                await fail("input_timeout_exceeded", FakeElevenLabsServer.inactivityMessage(timeout))
                return
            }
            try await FakeClock.sleep(until: deadline)
        }
    }
}
