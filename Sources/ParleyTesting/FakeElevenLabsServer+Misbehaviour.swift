extension FakeElevenLabsServer {
    /// What one WebSocket connection or HTTP request acts out: the configured fault, or else
    /// a draw of ``Configuration/randomFaults``.
    struct Misbehaviour: Sendable {
        /// The fault, if any.
        var fault: Fault?
        /// The wait before the first audio (WebSocket) or the response head (HTTP).
        var firstByteDelay: Duration
        /// How long `stallFirstByte` holds the first byte before the fake drops the connection.
        var stallLimit = Duration.seconds(3600)
        /// Whether `fault` is a random drop, counted when it happens.
        var randomDrop = false
    }

    /// The misbehaviour of the next connection or request.
    func nextMisbehaviour() -> Misbehaviour {
        var result = Misbehaviour(fault: configuration.fault, firstByteDelay: configuration.firstByteDelay)
        guard configuration.fault == nil, let random = dice.draw() else { return result }
        switch random {
        case .refuse(let status):
            dice.acted(.refuse)
            result.fault = .reject(status: status, body: Self.detail("internal_server_error", "The fake ElevenLabs failed at random (chaos)."))
        case .stall(let limit):
            dice.acted(.stall)
            result.fault = .stallFirstByte
            result.stallLimit = limit
        case .slow(let delay):
            dice.acted(.slow)
            result.firstByteDelay = delay
        case .drop:
            result.fault = .dropAfterFirstAudio
            result.randomDrop = true
        }
        return result
    }

    /// The random faults acted out so far, by kind.
    public var randomFaultCounts: [FakeRandomFaults.Kind: Int] { dice.counts }
}
