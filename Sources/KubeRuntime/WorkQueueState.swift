// The work queue's bookkeeping as a value (client-go workqueue semantics), tested without tasks.

/// The pure state of a deduplicating, delaying work queue.
///
/// - A key added while it waits in the queue is not added twice (`dirty`).
/// - A key added while it is being processed is not handed out again until `done` is called for it;
///   then it is queued once more (one reconcile in flight per key, none lost).
/// - Delayed keys (`add(_:readyAt:now:)`) move to the queue when `fire(now:)` reaches their deadline;
///   a key waiting with several deadlines keeps the earliest.
/// - After `shutDown()` new keys are refused, queued keys still drain, delayed keys are dropped.
public struct WorkQueueState<Key: Hashable & Sendable>: Sendable {
    private var ready: [Key] = []
    private var head = 0
    private(set) var dirty: Set<Key> = []
    /// Keys handed out by `pop()` and not yet `done`.
    public private(set) var processing: Set<Key> = []
    private(set) var waiting: [Key: ContinuousClock.Instant] = [:]
    /// Whether `shutDown()` was called.
    public private(set) var isShuttingDown = false

    /// An empty queue.
    public init() {}

    /// Number of keys ready to be handed out.
    public var readyCount: Int { ready.count - head }
    /// Number of keys waiting for a deadline.
    public var waitingCount: Int { waiting.count }
    /// Whether nothing is queued, delayed or in flight.
    public var isIdle: Bool { readyCount == 0 && waiting.isEmpty && processing.isEmpty }
    /// The earliest deadline among delayed keys.
    public var nextDeadline: ContinuousClock.Instant? { waiting.values.min() }

    /// Adds `key`; returns true when it became ready to be handed out (so a waiting consumer can be woken).
    @discardableResult
    public mutating func add(_ key: Key) -> Bool {
        guard !isShuttingDown, !dirty.contains(key) else { return false }
        dirty.insert(key)
        guard !processing.contains(key) else { return false }
        ready.append(key)
        return true
    }

    /// Adds `key` once `now` reaches `readyAt` (at once if it already has).
    @discardableResult
    public mutating func add(_ key: Key, readyAt: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Bool {
        guard !isShuttingDown else { return false }
        if readyAt <= now { return add(key) }
        if let existing = waiting[key], existing <= readyAt { return false }
        waiting[key] = readyAt
        return false
    }

    /// Moves every delayed key whose deadline is reached to the queue; returns how many became ready.
    @discardableResult
    public mutating func fire(now: ContinuousClock.Instant) -> Int {
        let due = waiting.filter { $0.value <= now }.sorted { $0.value < $1.value }
        var count = 0
        for (key, _) in due {
            waiting[key] = nil
            if add(key) { count += 1 }
        }
        return count
    }

    /// Hands out the next ready key and marks it in flight.
    public mutating func pop() -> Key? {
        guard head < ready.count else { return nil }
        let key = ready[head]
        head += 1
        if head > 64, head * 2 > ready.count {
            ready.removeFirst(head)
            head = 0
        }
        dirty.remove(key)
        processing.insert(key)
        return key
    }

    /// Marks `key` as finished; returns true when it was re-added meanwhile and is ready again.
    @discardableResult
    public mutating func done(_ key: Key) -> Bool {
        guard processing.remove(key) != nil else { return false }
        if dirty.contains(key) {
            ready.append(key)
            return true
        }
        return false
    }

    /// Refuses new keys and drops delayed ones; ready and in-flight keys finish.
    public mutating func shutDown() {
        isShuttingDown = true
        waiting.removeAll()
    }
}
