// The async work queue: `WorkQueueState` behind a mutex, consumers waiting in `next()`,
// one timer task for delayed keys, and per-key backoff for rate-limited requeues.

import Synchronization

/// A deduplicating work queue with one item in flight per key, delayed and rate-limited requeues,
/// and draining shutdown.
///
/// ```swift
/// let queue = WorkQueue<ObjectKey>()
/// queue.add(key)
/// while let key = await queue.next() {
///     defer { queue.done(key) }
///     // reconcile key; on failure: queue.addRateLimited(key), on success: queue.forget(key)
/// }
/// ```
public final class WorkQueue<Key: Hashable & Sendable>: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Key?, Never>
    }
    private struct State {
        var queue = WorkQueueState<Key>()
        var backoff: KeyedBackoff<Key>
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var cancelledWaiters: Set<UInt64> = []
        var timer: Task<Void, Never>?
        var timerDeadline: ContinuousClock.Instant?
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>
    private let clock: any RuntimeClock
    private let random: @Sendable () -> Double

    /// Creates a queue. `backoff` is the per-key policy used by `addRateLimited`.
    public init(
        backoff: KeyedBackoff<Key> = KeyedBackoff(),
        clock: any RuntimeClock = SystemRuntimeClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        state = Mutex(State(backoff: backoff))
        self.clock = clock
        self.random = random
    }

    /// Adds `key` now (a no-op if it is already queued; processed again later if in flight).
    public func add(_ key: Key) {
        let resumes = state.withLock { s -> [(CheckedContinuation<Key?, Never>, Key?)] in
            s.queue.add(key)
            return Self.handOut(&s)
        }
        for (continuation, key) in resumes { continuation.resume(returning: key) }
    }

    /// Adds `key` after `delay` (`requeueAfter`).
    public func add(_ key: Key, after delay: Duration) {
        let now = clock.now
        let resumes = state.withLock { s -> [(CheckedContinuation<Key?, Never>, Key?)] in
            s.queue.add(key, readyAt: now.advanced(by: delay), now: now)
            scheduleTimer(&s)
            return Self.handOut(&s)
        }
        for (continuation, key) in resumes { continuation.resume(returning: key) }
    }

    /// Adds `key` after its per-key backoff delay and records one more failure; returns the delay.
    @discardableResult
    public func addRateLimited(_ key: Key) -> Duration {
        let r = random()
        let delay = state.withLock { $0.backoff.failure(key, random: r) }
        add(key, after: delay)
        return delay
    }

    /// Forgets the failures of `key` so its next rate-limited requeue starts at the base delay.
    public func forget(_ key: Key) {
        state.withLock { $0.backoff.forget(key) }
    }

    /// How many consecutive rate-limited requeues `key` has had.
    public func failureCount(_ key: Key) -> Int {
        state.withLock { $0.backoff.failureCount(key) }
    }

    /// The number of keys ready to be handed out.
    public var readyCount: Int { state.withLock { $0.queue.readyCount } }
    /// The number of keys in flight.
    public var processingCount: Int { state.withLock { $0.queue.processing.count } }
    /// The number of delayed keys.
    public var waitingCount: Int { state.withLock { $0.queue.waitingCount } }
    /// Whether the queue is shutting down.
    public var isShuttingDown: Bool { state.withLock { $0.queue.isShuttingDown } }

    /// Waits for the next key. Returns nil once the queue is shut down and drained, or when the
    /// calling task is cancelled.
    public func next() async -> Key? {
        let id = state.withLock { s -> UInt64 in s.nextWaiterID += 1; return s.nextWaiterID }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Key?, Never>) in
                let immediate: Key?? = state.withLock { s in
                    if s.cancelledWaiters.remove(id) != nil { return .some(nil) }
                    if let key = s.queue.pop() { return .some(key) }
                    if s.queue.isShuttingDown { return .some(nil) }
                    s.waiters.append(Waiter(id: id, continuation: continuation))
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let continuation = state.withLock { s -> CheckedContinuation<Key?, Never>? in
                if let index = s.waiters.firstIndex(where: { $0.id == id }) {
                    return s.waiters.remove(at: index).continuation
                }
                s.cancelledWaiters.insert(id)
                return nil
            }
            continuation?.resume(returning: nil)
        }
    }

    /// Marks `key` as processed. If it was added again meanwhile it becomes ready again.
    public func done(_ key: Key) {
        let (resumes, drained) = state.withLock { s -> ([(CheckedContinuation<Key?, Never>, Key?)], [CheckedContinuation<Void, Never>]) in
            s.queue.done(key)
            let resumes = Self.handOut(&s)
            return (resumes, Self.takeDrainWaitersIfDrained(&s))
        }
        for (continuation, key) in resumes { continuation.resume(returning: key) }
        for continuation in drained { continuation.resume() }
    }

    /// Refuses new keys and drops delayed ones. Consumers still get the keys already queued, then nil.
    public func shutDown() {
        let (resumes, drained, timer) = state.withLock { s -> ([(CheckedContinuation<Key?, Never>, Key?)], [CheckedContinuation<Void, Never>], Task<Void, Never>?) in
            s.queue.shutDown()
            let timer = s.timer
            s.timer = nil
            s.timerDeadline = nil
            return (Self.handOut(&s), Self.takeDrainWaitersIfDrained(&s), timer)
        }
        timer?.cancel()
        for (continuation, key) in resumes { continuation.resume(returning: key) }
        for continuation in drained { continuation.resume() }
    }

    /// Shuts down and waits until every queued and in-flight key is done (consumers must keep calling
    /// `next()`/`done(_:)` meanwhile).
    public func shutDownAndDrain() async {
        shutDown()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.queue.readyCount == 0 && s.queue.processing.isEmpty { return true }
                s.drainWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    // MARK: internals (called with the lock held)

    private static func handOut(_ s: inout State) -> [(CheckedContinuation<Key?, Never>, Key?)] {
        var resumes: [(CheckedContinuation<Key?, Never>, Key?)] = []
        while !s.waiters.isEmpty, let key = s.queue.pop() {
            resumes.append((s.waiters.removeFirst().continuation, key))
        }
        if s.queue.isShuttingDown && s.queue.readyCount == 0 {
            // Idle consumers end now; a key re-added while in flight becomes ready again in `done`,
            // and the consumer that calls `done` picks it up with its next `next()`.
            for waiter in s.waiters { resumes.append((waiter.continuation, nil)) }
            s.waiters.removeAll()
        }
        return resumes
    }

    private static func takeDrainWaitersIfDrained(_ s: inout State) -> [CheckedContinuation<Void, Never>] {
        guard s.queue.isShuttingDown, s.queue.readyCount == 0, s.queue.processing.isEmpty else { return [] }
        defer { s.drainWaiters.removeAll() }
        return s.drainWaiters
    }

    private func scheduleTimer(_ s: inout State) {
        guard let deadline = s.queue.nextDeadline else {
            s.timer?.cancel()
            s.timer = nil
            s.timerDeadline = nil
            return
        }
        if let current = s.timerDeadline, current <= deadline, s.timer != nil { return }
        s.timer?.cancel()
        s.timerDeadline = deadline
        let clock = self.clock
        s.timer = Task { [weak self] in
            do { try await clock.sleep(until: deadline) } catch { return }
            self?.timerFired()
        }
    }

    private func timerFired() {
        let now = clock.now
        let resumes = state.withLock { s -> [(CheckedContinuation<Key?, Never>, Key?)] in
            s.timer = nil
            s.timerDeadline = nil
            s.queue.fire(now: now)
            scheduleTimer(&s)
            return Self.handOut(&s)
        }
        for (continuation, key) in resumes { continuation.resume(returning: key) }
    }
}
