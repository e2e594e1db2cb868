#if PARLEY_TSAN
import ParleyCore

/// ThreadSanitizer builds only: `Mutex` is ParleyCore's pthread mutex in this module too (see
/// ParleyCore's ThreadSanitizerMutex for why).
typealias Mutex<Value: ~Copyable> = ParleyCore.ThreadSanitizerMutex<Value>
#endif
