import NIOWebSocket
import Synchronization

#if canImport(CRandom)
import CRandom
#endif

/// The masking keys of one client connection's frames (RFC 6455 §5.3: each frame's key must be
/// fresh and unpredictable), drawn from the kernel's random source in blocks.
///
/// `WebSocketMaskingKey.random()` asks the kernel for every key: one `getrandom` system call per
/// frame sent. At 100 sessions streaming to Deepgram that was about 2,800 calls a second, a tenth
/// of all the server's system calls (`strace -c -f` over `parley-bench capacity --sessions 100`,
/// 2026-12-05). The keys are the same kernel randomness, fetched 128 at a time.
final class MaskingKeySource: Sendable {
    /// Bytes fetched per refill: 128 keys.
    static let blockSize = 512

    private struct Block {
        var bytes = [UInt8](repeating: 0, count: MaskingKeySource.blockSize)
        /// The next unused byte; `blockSize` when the block is used up.
        var next = MaskingKeySource.blockSize
    }

    private let block = Mutex(Block())

    init() {}

    /// A fresh key.
    func next() -> WebSocketMaskingKey {
        block.withLock { block in
            if block.next + 4 > block.bytes.count {
                Self.fill(&block.bytes)
                block.next = 0
            }
            defer { block.next += 4 }
            return [block.bytes[block.next], block.bytes[block.next + 1], block.bytes[block.next + 2], block.bytes[block.next + 3]]
        }
    }

    /// Fills `bytes` from the kernel's random source, falling back to the standard library's
    /// generator (the same source, a word at a time) should the call be unavailable.
    private static func fill(_ bytes: inout [UInt8]) {
        #if os(Linux)
        let filled = bytes.withUnsafeMutableBytes { buffer in getrandom(buffer.baseAddress, buffer.count, 0) }
        if filled == bytes.count { return }
        #endif
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
    }
}
