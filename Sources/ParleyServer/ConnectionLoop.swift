import NIOCore
import ParleyCore
import ParleyProviders

/// Runs a session on its connection's event loop: its Swift tasks and its real-time waits.
///
/// Every caller frame is read on the loop of the caller's socket (``WebSocketReadTap``). With the
/// session's tasks on the cooperative pool, each frame, each reply burst and each provider
/// message crossed threads: a futex wake-up of a pool thread, and for every write a hop back to
/// the loop. With the tasks on the loop (``EventLoopTaskExecutor``) the reader queues a frame and
/// the coordinator takes it on the same thread, and a write from the session is made in place:
/// at 100 talking sessions futex calls fell by 85 % and context switches by half, and a
/// conversation took 12 % less of the server's CPU (BENCHMARKS.md, 2026-12-06). Provider sockets opened from the session go
/// on the same loop (``ProviderWebSocket``), so their reads and writes stay on it too.
///
/// The price is NIO's: code on a loop holds up every other socket on it while it runs. Session
/// code never blocks (model runs go to ``ModelWorkers``, espeak-ng to NIO's thread pool, the local
/// engines are child processes), and the coordinator gives the loop back after every 32 signals
/// it handles (`VoiceSession.signalsPerTurnOfTheLoop`), so a backlog is worked off in turns.
///
/// A pacer's sleep between bursts (``CancellationSignal/wait(atMost:)``, about 17 times a second
/// while a reply plays) is a timer on the loop (``EventLoopTimer``) rather than dispatch's timer
/// thread, which woke a dispatch worker to resume the pacer: three threads per wake-up.
enum ConnectionLoop {
    /// Runs `body` with its task tree on `eventLoop` and its real-time waits timed by it (as
    /// before, on the cooperative pool and by dispatch, without one).
    static func run<Result>(on eventLoop: (any EventLoop)?, _ body: () async throws -> Result) async rethrows -> Result {
        guard let eventLoop else { return try await body() }
        return try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: eventLoop)) {
            try await RealTimeTimers.$current.withValue(EventLoopTimer(eventLoop: eventLoop)) {
                try await body()
            }
        }
    }
}
