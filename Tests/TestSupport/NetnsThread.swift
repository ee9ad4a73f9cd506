import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new thread that first joins the network namespace at `path` (`/var/run/netns/<name>`),
/// and returns its result. Sockets `body` creates belong to that namespace, and so do those of threads
/// it starts (a thread starts in its creator's namespaces): create a client there, and its I/O
/// thread and connections live in the namespace while the test itself stays in the host's.
public func inNetworkNamespace<T: Sendable>(_ path: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
    let result = OutcomeBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        defer { done.signal() }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            result.set(.failure(TestFailure("open \(path): \(String(cString: strerror(errno)))")))
            return
        }
        defer { close(fd) }
        guard systemSetns(fd, 0x4000_0000 /* CLONE_NEWNET */) == 0 else {
            result.set(.failure(TestFailure("setns \(path): \(String(cString: strerror(errno)))")))
            return
        }
        result.set(Result { try body() })
    }
    thread.start()
    done.wait()
    return try result.get()
}

/// The outcome of work on another thread.
private final class OutcomeBox<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)
    func set(_ outcome: Result<T, any Error>) { value.withLock { $0 = outcome } }
    func get() throws -> T {
        guard let outcome = value.withLock({ $0 }) else { throw TestFailure("the namespace thread returned nothing") }
        return try outcome.get()
    }
}

/// `setns(2)`; Glibc declares it only under `_GNU_SOURCE`.
@_silgen_name("setns")
private func systemSetns(_ fd: Int32, _ type: Int32) -> Int32
