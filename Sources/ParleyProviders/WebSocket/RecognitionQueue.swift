import ParleyCore
import Synchronization

/// The one queue a streaming recogniser's task reads (Deepgram, Deepgram Flux, smallest.ai
/// Pulse): the caller's input, the provider's messages and clock ticks, so that one task alone
/// keeps the stream's state and calls `onEvent`.
///
/// Bounded and never blocking its producers: a full queue (the recogniser's task more than
/// ``capacity`` events behind) ends it, and ``overflowed`` tells the task to fail with a visible
/// error. The caller's input arrives every 20 ms, so the task needs no timer while it flows: the
/// iterator hands out a tick before any event that comes a tick or more after the last one, and
/// the clock's ticks are sent only while no input comes (the keep-alive, the close's deadline, a
/// watchdog), checked every ``quietFactor`` ticks while input flows. At 100 sessions this took
/// 400 timer wake-ups a second, each a hand-off to the task, off the audio path.
final class RecognitionQueue<Event: Sendable>: Sendable {
    /// Events held at most: 32 s of 20 ms frames, beyond the session's own 30 s speech queue.
    static var capacity: Int { 1600 }
    /// While input flows, the ticker looks again after this many ticks.
    static var quietFactor: Int { 4 }

    /// What the queue holds: an event, or the clock's tick.
    enum Item: Sendable {
        case event(Event)
        case tick
    }

    private let queue = SignalQueue<Item>(capacity: RecognitionQueue.capacity)
    private let clock: SessionClock
    /// How often the consumer gets a tick at least.
    let tick: Duration
    private let tickEvent: Event
    /// Input items received; the ticker compares it across its sleeps.
    private let inputs = Atomic<Int>(0)
    private let inputEnded = Atomic<Bool>(false)

    /// A queue whose consumer gets `tickEvent` at least every `tick` on `clock`.
    init(clock: SessionClock, tick: Duration, tickEvent: Event) {
        self.clock = clock
        self.tick = tick
        self.tickEvent = tickEvent
    }

    /// Whether an event found the queue full (it then ended): the consumer fell hopelessly behind.
    var overflowed: Bool { queue.overflowed }

    /// Queues `event`; a full queue ends the queue (see ``overflowed``).
    func send(_ event: sending Event) {
        enqueue(.event(event))
    }

    private func enqueue(_ item: sending Item) {
        queue.offerOrFinish(item)
    }

    /// Moves `input` onto the queue as `wrap(item)`, then `ended`, and ticks until cancelled:
    /// run it in a child task that lives as long as the recognition (cancelling a reader of an
    /// `AsyncStream` ends that stream).
    func feed(_ input: AsyncStream<SpeechInput>, wrap: (SpeechInput) -> Event, ended: Event) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask { try await self.tickWhileQuiet() }
            for await item in input {
                inputs.add(1, ordering: .relaxed)
                send(wrap(item))
            }
            inputEnded.store(true, ordering: .relaxed)
            send(ended)
            group.cancelAll()
            // No input from here on: every tick goes out (the close's deadline).
            while true {
                try await clock.sleep(for: tick)
                enqueue(.tick)
            }
        }
    }

    /// Sends a tick after each `tick` without input; while input flows it only looks again now
    /// and then, since the iterator ticks on the input itself.
    private func tickWhileQuiet() async throws {
        // Input before the first look counts as flowing.
        var seen = 0
        var period = tick
        while !inputEnded.load(ordering: .relaxed) {
            try await clock.sleep(for: period)
            let count = inputs.load(ordering: .relaxed)
            if count != seen {
                seen = count
                period = tick * Self.quietFactor
                continue
            }
            period = tick
            enqueue(.tick)
        }
    }

    /// The consumer's events: the queue's, with a tick first whenever one is due.
    func makeIterator() -> Iterator {
        Iterator(base: queue, clock: clock, tick: tick, tickEvent: tickEvent, lastTick: clock.now)
    }

    /// Reads the queue from one task.
    struct Iterator {
        let base: SignalQueue<Item>
        let clock: SessionClock
        let tick: Duration
        let tickEvent: Event
        var lastTick: SessionClock.Instant
        /// An event held back behind the tick handed out before it.
        var held: Event?

        /// The next event, or nil when the queue ended (it overflowed) or the task was cancelled.
        mutating func next() async -> Event? {
            if let event = held {
                held = nil
                return event
            }
            let now: SessionClock.Instant
            switch await base.next() {
            case nil:
                return nil
            case .tick:
                lastTick = clock.now
                return tickEvent
            case .event(let event):
                now = clock.now
                guard now - lastTick >= tick else { return event }
                held = event
            }
            lastTick = now
            return tickEvent
        }
    }
}
