import ParleyCore

/// What `parley talk` reads from a server: every event it decodes must encode and decode back to
/// itself (turn timelines and tool durations to the 0.1 ms the encoder keeps).
enum ServerEventTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) throws(InvariantViolation) {
        guard let event = try? WireProtocol.decodeServerText(bytes.text) else { return }
        guard let encoded = WireProtocol.encode(event) else {
            throw InvariantViolation("decoded server event \(event) has no text form")
        }
        guard let event2 = try? WireProtocol.decodeServerText(encoded) else {
            throw InvariantViolation("server event \(event) encodes to \(encoded), which does not decode")
        }
        if case .toolResult(var result) = event, case .toolResult(let result2) = event2 {
            // Durations are kept to 0.1 ms, as timelines are.
            try check(
                abs(result.duration.milliseconds - result2.duration.milliseconds) <= 0.05 + 1e-9 * result.duration.milliseconds,
                "tool.result duration \(result.duration) comes back as \(result2.duration)")
            result.duration = result2.duration
            try check(result2 == result, "tool.result \(result) comes back as \(result2)")
            return
        }
        guard case .turnEnd(let summary) = event, case .turnEnd(let summary2) = event2 else {
            try check(event2 == event, "server event \(event) comes back as \(event2)")
            return
        }
        try check(
            summary2.turnID == summary.turnID && summary2.text == summary.text && summary2.interrupted == summary.interrupted,
            "turn.end \(summary) comes back as \(summary2)")
        for stage in TurnTimeline.Stage.allCases {
            switch (summary.timeline[stage], summary2.timeline[stage]) {
            case (nil, nil):
                continue
            case (let first?, let second?):
                try check(
                    abs(first.milliseconds - second.milliseconds) <= 0.05 + 1e-9 * abs(first.milliseconds),
                    "turn.end \(stage) \(first) comes back as \(second)")
            default:
                throw InvariantViolation("turn.end \(stage) is lost or invented in \(encoded)")
            }
        }
    }
}
