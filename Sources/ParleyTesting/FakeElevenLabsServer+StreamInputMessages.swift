import Foundation
import ParleyCore

extension FakeElevenLabsServer.StreamInputConnection {
    /// Applies one client text message: records it, checks it, buffers its text and decides what
    /// to generate (docs/providers.md).
    func handle(_ raw: String) -> Outcome {
        let redacted = fake.redacted(raw)
        record(message: redacted)
        var violations: [String] = []
        defer {
            if !violations.isEmpty { fake.updateStreamInput(index) { $0.violations += violations } }
        }
        guard let json = JSONValue.parse(raw), case .object(let fields) = json else {
            return Outcome(failure: ("invalid_input_message", FakeElevenLabsServer.invalidInput))
        }
        return state.withLock { state -> Outcome in
            state.lastMessage = .now
            if state.closing { return Outcome() }
            if state.endOfStream {
                violations.append("a message after end of stream: \(redacted.prefix(80))")
                return Outcome()
            }
            guard let text = fields["text"]?.stringValue else {
                return Outcome(failure: ("invalid_input_message", FakeElevenLabsServer.invalidInput))
            }
            if !state.initialized { return initialize(&state, text: text, fields: fields) }
            for key in ["voice_settings", "generation_config"] where fields[key] != nil && fields[key] != state.initialSettings[key] {
                violations.append("\(key) changed after the first message")
            }
            if case .errorMessage(let error, let message)? = options.misbehaviour.fault, !state.errorFaultActed {
                state.errorFaultActed = true
                return Outcome(failure: (error, message))
            }
            let flush = fields["flush"]?.boolValue == true
            if text.isEmpty && !flush {
                state.endOfStream = true
                let rest = state.buffer
                state.buffer = ""
                return Outcome(jobs: rest.isEmpty ? [.final] : [.speak(rest), .final])
            }
            // A lone space is the keep-alive: it resets the timer and adds nothing worth speaking.
            if text == " " && !flush { return Outcome() }
            if !text.isEmpty && !text.hasSuffix(" ") {
                violations.append("a text without a trailing space: \(text.prefix(80))")
            }
            state.buffer += text
            let threshold = state.schedule[min(state.generationIndex, state.schedule.count - 1)]
            let trigger = fields["try_trigger_generation"]?.boolValue == true && state.buffer.count >= configuration.minimumTriggerCharacters
            guard !state.buffer.isEmpty, options.autoMode || flush || trigger || state.buffer.count >= threshold else {
                return Outcome()
            }
            let spoken = state.buffer
            state.buffer = ""
            state.generationIndex += 1
            return Outcome(jobs: [.speak(spoken)])
        }
    }

    /// The first message: exactly one space, the key if the upgrade carried none, and the settings.
    private func initialize(_ state: inout State, text: String, fields: [String: JSONValue]) -> Outcome {
        state.initialized = true
        guard text == " " else { return Outcome(failure: ("invalid_input_message", FakeElevenLabsServer.invalidInput)) }
        if state.keySource == nil {
            if let failure = fake.firstMessageKeyFailure(fields, options: options) { return Outcome(failure: failure) }
            state.keySource = .firstMessage
            fake.updateStreamInput(index) { $0.keySource = .firstMessage }
        }
        let (schedule, failure) = FakeElevenLabsServer.chunkSchedule(in: fields)
        if let failure { return Outcome(failure: failure) }
        if let schedule { state.schedule = schedule }
        state.initialSettings = fields.filter { $0.key == "voice_settings" || $0.key == "generation_config" }
        return Outcome()
    }
}
