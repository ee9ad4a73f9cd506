#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A detached OS thread started with pthreads. The modules the node agent links (KubeClient,
/// HTTPServer, Agent) use this instead of corelibs Foundation's `Thread` and `NSCondition`:
/// full Foundation would pull ICU and CoreFoundation into the agent's memory.
public enum NativeThread {
    /// Starts `body` on a new detached thread named `name` (at most 15 bytes are kept by the kernel).
    /// `stackSize` 0 keeps the system default. False when the thread could not be created.
    @discardableResult
    public static func start(name: String, stackSize: Int = 0, _ body: @escaping @Sendable () -> Void) -> Bool {
        create(name: name, stackSize: stackSize, body) == 0
    }

    /// Like `start`, but returns pthread_create's error number (0 when the thread started), for
    /// callers that report why a thread could not be created.
    public static func create(name: String, stackSize: Int = 0, _ body: @escaping @Sendable () -> Void) -> Int32 {
        let box = Unmanaged.passRetained(ThreadEntry(name: name, body: body))
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if stackSize > 0 { pthread_attr_setstacksize(&attributes, stackSize) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        #if canImport(Darwin)
        var tid: pthread_t?
        #else
        var tid = pthread_t()
        #endif
        let rc = pthread_create(&tid, &attributes, { raw in
            guard let raw else { return nil }
            let entry = Unmanaged<ThreadEntry>.fromOpaque(raw).takeRetainedValue()
            nameCurrentThread(entry.name)
            entry.body()
            return nil
        }, box.toOpaque())
        if rc != 0 { box.release() }
        return rc
    }
}

/// Names the calling thread (shown by `ps -L`, `top -H`, debuggers) through
/// `/proc/thread-self/comm`; the kernel keeps 15 bytes. Best effort.
private func nameCurrentThread(_ name: String) {
    #if os(Linux)
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    #endif
}

private final class ThreadEntry {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// A mutex and a condition variable (what `NSCondition` offered), on pthreads.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// A new, unlocked lock.
    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Waits for a signal; the lock must be held.
    public func wait() { pthread_cond_wait(condition, mutex) }
    public func signal() { pthread_cond_signal(condition) }
    public func broadcast() { pthread_cond_broadcast(condition) }
    /// Waits for a signal until `seconds` from now (realtime clock); false on timeout. The lock must be held.
    public func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }
    /// The realtime-clock instant `seconds` from now, for ``wait(until:)``.
    public static func deadline(afterSeconds seconds: Double) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + max(0, seconds)
        let whole = total.rounded(.down)
        return timespec(tv_sec: Int(whole), tv_nsec: Int((total - whole) * 1e9))
    }
}
