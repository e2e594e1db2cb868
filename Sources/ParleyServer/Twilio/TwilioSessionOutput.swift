import HummingbirdWebSocket
import Logging
import ParleyCore

/// Writes a session's events to Twilio: agent audio as μ-law `media`, a `mark` every 200 ms of a
/// reply and at its end, and `clear` on barge-in. Twilio plays only audio, so transcripts, text
/// and pause/resume are logged, not sent (while paused, the pacer simply sends no audio).
struct TwilioSessionOutput: SessionOutput {
    let outbound: WebSocketOutboundWriter
    let streamSID: String
    let playback: TwilioPlayback
    /// The session's input: a `clear` is reported back as `playbackCleared`, with what the echoed
    /// marks say was heard, so memory keeps only the words the caller heard.
    let inputs: AsyncStream<ClientMessage>.Continuation
    let logger: Logger

    func send(_ event: SessionEvent) async throws {
        switch event {
        case .agentAudio(let turnID, let samples):
            try await write(.media(MuLaw.encode(samples)))
            if let mark = playback.sent(turnID: turnID, samples: samples.count) { try await write(.mark(mark)) }
        case .agentAudioEnd(let turnID, _):
            try await write(.mark(playback.ended(turnID: turnID)))
        case .agentInterrupted(let turnID):
            let played = playback.cleared(turnID: turnID)
            try await write(.clear)
            logger.debug("barge-in: twilio playback cleared", metadata: ["parley.turn.id": "\(turnID)", "parley.played_samples": "\(played)"])
            inputs.yield(.playbackCleared(turnID: turnID, playedSamples: played))
        case .error(let error):
            logger.log(level: error.fatal ? .warning : .debug, "session error (not sent to twilio)", metadata: ["parley.error": "\(error)"])
        case .transcriptPartial, .transcriptFinal, .agentText:
            logger.trace("not sent to twilio: \(event)")
        case .sessionEnd(let reason):
            // The socket handler closes the stream when the session returns, which ends the call.
            logger.info("the agent ends the call", metadata: ["parley.reason": "\(reason)"])
        case .toolCall, .toolResult:
            logger.trace("not sent to twilio: \(event)")
        case .ready, .speechStarted, .speechStopped, .agentAudioStart, .agentPaused, .agentResumed, .turnEnd, .pong:
            logger.debug("not sent to twilio: \(Self.name(of: event))")
        }
    }

    func write(_ message: TwilioOutboundMessage) async throws {
        try await outbound.write(.text(message.text(streamSID: streamSID)))
    }

    private static func name(of event: SessionEvent) -> String {
        switch event {
        case .ready: "session.ready"
        case .speechStarted: "speech.started"
        case .speechStopped: "speech.stopped"
        case .agentAudioStart(let turnID, _): "agent.audio.start \(turnID)"
        case .agentPaused(let turnID): "agent.paused \(turnID)"
        case .agentResumed(let turnID): "agent.resumed \(turnID)"
        case .turnEnd(let summary): "turn.end \(summary.turnID)"
        default: "\(event)"
        }
    }
}
