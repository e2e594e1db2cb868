#if canImport(Glibc)
import Glibc
#endif
#if canImport(CMalloc)
import CMalloc
#endif

/// The process's allocator: jemalloc in release builds on Linux (Package.swift links it), glibc's
/// malloc in debug and sanitizer builds. Which one runs is found at run time, by looking up
/// jemalloc's `mallctl`.
///
/// jemalloc took 2-8 % less server CPU per session than glibc's malloc in the capacity bench, the
/// same build with each (BENCHMARKS.md, 2026-12-07). Two controls differ between them: how freed
/// memory goes back to the system, and where jemalloc does that work.
enum HeapAllocator {
    private typealias Control =
        @Sendable @convention(c) (
            _ name: UnsafePointer<CChar>?, _ old: UnsafeMutableRawPointer?, _ oldLength: UnsafeMutablePointer<Int>?,
            _ new: UnsafeMutableRawPointer?, _ newLength: Int
        ) -> Int32

    /// jemalloc's `mallctl`; nil under glibc's malloc.
    private static let control: Control? = {
        #if os(Linux)
        guard let process = dlopen(nil, RTLD_LAZY), let symbol = dlsym(process, "mallctl") else { return nil }
        return unsafeBitCast(symbol, to: Control.self)
        #else
        return nil
        #endif
    }()

    /// Has jemalloc return unused pages from its own background threads rather than from the
    /// threads that free memory (the event loops), so that a session's frame never waits on it.
    /// Nothing to do under glibc's malloc.
    static func purgeInBackground() {
        guard let control else { return }
        var enabled = true
        _ = control("background_thread", nil, nil, &enabled, MemoryLayout<Bool>.size)
    }

    /// Returns freed heap memory to the system now: the server calls it when its last session
    /// has ended, so that its resident size does not stay at its busiest.
    static func returnFreedMemory() {
        if let control {
            // MALLCTL_ARENAS_ALL: every arena.
            _ = control("arena.4096.purge", nil, nil, nil, 0)
            return
        }
        #if os(Linux) && canImport(CMalloc)
        // glibc keeps freed memory in its per-thread arenas.
        malloc_trim(0)
        #endif
    }
}
