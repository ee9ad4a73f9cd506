#if canImport(Glibc)
import Glibc
#endif

/// glibc malloc settings for a small, long-lived daemon whose heap is mostly idle.
///
/// - One arena: by default glibc gives threads their own arenas (up to 8 per core), each
///   keeping its own free memory; the agent's threads are mostly asleep, so one arena is
///   enough and keeps the heap compact.
/// - Free memory is handed back to the kernel (`malloc_trim`) after bursts of work (start,
///   probes, resolutions, publishes), so a quiet agent does not keep the peak of its busiest moment.
///
/// `mallopt` and `malloc_trim` are glibc extensions that Swift's Glibc module does not export;
/// they are looked up once with `dlsym`. Elsewhere (musl, Darwin) both calls do nothing.
public enum HeapTuning {
    #if canImport(Glibc)
    private typealias MalloptFunction = @convention(c) (Int32, Int32) -> Int32
    private typealias MallocTrimFunction = @convention(c) (Int) -> Int32
    /// `M_ARENA_MAX` from glibc's malloc.h.
    private static let mArenaMax: Int32 = -8

    private static func lookup(_ name: String) -> UnsafeMutableRawPointer? {
        guard let handle = dlopen(nil, RTLD_NOW) else { return nil }
        return dlsym(handle, name)
    }

    private static let mallocTrim: MallocTrimFunction? =
        lookup("malloc_trim").map { unsafeBitCast($0, to: MallocTrimFunction.self) }
    #endif

    /// Limits malloc to one arena. Call first thing in `main`, before other threads start.
    /// Returns whether glibc accepted it.
    @discardableResult
    public static func useSingleArena() -> Bool {
        #if canImport(Glibc)
        guard let symbol = lookup("mallopt") else { return false }
        return unsafeBitCast(symbol, to: MalloptFunction.self)(mArenaMax, 1) == 1
        #else
        return false
        #endif
    }

    /// Returns the heap's free pages to the kernel. Returns whether memory was released.
    @discardableResult
    public static func releaseFreeMemory() -> Bool {
        #if canImport(Glibc)
        return (mallocTrim?(0) ?? 0) == 1
        #else
        return false
        #endif
    }
}
