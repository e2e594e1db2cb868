import ParleyCore
import Synchronization

/// One session's `multi-stream-input` socket (docs/providers.md): every reply of the session is a
/// context on one connection, so no reply after the first waits for a connection.
///
/// A connection (``ElevenLabsContextLink``) is opened when a reply needs one and the current one
/// is not usable: there is none yet or it ended, it was opened for another URL (voice), it holds
/// ``ElevenLabsMultiContextTextToSpeech/maximumContexts`` contexts not yet final (a barge-in
/// leaves its context closing until ElevenLabs' final message for it), or nothing was sent on it
/// for the keep-alive interval: ElevenLabs documents its inactivity timeout per context, not
/// whether it closes a socket without contexts, so an idle socket is replaced rather than risked.
/// Each connection is held by a task of ``serve(_:)``, which lives as long as the session.
final class ElevenLabsContextSocket: Sendable {
    /// A reply waiting for a connection to `url`.
    final class Demand: Sendable {
        private enum Waiter {
            /// Neither the reply nor the answer has come.
            case none
            case waiting(CheckedContinuation<ElevenLabsContextLink, any Error>)
            /// The answer came before the reply began to wait.
            case answered(Result<ElevenLabsContextLink, any Error>)
            case done
        }

        let url: String
        private let waiter = Mutex(Waiter.none)

        init(url: String) {
            self.url = url
        }

        /// Waits for ``resume(_:)``; a cancelled reply stops waiting at once (the connection still
        /// opens, for the next reply).
        func wait() async throws -> ElevenLabsContextLink {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let answer = waiter.withLock { waiter -> Result<ElevenLabsContextLink, any Error>? in
                        switch waiter {
                        case .none:
                            waiter = .waiting(continuation)
                            return nil
                        case .answered(let result):
                            waiter = .done
                            return result
                        case .waiting, .done:
                            return .failure(CancellationError())
                        }
                    }
                    if let answer { continuation.resume(with: answer) }
                }
            } onCancel: {
                resume(.failure(CancellationError()))
            }
        }

        /// Gives the reply its connection or the failure to open one; only the first answer counts.
        func resume(_ result: Result<ElevenLabsContextLink, any Error>) {
            let continuation = waiter.withLock { waiter -> CheckedContinuation<ElevenLabsContextLink, any Error>? in
                switch waiter {
                case .none:
                    waiter = .answered(result)
                    return nil
                case .waiting(let continuation):
                    waiter = .done
                    return continuation
                case .answered, .done:
                    return nil
                }
            }
            continuation?.resume(with: result)
        }
    }

    private struct State {
        var current: ElevenLabsContextLink?
        var nextNumber = 1
        var shut = false
    }

    let configuration: ElevenLabsConfiguration
    let name: String
    private let demands: AsyncStream<Demand>.Continuation
    private let state = Mutex(State())

    init(configuration: ElevenLabsConfiguration, name: String, demands: AsyncStream<Demand>.Continuation) {
        self.configuration = configuration
        self.name = name
        self.demands = demands
    }

    /// Holds each connection asked for until it ends; returns once ``shutdown()`` was called and
    /// every connection has closed, or when cancelled (which closes them).
    func serve(_ demands: AsyncStream<Demand>) async {
        await withDiscardingTaskGroup { group in
            for await demand in demands {
                group.addTask { await self.hold(demand) }
            }
        }
    }

    /// The session is over: no more connections, and the current one closes.
    func shutdown() {
        let current = state.withLock { state in
            state.shut = true
            return state.current
        }
        demands.finish()
        current?.retirement.fire()
    }

    /// A connection for a reply to `url`, open and usable.
    func link(for url: String) async throws -> ElevenLabsContextLink {
        let idleLimit = configuration.keepAliveInterval
        let maximum = ElevenLabsMultiContextTextToSpeech.maximumContexts
        let (usable, replaced) = state.withLock { state -> (ElevenLabsContextLink?, ElevenLabsContextLink?) in
            guard let current = state.current else { return (nil, nil) }
            if current.isUsable(for: url, maximumContexts: maximum, idleLimit: idleLimit) { return (current, nil) }
            state.current = nil
            return (nil, current)
        }
        replaced?.demote()
        if let usable { return usable }
        let demand = Demand(url: url)
        switch demands.yield(demand) {
        case .enqueued:
            return try await demand.wait()
        case .dropped:
            throw configuration.error(name, .engine, "too many ElevenLabs connections waiting to open")
        case .terminated:
            throw CancellationError()
        @unknown default:
            throw CancellationError()
        }
    }

    /// Opens the connection `demand` asks for and holds it until it ends or retires.
    private func hold(_ demand: Demand) async {
        let configuration = configuration
        var opened: ElevenLabsContextLink?
        do {
            try await ProviderWebSocket.connect(
                to: demand.url, headers: [("xi-api-key", configuration.apiKey)], maximumMessageSize: 1 << 22,
                timeout: configuration.connectTimeout
            ) { connection in
                configuration.health.succeeded()
                let link = ElevenLabsContextLink(connection: connection, url: demand.url, number: nextNumber(), clock: configuration.clock)
                opened = link
                install(link)
                demand.resume(.success(link))
                try await link.run(configuration, name: name)
            }
        } catch {
            if opened == nil {
                let failure = Task.isCancelled ? CancellationError() : configuration.webSocketConnectFailure(name, error)
                if let failure = failure as? ProviderError { configuration.health.failed(failure) }
                demand.resume(.failure(failure))
            }
        }
        if let opened { uninstall(opened) }
        // Whatever happened, the reply must not wait for good.
        demand.resume(.failure(configuration.error(name, .streamEnded, "the connection to ElevenLabs ended as it opened")))
    }

    private func nextNumber() -> Int {
        state.withLock { state in
            defer { state.nextNumber += 1 }
            return state.nextNumber
        }
    }

    /// Makes `link` the current connection (demoting the one before); after ``shutdown()`` it retires at once.
    private func install(_ link: ElevenLabsContextLink) {
        let (shut, previous) = state.withLock { state -> (Bool, ElevenLabsContextLink?) in
            if state.shut { return (true, nil) }
            defer { state.current = link }
            return (false, state.current)
        }
        if shut { link.retirement.fire() }
        if let previous, previous !== link { previous.demote() }
    }

    private func uninstall(_ link: ElevenLabsContextLink) {
        state.withLock { state in
            if state.current === link { state.current = nil }
        }
    }
}
