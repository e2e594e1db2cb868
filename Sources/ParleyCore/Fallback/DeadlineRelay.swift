import AsyncAlgorithms
import Synchronization

/// Thrown by ``relay(deadline:wake:produce:consume:)`` when the consumer waited past its deadline.
struct DeadlineExpired: Error {}

/// Runs `produce` in a child task and hands each element it yields to `consume` in the caller's
/// task, one at a time (the producer waits while the consumer works: back-pressure, no buffer).
///
/// While the consumer waits for the next element, `deadline(since)` (given when the wait began)
/// says until when it may wait; nil means no limit now. Past it, the producer is cancelled and
/// ``DeadlineExpired`` is thrown. `wake` re-reads the deadline early (the caller's state changed).
/// The producer's own error is rethrown; so is the consumer's.
func relay<Element: Sendable>(
    deadline: @escaping @Sendable (_ since: ContinuousClock.Instant) -> ContinuousClock.Instant?,
    wake: AsyncStream<Void>? = nil,
    produce: @escaping @Sendable (_ yield: @Sendable (Element) async throws -> Void) async throws -> Void,
    consume: (Element) async throws -> Void
) async throws {
    let channel = AsyncThrowingChannel<Element, any Error>()
    let waitingSince = WaitingSince()
    let (pokes, poke) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    let clock = ContinuousClock()
    try await withThrowingTaskGroup(of: Void.self) { group in
        defer { group.cancelAll() }
        group.addTask {
            do {
                try await produce { try await channel.send($0) }
                channel.finish()
            } catch {
                channel.fail(error)
            }
        }
        if let wake {
            group.addTask {
                for await _ in wake { poke.yield() }
            }
        }
        group.addTask {
            // The watchdog: sleeps until the current deadline, or until poked when there is none.
            var pokes = pokes.makeAsyncIterator()
            while !Task.isCancelled {
                let since = waitingSince.value
                guard let since, let limit = deadline(since) else {
                    guard await pokes.next() != nil else { return }
                    continue
                }
                if clock.now >= limit {
                    channel.fail(DeadlineExpired())
                    return
                }
                try await clock.sleep(until: limit)
            }
        }
        var elements = channel.makeAsyncIterator()
        while true {
            waitingSince.value = clock.now
            poke.yield()
            guard let element = try await elements.next() else { break }
            waitingSince.value = nil
            try await consume(element)
        }
        waitingSince.value = nil
        try Task.checkCancellation()
    }
}

/// Since when the consumer has been waiting (nil while it works), shared with the watchdog.
private final class WaitingSince: Sendable {
    private let state = Mutex<ContinuousClock.Instant?>(nil)

    var value: ContinuousClock.Instant? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
