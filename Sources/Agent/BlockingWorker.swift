import NativeThreads
import Synchronization

/// One dedicated OS thread that runs blocking jobs (file writes with `fsync`) in order, so they
/// never hold a thread of Swift's cooperative pool.
final class BlockingWorker: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var stopped = false
    }

    private let state = Mutex(State())
    private let condition = ConditionLock()
    /// Whether the thread runs; when it could not be started, jobs run on the caller.
    private let started = Atomic<Bool>(false)

    /// Starts the thread (a small stack: the jobs are file writes).
    init(name: String) {
        let ok = NativeThread.start(name: name, stackSize: 512 * 1024) { [self] in loop() }
        started.store(ok, ordering: .releasing)
    }

    /// Runs `body` on the worker thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let accepted = submit { continuation.resume(returning: body()) }
            if !accepted { continuation.resume(returning: body()) }
        }
    }

    /// Stops the thread after the queued jobs.
    func stop() {
        condition.lock()
        state.withLock { $0.stopped = true }
        condition.signal()
        condition.unlock()
    }

    private func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        guard started.load(ordering: .acquiring) else { return false }
        condition.lock()
        defer { condition.unlock() }
        let accepted = state.withLock { s -> Bool in
            guard !s.stopped else { return false }
            s.jobs.append(job)
            return true
        }
        if accepted { condition.signal() }
        return accepted
    }

    private func loop() {
        while true {
            condition.lock()
            var next: (@Sendable () -> Void)?
            var done = false
            while true {
                (next, done) = state.withLock { s in
                    if !s.jobs.isEmpty { return (s.jobs.removeFirst(), false) }
                    return (nil, s.stopped)
                }
                if next != nil || done { break }
                condition.wait()
            }
            condition.unlock()
            if let next { next() } else if done { return }
        }
    }
}
