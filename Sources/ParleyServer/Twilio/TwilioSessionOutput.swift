import HummingbirdWebSocket
import Logging
import ParleyCore

/// Writes a session's events to Twilio: agent audio as μ-law `media`, a `mark` every 200 ms of a
/// reply and at its end, and `clear` as soon as speech over a reply pauses it. Twilio plays only
/// audio, so transcripts and text are logged, not sent.
///
/// A pause clears Twilio's buffer at once, so the caller hears the agent stop within a frame of
/// the VAD's decision; the audio not yet played is kept (``TwilioPlayback``) and sent again from
/// its first unplayed sample if the speech was a false start (`agent.resumed`). An interruption
/// after the pause needs no second `clear`.
struct TwilioSessionOutput: SessionOutput {
    let outbound: WebSocketOutboundWriter
    let streamSID: String
    let playback: TwilioPlayback
    /// The session's input: a `clear` is reported back as `playbackCleared`, with what the echoed
    /// marks say was heard, so memory keeps only the words the caller heard.
    let inputs: SessionInbox
    let logger: Logger

    /// Audio sent again after a resume goes out in 20 ms `media` messages (the pacer's carry a
    /// burst: one or more 20 ms frames).
    static let frameBytes = 160

    func send(_ event: SessionEvent) async throws {
        switch event {
        case .agentAudio(let turnID, let samples):
            let bytes = MuLaw.encode(samples)
            try await write(.media(bytes))
            if let mark = playback.sent(turnID: turnID, bytes: bytes) { try await write(.mark(mark)) }
        case .agentAudioEnd(let turnID, _):
            try await write(.mark(playback.ended(turnID: turnID)))
        case .agentPaused(let turnID):
            guard playback.paused(turnID: turnID) else { return }
            try await write(.clear)
            logger.debug("speech over the reply: twilio playback cleared", metadata: ["parley.turn.id": "\(turnID)"])
        case .agentResumed(let turnID):
            guard let resume = playback.resumed(turnID: turnID) else { return }
            if resume.lost > 0 {
                logger.warning(
                    "resumed reply skips audio no longer kept", metadata: ["parley.turn.id": "\(turnID)", "parley.lost_samples": "\(resume.lost)"])
            }
            guard !resume.audio.isEmpty else { return }
            var offset = 0
            while offset < resume.audio.count {
                let end = min(resume.audio.count, offset + Self.frameBytes)
                try await write(.media(Array(resume.audio[offset..<end])))
                offset = end
            }
            try await write(.mark(resume.mark))
            logger.debug("reply resumed: unplayed audio sent again", metadata: ["parley.turn.id": "\(turnID)", "parley.samples": "\(offset)"])
        case .agentInterrupted(let turnID):
            let (played, needsClear) = playback.interrupted(turnID: turnID)
            if needsClear { try await write(.clear) }
            logger.debug("barge-in: twilio playback cleared", metadata: ["parley.turn.id": "\(turnID)", "parley.played_samples": "\(played)"])
            inputs.send(.playbackCleared(turnID: turnID, playedSamples: played))
        case .error(let error):
            logger.log(level: error.fatal ? .warning : .debug, "session error (not sent to twilio)", metadata: ["parley.error": "\(error)"])
        case .transcriptPartial, .transcriptFinal, .agentText:
            logger.trace("not sent to twilio: \(event)")
        case .sessionEnd(let reason):
            // The socket handler closes the stream when the session returns, which ends the call.
            logger.info("the agent ends the call", metadata: ["parley.reason": "\(reason)"])
        case .toolCall, .toolResult:
            logger.trace("not sent to twilio: \(event)")
        case .ready, .speechStarted, .speechStopped, .agentAudioStart, .turnEnd, .pong:
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
        case .turnEnd(let summary): "turn.end \(summary.turnID)"
        default: "\(event)"
        }
    }
}
