import AsyncHTTPClient
import Foundation
import ParleyCore

extension ServerProcess {
    /// What the server process holds at one moment, read from `/proc`: the figures a soak run
    /// needs back at their baseline once every session has ended.
    struct Probe: Sendable {
        /// Entries of `/proc/<pid>/fd`.
        var openFiles: Int
        /// Of those, TCP connections to the HTTP providers' ports: AsyncHTTPClient's keep-alive
        /// pool, which keeps idle connections for 60 s, so they are counted apart.
        var pooledConnections: Int
        /// Entries of `/proc/<pid>/task`.
        var threads: Int
        /// Processes whose parent is the server.
        var children: [Int32]
        /// `VmRSS`, in bytes.
        var residentBytes: Int
        /// Open files by kind (`tcp to :8080`, `tcp listening`, `pipe`, `[eventfd]`, a path), to
        /// tell what is left over when the count does not come back.
        var fileKinds: [String: Int]

        /// Open files other than the providers' keep-alive pool.
        var openFilesBesidesPool: Int { openFiles - pooledConnections }
    }

    /// Reads the probe; nil once the process has exited. `pooledPorts` are the loopback ports of
    /// the HTTP providers (whose idle connections AsyncHTTPClient keeps).
    func probe(pooledPorts: Set<Int>) -> Probe? {
        let directory = "/proc/\(pid)"
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/fd"),
            let tasks = try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/task"),
            let usage
        else { return nil }
        let targets = files.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/fd/\($0)") }
        let sockets = Set(targets.filter { $0.hasPrefix("socket:[") }.map { String($0.dropFirst("socket:[".count).dropLast()) })
        let ports = Self.ports(inodes: sockets, table: "\(directory)/net/tcp")
            .merging(Self.ports(inodes: sockets, table: "\(directory)/net/tcp6")) { first, _ in first }
        let unixSockets = Self.inodes(in: "\(directory)/net/unix", column: 6)
        var kinds: [String: Int] = [:]
        for target in targets {
            let kind: String
            if target.hasPrefix("socket:[") {
                let inode = String(target.dropFirst("socket:[".count).dropLast())
                switch ports[inode] {
                case nil:
                    // Not listening, connecting or connected: a unix or netlink socket, or a TCP
                    // socket already closed whose descriptor is still held.
                    kind = unixSockets.contains(inode) ? "unix socket" : "socket in no TCP state"
                case let (_, remote)? where remote == 0: kind = "tcp listening"
                case let (local, _)? where local == port: kind = "tcp from a client"
                case let (_, remote)?: kind = "tcp to :\(remote)"
                }
            } else if target.hasPrefix("pipe:") {
                kind = "pipe"
            } else if target.hasPrefix("anon_inode:") {
                kind = String(target.dropFirst("anon_inode:".count))
            } else {
                kind = target
            }
            kinds[kind, default: 0] += 1
        }
        return Probe(
            openFiles: files.count, pooledConnections: ports.values.filter { pooledPorts.contains($0.remote) }.count,
            threads: tasks.count, children: Self.children(of: pid), residentBytes: usage.residentBytes, fileKinds: kinds)
    }

    /// The inodes in `column` of a `/proc/net/…` table.
    private static func inodes(in table: String, column: Int) -> Set<String> {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { return [] }
        return Set(
            text.split(separator: "\n").dropFirst().compactMap { line in
                let columns = line.split(separator: " ", omittingEmptySubsequences: true)
                return columns.count > column ? String(columns[column]) : nil
            })
    }

    /// The local and remote ports of each socket of `inodes` listed in a `/proc/net/tcp`-style table.
    private static func ports(inodes: Set<String>, table: String) -> [String: (local: Int, remote: Int)] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { return [:] }
        var ports: [String: (local: Int, remote: Int)] = [:]
        // Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
        for line in text.split(separator: "\n").dropFirst() {
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count > 9, inodes.contains(String(columns[9])),
                let local = columns[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                let remote = columns[2].split(separator: ":").last.flatMap({ Int($0, radix: 16) })
            else { continue }
            ports[String(columns[9])] = (local, remote)
        }
        return ports
    }

    /// Processes whose parent is `parent` (field 4 of `/proc/<pid>/stat`).
    private static func children(of parent: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let afterName = stat.lastIndex(of: ")")
            else { return nil }
            // After the parenthesised name: state, then the parent's pid.
            let fields = stat[stat.index(after: afterName)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent ? pid : nil
        }.sorted()
    }

    /// Every sample of `/metrics` by series (`name{labels}`), and the names declared as gauges.
    func metrics(httpClient: HTTPClient) async throws -> (samples: [String: Double], gauges: Set<String>) {
        let response = try await httpClient.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(5))
        let body = String(buffer: try await response.body.collect(upTo: 4 << 20))
        var samples: [String: Double] = [:]
        var gauges: Set<String> = []
        for line in body.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4, parts[3] == "gauge" { gauges.insert(String(parts[2])) }
                continue
            }
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return (samples, gauges)
    }

    /// `sessions` from `/health/ready` (which answers 503 with the same body when not ready).
    func healthSessions(httpClient: HTTPClient) async throws -> Int {
        let response = try await httpClient.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/health/ready"), timeout: .seconds(5))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
        guard let sessions = JSONValue.parse(body)?["sessions"]?.intValue else {
            throw BenchError("/health/ready has no sessions count: \(body.prefix(200))")
        }
        return sessions
    }
}
