import AsyncHTTPClient
import Synchronization

/// Watches the server through a soak run: its process (any exit before the run stops it is a
/// crash) and `GET /health/live` once a second (a 5xx means the server is alive but broken).
final class BenchSoakWatch: Sendable {
    /// What the watch saw.
    struct Findings: Sendable {
        /// Liveness probes sent.
        var probes = 0
        /// Probes answered with a 5xx.
        var serverErrors = 0
        /// Probes not answered within 2 s while the process ran (a stalled event loop).
        var unanswered = 0
        /// How the process ended, if it did before the run stopped it.
        var crash: String?
    }

    private let findings = Mutex(Findings())

    /// Everything so far.
    var snapshot: Findings { findings.withLock { $0 } }

    /// Whether the server process has ended.
    var crashed: Bool { findings.withLock { $0.crash != nil } }

    /// Probes until cancelled or the process ends.
    func watch(_ server: ServerProcess, httpClient: HTTPClient) async {
        let request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/health/live")
        while !Task.isCancelled {
            if let termination = server.termination {
                findings.withLock { $0.crash = termination }
                return
            }
            do {
                let response = try await httpClient.execute(request, timeout: .seconds(2))
                _ = try await response.body.collect(upTo: 1 << 16)
                let failed = (500..<600).contains(Int(response.status.code))
                findings.withLock { findings in
                    findings.probes += 1
                    if failed { findings.serverErrors += 1 }
                }
            } catch {
                if !Task.isCancelled && server.termination == nil {
                    findings.withLock { findings in
                        findings.probes += 1
                        findings.unanswered += 1
                    }
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
