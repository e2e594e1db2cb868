import Foundation
import ParleyCore

extension FakeElevenLabsServer.MultiContextConnection {
    /// One client message's fields, checked against the multi-context schema: `text`,
    /// `context_id`, and the flags `flush`, `close_context`, `close_socket` and
    /// `try_trigger_generation`, each of its type when present.
    struct ContextMessage {
        var text: String?
        /// `context_id`, or `"default"` for a message without one.
        var contextID = "default"
        var flush = false
        var closeContext = false
        var closeSocket = false
        var trigger = false

        /// Nil when a field has the wrong type or the message asks for nothing at all.
        init?(_ fields: [String: JSONValue]) {
            func present(_ key: String) -> JSONValue? {
                guard let value = fields[key], value != .null else { return nil }
                return value
            }
            // False when absent, nil when not a boolean.
            func flag(_ key: String) -> Bool? {
                guard let value = present(key) else { return false }
                return value.boolValue
            }
            guard let flush = flag("flush"), let closeContext = flag("close_context"), let closeSocket = flag("close_socket"),
                let trigger = flag("try_trigger_generation")
            else { return nil }
            (self.flush, self.closeContext, self.closeSocket, self.trigger) = (flush, closeContext, closeSocket, trigger)
            if let value = present("text") {
                guard let text = value.stringValue else { return nil }
                self.text = text
            }
            if let value = present("context_id") {
                guard let id = value.stringValue, !id.isEmpty else { return nil }
                contextID = id
            }
            guard text != nil || flush || closeContext || closeSocket else { return nil }
        }
    }

    /// Applies one client text message: records it, checks it, and decides which contexts to
    /// create, what to generate and what to close.
    func handle(_ raw: String) -> Outcome {
        let redacted = fake.redacted(raw)
        record(message: redacted)
        var violations: [String] = []
        defer {
            if !violations.isEmpty { fake.updateMultiStreamInput(index) { $0.violations += violations } }
        }
        guard let json = JSONValue.parse(raw), case .object(let fields) = json, let message = ContextMessage(fields) else {
            return Outcome(failure: ("invalid_input_message", FakeElevenLabsServer.invalidInput))
        }
        return state.withLock { state -> Outcome in
            state.lastMessage = .now
            if state.closing { return Outcome() }
            if state.socketClosed {
                violations.append("a message after close_socket: \(redacted.prefix(80))")
                return Outcome()
            }
            if !state.initialized { return initialize(&state, message, fields: fields) }
            if case .errorMessage(let error, let text)? = options.misbehaviour.fault, !state.errorFaultActed {
                state.errorFaultActed = true
                return Outcome(failure: (error, text))
            }
            var outcome = Outcome()
            if message.closeSocket {
                closeSocket(&state, &outcome)
                return outcome
            }
            let serial: Int
            if let open = state.open[message.contextID] {
                serial = open
                let settings = state.contexts[serial]?.settings ?? [:]
                for key in ["voice_settings", "generation_config"] where fields[key] != nil && fields[key] != settings[key] {
                    violations.append("\(key) of context \(message.contextID) changed after its first message")
                }
            } else if message.closeContext {
                violations.append("close_context for a context that is not open: \(message.contextID)")
                return outcome
            } else {
                guard let created = createContext(&state, message.contextID, fields: fields, &outcome) else { return outcome }
                serial = created
            }
            state.contexts[serial]?.lastMessage = .now
            add(message, to: serial, &state, &outcome, &violations)
            if message.closeContext { close(serial, &state, &outcome) }
            return outcome
        }
    }

    /// The socket's first message: exactly one space, the key if the upgrade carried none, the
    /// chunk schedule for every context that names none; it opens its context.
    private func initialize(_ state: inout State, _ message: ContextMessage, fields: [String: JSONValue]) -> Outcome {
        state.initialized = true
        guard message.text == " " else { return Outcome(failure: ("invalid_input_message", FakeElevenLabsServer.invalidInput)) }
        if state.keySource == nil {
            if let failure = fake.firstMessageKeyFailure(fields, options: options) { return Outcome(failure: failure) }
            state.keySource = .firstMessage
            fake.updateMultiStreamInput(index) { $0.keySource = .firstMessage }
        }
        let (schedule, failure) = FakeElevenLabsServer.chunkSchedule(in: fields)
        if let failure { return Outcome(failure: failure) }
        if let schedule { state.defaultSchedule = schedule }
        var outcome = Outcome()
        _ = createContext(&state, message.contextID, fields: fields, &outcome)
        return outcome
    }
}
