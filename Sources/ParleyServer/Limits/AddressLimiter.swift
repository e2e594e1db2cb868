import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Counts open `/ws` connections by client address, so one address cannot take every session
/// slot (`--max-connections-per-address`). A slot is taken at the handshake and given back when
/// the connection's channel closes, however the connection ends.
final class AddressLimiter: Sendable {
    let maximum: Int
    let trustForwardedFor: Bool
    /// Open connections by address; an address leaves the table when its last connection closes.
    private let open = Mutex<[String: Int]>([:])

    init(limits: ConnectionLimits) {
        maximum = limits.maximumConnectionsPerAddress
        trustForwardedFor = limits.trustForwardedFor
    }

    /// The client's address: the peer's IP, or with `--trust-forwarded-for` the last entry of
    /// `X-Forwarded-For` (the one the nearest proxy appended).
    func address(of request: Request, channel: any Channel) -> String {
        if trustForwardedFor, let forwarded = request.headers[values: .xForwardedFor].last,
            let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty
        {
            return String(last.prefix(64))
        }
        return channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Takes a slot for `address` until `channel` closes; false when the address has none left.
    func acquire(_ address: String, until channel: any Channel) -> Bool {
        let taken = open.withLock { open in
            guard open[address, default: 0] < maximum else { return false }
            open[address, default: 0] += 1
            return true
        }
        guard taken else { return false }
        channel.closeFuture.whenComplete { [self] _ in release(address) }
        return true
    }

    /// Open connections from `address`.
    func count(_ address: String) -> Int {
        open.withLock { $0[address, default: 0] }
    }

    private func release(_ address: String) {
        open.withLock { open in
            let left = open[address, default: 1] - 1
            open[address] = left > 0 ? left : nil
        }
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
