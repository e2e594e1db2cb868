import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import ParleyCore
import ParleyServer
import ParleyTesting
import Testing

@Suite("Per-connection limits: message size and rate, idle time, session length, connections per address")
struct LimitsTests {
    func application(_ limits: ConnectionLimits) -> some ApplicationProtocol {
        var configuration = ServerConfiguration(port: 0, webRoot: nil, maximumSessions: 8)
        configuration.limits = limits
        let providers = fakeProviders()
        return buildApplication(
            configuration: configuration, providers: providers, health: HealthMonitor(providers: providers), logger: Logger(label: "parley.test"))
    }

    static func ready(_ events: [SessionEvent]) -> Bool {
        events.contains { if case .ready = $0 { return true } else { return false } }
    }

    static func fatalError(_ events: [SessionEvent]) -> SessionError? {
        events.lazy.compactMap { event -> SessionError? in
            guard case .error(let error) = event, error.fatal else { return nil }
            return error
        }.first
    }

    static func metric(_ port: Int, _ line: String) async throws -> Bool {
        let response = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(port)/metrics").get()
        return String(buffer: response.body ?? ByteBuffer()).contains(line)
    }

    @Test("a message over --max-message-bytes closes the connection with message_too_large and 1009")
    func messageSize() async throws {
        var limits = ConnectionLimits()
        limits.maximumMessageBytes = 4096
        try await application(limits).test(.live) { client in
            let port = try #require(client.port)
            let (events, close) = try await RawSocket.conversation(port: port) { outbound, received in
                await received.wait(until: Self.ready)
                try await outbound.write(.binary(ByteBuffer(repeating: 0, count: 3000)))
                try await outbound.write(.binary(ByteBuffer(repeating: 0, count: 5000)))
                await received.wait { Self.fatalError($0) != nil }
            }
            #expect(Self.fatalError(events)?.code == .messageTooLarge)
            #expect(close?.closeCode == .messageTooLarge)
            #expect(try await Self.metric(port, #"parley_limit_closures_total{limit="message_size"} 1"#))
        }
    }

    @Test("more messages than the rate allows close the connection with rate_limited and 1008; real-time audio does not")
    func messageRate() async throws {
        var limits = ConnectionLimits()
        limits.maximumMessagesPerSecond = 60
        try await application(limits).test(.live) { client in
            let port = try #require(client.port)
            // One second of real-time audio (50 frames) passes.
            let calm = try await RawSocket.conversation(port: port) { outbound, received in
                await received.wait(until: Self.ready)
                try await RealTimeMicrophone(outbound: outbound).say([Int16](repeating: 0, count: 16000))
            }
            #expect(Self.fatalError(calm.events) == nil)
            // 200 frames at once: over the burst of 120.
            let (events, close) = try await RawSocket.conversation(port: port) { outbound, received in
                await received.wait(until: Self.ready)
                for _ in 0..<200 { try await outbound.write(.binary(ByteBuffer(repeating: 0, count: 640))) }
                await received.wait { Self.fatalError($0) != nil }
            }
            #expect(Self.fatalError(events)?.code == .rateLimited)
            #expect(close?.closeCode == .policyViolation)
            #expect(try await Self.metric(port, #"parley_limit_closures_total{limit="message_rate"} 1"#))
        }
    }

    @Test("no audio for --idle-timeout closes the session with idle_timeout; audio keeps it open")
    func idle() async throws {
        var limits = ConnectionLimits()
        limits.idleTimeout = .milliseconds(800)
        try await application(limits).test(.live) { client in
            let port = try #require(client.port)
            let clock = ContinuousClock()
            let start = clock.now
            let (events, close) = try await RawSocket.conversation(port: port) { outbound, received in
                await received.wait(until: Self.ready)
                // Audio for 1.2 s (longer than the timeout) keeps the session; then silence on the wire.
                try await RealTimeMicrophone(outbound: outbound).say([Int16](repeating: 0, count: 19200))
                #expect(Self.fatalError(received.events) == nil)
                await received.wait { Self.fatalError($0) != nil }
            }
            #expect(Self.fatalError(events)?.code == .idleTimeout)
            #expect(close?.closeCode == .normalClosure)
            #expect(clock.now - start > .milliseconds(1900))
            #expect(try await Self.metric(port, #"parley_limit_closures_total{limit="idle"} 1"#))
        }
    }

    @Test("a session is closed at --max-session-duration with session_too_long")
    func duration() async throws {
        var limits = ConnectionLimits()
        limits.maximumSessionDuration = .milliseconds(1000)
        try await application(limits).test(.live) { client in
            let port = try #require(client.port)
            let (events, close) = try await RawSocket.conversation(port: port) { outbound, received in
                await received.wait(until: Self.ready)
                // The server closes mid-way: the writes after it fail.
                try? await RealTimeMicrophone(outbound: outbound).say([Int16](repeating: 0, count: 32000))
            }
            #expect(Self.fatalError(events)?.code == .sessionTooLong)
            #expect(close?.closeCode == .normalClosure)
            #expect(try await Self.metric(port, #"parley_limit_closures_total{limit="duration"} 1"#))
        }
    }

    @Test("connections over --max-connections-per-address get 429 at the handshake; a closed one frees its slot")
    func perAddress() async throws {
        var limits = ConnectionLimits()
        limits.maximumConnectionsPerAddress = 2
        try await application(limits).test(.live) { client in
            let port = try #require(client.port)
            let held = RecordingSessionOutput()
            try await withThrowingTaskGroup(of: Void.self) { group in
                let release = AsyncStream<Void>.makeStream()
                for _ in 0..<2 {
                    group.addTask {
                        _ = try await RawSocket.conversation(port: port, received: held) { _, _ in
                            for await _ in release.stream { break }
                        }
                    }
                }
                await held.wait { events in events.filter { if case .ready = $0 { return true } else { return false } }.count == 2 }
                let refused = try await RawSocket.handshake(port: port)
                #expect(refused.status == 429)
                #expect(refused.body.contains("--max-connections-per-address"))
                release.continuation.finish()
                try await group.waitForAll()
            }
            // The slots come back as the channels close.
            var status = 0
            for _ in 0..<50 {
                status = try await RawSocket.handshakeStatus(port: port)
                if status == 101 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(status == 101)
            #expect(try await Self.metric(port, #"parley_limit_closures_total{limit="address"} 1"#))
        }
    }

    @Test("with --trust-forwarded-for the client address is X-Forwarded-For's last entry")
    func forwardedFor() async throws {
        var limits = ConnectionLimits()
        limits.maximumConnectionsPerAddress = 1
        limits.trustForwardedFor = true
        try await application(limits).test(.live) { client in
            let port = try #require(client.port)
            let held = RecordingSessionOutput()
            try await withThrowingTaskGroup(of: Void.self) { group in
                let release = AsyncStream<Void>.makeStream()
                group.addTask {
                    _ = try await RawSocket.conversation(
                        port: port, headers: [HTTPField.Name("X-Forwarded-For")!: "10.0.0.9, 198.51.100.7"], received: held
                    ) { _, _ in
                        for await _ in release.stream { break }
                    }
                }
                await held.wait(until: Self.ready)
                #expect(try await RawSocket.handshakeStatus(port: port, headers: [("X-Forwarded-For", "198.51.100.7")]) == 429)
                #expect(try await RawSocket.handshakeStatus(port: port, headers: [("X-Forwarded-For", "198.51.100.8")]) == 101)
                release.continuation.finish()
                try await group.waitForAll()
            }
        }
    }
}
