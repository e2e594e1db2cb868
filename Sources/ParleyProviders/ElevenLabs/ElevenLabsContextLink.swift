import ParleyCore
import Synchronization

/// One open `multi-stream-input` connection of a session (``ElevenLabsContextSocket``): its
/// contexts, the reader that hands each message to the context it names, and the writer of the
/// messages a reply that has gone can no longer send itself (`close_context` after a barge-in).
final class ElevenLabsContextLink: Sendable {
    /// What a context's reply reads.
    enum Event: Sendable {
        /// A message ElevenLabs sent for the context, or an error it sent for the whole socket.
        case message(ElevenLabsServerMessage)
        /// The connection ended (`code` nil: without a close frame).
        case ended(code: Int?, reason: String)
        /// Reading failed.
        case failed(any Error)
    }

    /// Messages a context may have waiting for its reply before it fails (the reply reads them as
    /// fast as its audio queue takes them; ElevenLabs sends a few per second of speech).
    static let eventCapacity = 4096
    /// How long the server has to answer our close frame before the connection is dropped.
    static let closeGrace = Duration.seconds(2)

    private struct Route {
        var events: AsyncStream<Event>.Continuation
        var overflowed = false
    }

    private struct State {
        var routes: [String: Route] = [:]
        /// Contexts opened and not yet final (left ones included): ElevenLabs limits how many a socket holds.
        var unfinished: Set<String> = []
        /// Contexts whose `close_context` has been sent.
        var closing: Set<String> = []
        var overflowed: Set<String> = []
        var nextContext = 1
        var lastSent: SessionClock.Instant
        /// Whether new replies come here; a link replaced by a newer one retires once its last context is left.
        var current = true
        var ended = false
    }

    let connection: ProviderWebSocketConnection
    /// The URL it was opened for (voice, model and format).
    let url: String
    /// Which of the session's connections this is, in the context ids (`c<number>-<n>`).
    let number: Int
    /// Fired to close the connection.
    let retirement = CancellationSignal()
    private let state: Mutex<State>
    private let clock: SessionClock
    private let control: AsyncStream<String>.Continuation
    private let controlMessages: AsyncStream<String>

    init(connection: ProviderWebSocketConnection, url: String, number: Int, clock: SessionClock) {
        self.connection = connection
        self.url = url
        self.number = number
        self.clock = clock
        state = Mutex(State(lastSent: clock.now))
        // Holds one `close_context` per context ever left, at most the contexts a socket may hold
        // plus those left since; a full queue fails the link (``leave(_:)``).
        (controlMessages, control) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(64))
    }

    /// Whether a reply for `url` may open its context here: the link is current and alive, for the
    /// same URL, below `maximumContexts` unfinished contexts, and something was sent on it within
    /// `idleLimit`.
    func isUsable(for url: String, maximumContexts: Int, idleLimit: Duration) -> Bool {
        let now = clock.now
        return state.withLock { state in
            state.current && !state.ended && self.url == url && state.unfinished.count < maximumContexts
                && now - state.lastSent < idleLimit
        }
    }

    /// Opens a context: its id and the stream of its events; nil when the link has ended.
    func open() -> (id: String, events: AsyncStream<Event>)? {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingOldest(Self.eventCapacity))
        return state.withLock { state in
            guard !state.ended else { return nil }
            let id = "c\(number)-\(state.nextContext)"
            state.nextContext += 1
            state.routes[id] = Route(events: continuation)
            state.unfinished.insert(id)
            return (id, events)
        }
    }

    /// Sends a message for a reply.
    func send(_ text: String) async throws {
        let now = clock.now
        state.withLock { $0.lastSent = now }
        try await connection.send(text: text)
    }

    /// Records that `id`'s `close_context` was sent by its reply.
    func closed(_ id: String) {
        _ = state.withLock { $0.closing.insert(id) }
    }

    /// Whether `id`'s events were cut short because its reply fell too far behind.
    func overflowed(_ id: String) -> Bool {
        state.withLock { $0.overflowed.contains(id) }
    }

    /// The reply of `id` is over (finished, failed or cancelled): its later audio is dropped, and
    /// a context not yet final is closed by the writer. A link no longer current retires with its
    /// last context.
    func leave(_ id: String) {
        let (closeContext, retire) = state.withLock { state -> (Bool, Bool) in
            state.routes.removeValue(forKey: id)?.events.finish()
            let needed = state.unfinished.contains(id) && !state.closing.contains(id) && !state.ended
            if needed { state.closing.insert(id) }
            return (needed, !state.current && state.routes.isEmpty)
        }
        if closeContext, case .dropped = control.yield(ElevenLabsMultiContextTextToSpeech.closeContextMessage(id)) {
            retirement.fire()
        }
        if retire { retirement.fire() }
    }

    /// A newer link takes the new replies: this one retires once its last context is left.
    func demote() {
        let idle = state.withLock { state in
            state.current = false
            return state.routes.isEmpty
        }
        if idle { retirement.fire() }
    }

    /// Runs the connection until it ends or retires: the reader, the writer of `close_context`
    /// messages, and on retirement a close frame with ``closeGrace`` for the server's answer.
    func run(_ configuration: ElevenLabsConfiguration, name: String) async throws {
        defer { end(.ended(code: nil, reason: "")) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask { await self.read(configuration, name: name) }
            group.addTask {
                for await message in self.controlMessages { try await self.send(message) }
            }
            group.addTask {
                await self.retirement.wait()
                try? await self.connection.close(code: 1000)
                try await Task.sleep(for: Self.closeGrace)
            }
            // The first to end ends the link: the reader (the connection ended), the writer (a
            // send failed) or the retirement.
            _ = try await group.next()
        }
    }

    /// Reads until the connection ends, handing each message to its context.
    private func read(_ configuration: ElevenLabsConfiguration, name: String) async {
        var messages = connection.messages.makeAsyncIterator()
        while true {
            let message: ProviderWebSocket.Message?
            do {
                message = try await messages.next()
            } catch {
                end(.failed(configuration.webSocketStreamFailure(name, error)))
                return
            }
            switch message {
            case nil:
                end(.ended(code: nil, reason: ""))
                return
            case .text(let text)?:
                do {
                    deliver(try ElevenLabsServerMessage(parsing: text))
                } catch {
                    end(.failed(configuration.error(name, .badResponse, "ElevenLabs sent \(error)")))
                    retirement.fire()
                    return
                }
            case .binary?:
                continue
            case .closed(let code, let reason)?:
                end(.ended(code: code, reason: reason))
                return
            }
        }
    }

    /// Hands `message` to the context it names. An error concerns the whole socket (ElevenLabs
    /// closes it next) and goes to every context; audio for a context whose reply has left, or
    /// that names no context, is dropped.
    private func deliver(_ message: ElevenLabsServerMessage) {
        state.withLock { state in
            if message.error != nil {
                for route in state.routes.values { route.events.yield(.message(message)) }
                return
            }
            guard let id = message.contextID else { return }
            if message.isFinal { state.unfinished.remove(id) }
            guard let route = state.routes[id] else { return }
            if case .dropped = route.events.yield(.message(message)) {
                state.overflowed.insert(id)
                route.events.finish()
                state.routes[id] = nil
            } else if message.isFinal {
                route.events.finish()
                state.routes[id] = nil
            }
        }
    }

    /// The connection is over: every context still open gets `event` and ends.
    private func end(_ event: Event) {
        let routes = state.withLock { state in
            state.ended = true
            defer { state.routes = [:] }
            return state.routes.values
        }
        for route in routes {
            route.events.yield(event)
            route.events.finish()
        }
        control.finish()
    }
}
