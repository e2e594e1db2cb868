import ParleyCore
import ParleyProviders

extension BenchSoakClient {
    /// The caller's microphone and speaker: one 20 ms frame every 20 ms, on deadlines, with the
    /// playback reports a browser sends between frames.
    struct Microphone {
        static let frame: Duration = .milliseconds(20)
        static let progressInterval: Duration = .milliseconds(250)
        static let voice = Array(CapacityClient.voice.readableBytesView)
        static let quiet = Array(CapacityClient.quiet.readableBytesView)

        let connection: ProviderWebSocketConnection
        let shared: Shared
        private var tick = ContinuousClock.now
        private var lastProgress = ContinuousClock.now
        private var lastReported: (turn: Int, played: Int)?

        init(connection: ProviderWebSocketConnection, shared: Shared) {
            self.connection = connection
            self.shared = shared
        }

        /// The session as the reader last saw it.
        var state: BenchSoakSessionState { shared.state.withLock { $0 } }

        /// Voiced frames for `duration`.
        mutating func speak(for duration: Duration) async throws {
            for _ in 0..<(duration / Self.frame).rounded(.up).clamped {
                try await send(voiced: true)
            }
        }

        /// Room noise for `duration`.
        mutating func quiet(for duration: Duration) async throws {
            _ = try await quiet(for: duration) { _ in false }
        }

        /// Room noise until `condition` holds (true) or `limit` passes (false).
        mutating func quiet(for limit: Duration, until condition: (BenchSoakSessionState) -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + limit
            while ContinuousClock.now < deadline {
                if shared.state.withLock({ condition($0) }) { return true }
                try await send(voiced: false)
            }
            return shared.state.withLock { condition($0) }
        }

        /// Waits without sending audio (before `session.ready`, after the close) until `condition`
        /// holds (true) or `limit` passes (false).
        func wait(for limit: Duration, until condition: (BenchSoakSessionState) -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + limit
            while !shared.state.withLock({ condition($0) }) {
                guard ContinuousClock.now < deadline else { return false }
                try await Task.sleep(for: .milliseconds(10))
            }
            return true
        }

        private mutating func send(voiced: Bool) async throws {
            try await Task.sleep(until: tick, tolerance: .milliseconds(2), clock: .continuous)
            let now = ContinuousClock.now
            // A client that fell behind (a loaded machine) catches up rather than bursting.
            tick = now - tick > .milliseconds(200) ? now + Self.frame : tick + Self.frame
            let (ended, cleared, playback) = shared.state.withLock { state in
                (state.ended, state.playback.takeClearedReport(), state.playback.playback(at: now))
            }
            guard ended == nil else { throw ServerEnded() }
            if let cleared {
                try await report(.playbackCleared(turnID: cleared.turn, playedSamples: cleared.played))
            }
            if let playback, !playback.silenced, now - lastProgress >= Self.progressInterval,
                lastReported.map({ $0.turn != playback.turn || $0.played != playback.played }) ?? true
            {
                lastProgress = now
                lastReported = (playback.turn, playback.played)
                try await report(.playbackProgress(turnID: playback.turn, playedSamples: playback.played))
            }
            try await connection.send(binary: voiced ? Self.voice : Self.quiet)
        }

        private func report(_ message: ClientMessage) async throws {
            guard let text = WireProtocol.encode(message) else { return }
            try await connection.send(text: text)
        }
    }
}

extension Double {
    /// The value as a frame count, 0 for anything negative or not finite.
    fileprivate var clamped: Int { isFinite && self > 0 ? Int(self) : 0 }
}
