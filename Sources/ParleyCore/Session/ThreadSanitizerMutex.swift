#if PARLEY_TSAN
import Glibc

/// In ThreadSanitizer builds only (`-DPARLEY_TSAN`, set by `scripts/sanitizers-test.sh`), every
/// `Mutex` in Parley's modules is this pthread mutex instead of Synchronization's.
///
/// On Linux a contended `Synchronization.Mutex` is acquired and released by futex system calls
/// inside libswiftSynchronization, which is not built for TSan: TSan sees no ordering between the
/// critical sections and reports the state each Mutex protects (two threads incrementing a counter
/// under `withLock` reproduce it). TSan does intercept pthread mutexes. The typealias below shadows
/// Synchronization's `Mutex` in ParleyCore; every other module that uses `Mutex` declares the same
/// alias in its own `ThreadSanitizerMutex.swift` (a module's own declarations always win over
/// imported ones, while which import wins is not reliable).
// Why this unchecked Sendable conformance is safe: the only stored state is `value` and the mutex pointer.
// `value` is read and written only inside `withLock`, between `pthread_mutex_lock` and
// `pthread_mutex_unlock` on that one mutex, which is allocated in `init`, never exposed and freed
// in `deinit` (when no other reference can exist). This is exactly the guarantee
// `Synchronization.Mutex` gives, which is Sendable for the same reason.
package final class ThreadSanitizerMutex<Value: ~Copyable>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    package init(_ value: consuming Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    package func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

typealias Mutex<Value: ~Copyable> = ThreadSanitizerMutex<Value>
#endif
