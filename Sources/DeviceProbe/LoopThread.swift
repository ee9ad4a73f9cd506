import CNetlink
import Dispatch
import Glibc
import NativeThreads
import Synchronization

/// Something a `LoopThread` polls: a descriptor (or -1 for a pure timer) and an
/// optional deadline. Lives only on its loop's thread.
protocol LoopSource: AnyObject {
    /// The descriptor to poll for input, or -1.
    var fd: Int32 { get }
    /// Called on the loop thread when `fd` is readable (or has an error).
    func readable(_ loop: LoopContext)
    /// The next instant `fire` should run, if any.
    func deadline() -> ContinuousClock.Instant?
    /// Called on the loop thread once `deadline()` has passed.
    func fire(_ loop: LoopContext, now: ContinuousClock.Instant)
    /// Called once when the loop stops or the source is removed.
    func close()
}

/// Thread-confined state of one loop: its sources and named per-thread objects.
/// Only ever touched on the loop's own OS thread (never across an `await`).
final class LoopContext {
    fileprivate var sources: [ObjectIdentifier: any LoopSource] = [:]
    /// Per-thread objects owned by the loop's users (sockets, caches).
    var storage: [String: AnyObject] = [:]
    /// The loop's name (its namespace path), for errors.
    let name: String
    /// The network namespace the thread was in once it started (after entering `netnsPath`).
    let namespace: NamespaceIdentity

    fileprivate init(name: String, namespace: NamespaceIdentity) {
        self.name = name
        self.namespace = namespace
    }

    /// Throws unless the calling (loop) thread is still in the network namespace recorded at
    /// start: a job that moved the thread (setns) elsewhere must never make later jobs probe the
    /// wrong namespace.
    func verifyNamespace() throws(ProbeError) {
        let now = try NamespaceIdentity.ofCallingThread()
        guard now == namespace else {
            throw .namespaceChanged(thread: name, expected: namespace.description, found: now.description)
        }
    }

    func add(_ source: any LoopSource) { sources[ObjectIdentifier(source)] = source }

    func remove(_ source: any LoopSource) {
        if sources.removeValue(forKey: ObjectIdentifier(source)) != nil { source.close() }
    }
}

/// A dedicated OS thread that (optionally) enters a network namespace once, then runs
/// submitted jobs and polls its sources with `poll(2)` — blocking, no busy loop. setns
/// affects only the calling OS thread, so everything that must see the namespace runs
/// here, synchronously, and nothing on this thread ever awaits.
final class LoopThread: Sendable {
    struct Shared {
        var jobs: [@Sendable (LoopContext) -> Void] = []
        var stopped = false
        var threadID: Int = 0
        /// The network namespace entered at start.
        var namespace: NamespaceIdentity?
    }

    let name: String
    private let wakeFD: Int32
    private let shared = Mutex(Shared())

    /// Starts the thread and waits until it has entered `netnsPath` (when given).
    init(name: String, netnsPath: String?) throws(ProbeError) {
        self.name = name
        let efd = cnl_eventfd()
        guard efd >= 0 else { throw .openSocket(what: "eventfd", errno: -efd) }
        wakeFD = efd
        let ready = DispatchSemaphore(value: 0)
        let startResult = StartResult()
        let rc = NativeThread.create(name: name) { [self] in
            let entered: Result<NamespaceIdentity, ProbeError> = Self.enter(netnsPath)
            guard case .success(let namespace) = entered else {
                if case .failure(let error) = entered { startResult.error.withLock { $0 = error } }
                self.shared.withLock { $0.stopped = true }
                ready.signal()
                return
            }
            let tid = cnl_gettid()
            self.shared.withLock {
                $0.threadID = tid
                $0.namespace = namespace
            }
            ready.signal()
            self.run(namespace)
        }
        guard rc == 0 else {
            Glibc.close(efd)
            throw .startThread(name: name, errno: rc)
        }
        ready.wait()
        if let error = startResult.error.withLock({ $0 }) { throw error }
    }

    deinit {
        // The running thread holds a strong reference, so this only runs after it exited.
        Glibc.close(wakeFD)
    }

    /// The OS thread id of the loop thread (0 before it starts).
    var threadID: Int { shared.withLock { $0.threadID } }

    /// The network namespace the loop thread entered at start.
    var namespace: NamespaceIdentity? { shared.withLock { $0.namespace } }

    /// On the new thread: enters `path` (when given) and returns the identity of the namespace
    /// the thread is in afterwards, checked against the identity of `path` itself.
    private static func enter(_ path: String?) -> Result<NamespaceIdentity, ProbeError> {
        do throws(ProbeError) {
            guard let path else { return .success(try NamespaceIdentity.ofCallingThread()) }
            let rc = cnl_setns_path(path)
            if rc != 0 { throw .enterNamespace(path: path, errno: -rc) }
            let now = try NamespaceIdentity.ofCallingThread()
            let wanted = try NamespaceIdentity.of(path: path)
            guard now == wanted else {
                throw .namespaceChanged(thread: path, expected: wanted.description, found: now.description)
            }
            return .success(now)
        } catch {
            return .failure(error)
        }
    }

    /// Queues a job; false when the loop has stopped.
    @discardableResult
    func submit(_ job: @escaping @Sendable (LoopContext) -> Void) -> Bool {
        let accepted = shared.withLock { s -> Bool in
            guard !s.stopped else { return false }
            s.jobs.append(job)
            return true
        }
        if accepted { _ = cnl_eventfd_signal(wakeFD) }
        return accepted
    }

    /// Runs `body` on the loop thread and waits for its result (blocks the caller's
    /// OS thread: call it from a thread of your own, or use the async variant).
    func sync<T: Sendable>(_ body: @escaping @Sendable (LoopContext) -> Result<T, ProbeError>) throws(ProbeError) -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<T, ProbeError>?>(nil)
        let accepted = submit { ctx in
            let r = body(ctx)
            result.withLock { $0 = r }
            done.signal()
        }
        guard accepted else { throw .stopped(name: name) }
        done.wait()
        guard let r = result.withLock({ $0 }) else { throw .stopped(name: name) }
        return try r.get()
    }

    /// Runs `body` on the loop thread without blocking the caller's thread.
    func async<T: Sendable>(_ body: @escaping @Sendable (LoopContext) -> Result<T, ProbeError>) async throws(ProbeError) -> T {
        let r: Result<T, ProbeError> = await withCheckedContinuation { cont in
            let accepted = submit { ctx in cont.resume(returning: body(ctx)) }
            if !accepted { cont.resume(returning: .failure(.stopped(name: name))) }
        }
        return try r.get()
    }

    /// Stops the loop: pending jobs still run, sources are closed, the thread exits.
    func shutdown() {
        shared.withLock { $0.stopped = true }
        _ = cnl_eventfd_signal(wakeFD)
    }

    private func run(_ namespace: NamespaceIdentity) {
        let ctx = LoopContext(name: name, namespace: namespace)
        var pfds: [pollfd] = []
        var polled: [any LoopSource] = []
        while true {
            let (jobs, stopped) = shared.withLock { s -> ([@Sendable (LoopContext) -> Void], Bool) in
                let j = s.jobs
                s.jobs.removeAll()
                return (j, s.stopped)
            }
            for job in jobs { job(ctx) }
            if stopped { break }

            pfds.removeAll(keepingCapacity: true)
            polled.removeAll(keepingCapacity: true)
            pfds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0))
            var earliest: ContinuousClock.Instant?
            for source in ctx.sources.values {
                if source.fd >= 0 {
                    pfds.append(pollfd(fd: source.fd, events: Int16(POLLIN), revents: 0))
                    polled.append(source)
                }
                if let d = source.deadline(), earliest.map({ d < $0 }) ?? true { earliest = d }
            }
            var timeout: Int32 = -1
            if let earliest {
                let left = ContinuousClock.now.duration(to: earliest)
                if left <= .zero {
                    timeout = 0
                } else {
                    let (s, atto) = left.components
                    let ms = s * 1000 + (atto + 999_999_999_999_999) / 1_000_000_000_000_000
                    timeout = Int32(clamping: ms)
                }
            }
            let n = pfds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) }
            if n < 0 && errno != EINTR { usleep(10_000) } // EINVAL/ENOMEM: back off, never spin
            if n > 0 {
                if pfds[0].revents != 0 { cnl_eventfd_drain(wakeFD) }
                for (i, source) in polled.enumerated() where pfds[i + 1].revents != 0 {
                    // The source may have been removed by an earlier handler in this round.
                    if ctx.sources[ObjectIdentifier(source)] != nil { source.readable(ctx) }
                }
            }
            let now = ContinuousClock.now
            for source in Array(ctx.sources.values) {
                if let d = source.deadline(), d <= now { source.fire(ctx, now: now) }
            }
        }
        for source in ctx.sources.values { source.close() }
        ctx.sources.removeAll()
        ctx.storage.removeAll()
    }
}

/// Why the loop thread could not start (set on the new thread before it signals the starter).
private final class StartResult: Sendable {
    let error = Mutex<ProbeError?>(nil)
}

/// A network namespace as the kernel names it: the device and inode of its nsfs file
/// (`net:[4026531840]` in `/proc/<pid>/ns/net`). Two paths name the same namespace exactly
/// when both numbers match.
struct NamespaceIdentity: Sendable, Hashable, CustomStringConvertible {
    var device: UInt64
    var inode: UInt64

    var description: String { "net:[\(inode)]" }

    /// The namespace of the calling OS thread (`/proc/thread-self/ns/net`; the per-task path on
    /// kernels older than 3.17).
    static func ofCallingThread() throws(ProbeError) -> NamespaceIdentity {
        do {
            return try of(path: "/proc/thread-self/ns/net")
        } catch {
            return try of(path: "/proc/self/task/\(cnl_gettid())/ns/net")
        }
    }

    /// The namespace a namespace file (`/proc/…/ns/net`, `/var/run/netns/NAME`) refers to.
    static func of(path: String) throws(ProbeError) -> NamespaceIdentity {
        var st = stat()
        guard stat(path, &st) == 0 else { throw .identifyNamespace(path: path, errno: errno) }
        return NamespaceIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }
}
