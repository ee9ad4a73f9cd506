import Foundation
import JSON
import Synchronization

/// One stored object version: the value plus its compact serialization (computed once per write).
struct StoredObject: Sendable {
    var value: JSONValue
    var rv: Int64
    var bytes: [UInt8]

    init(value: JSONValue, rv: Int64, order: KeyOrder) {
        self.value = value
        self.rv = rv
        self.bytes = Wire.encode(value, order: order)
    }

    /// An object whose serialization was already made (it must equal `Wire.encode(value, order:)`).
    init(value: JSONValue, rv: Int64, bytes: [UInt8]) {
        self.value = value
        self.rv = rv
        self.bytes = bytes
    }

    var name: String { value[path: ["metadata", "name"]]?.stringValue ?? "" }
    var namespace: String { value[path: ["metadata", "namespace"]]?.stringValue ?? "" }
}

/// An object made ready for storing outside the store lock: its value and serialization with an
/// empty `metadata.resourceVersion`, and where in the bytes the resourceVersion digits go.
///
/// Encoding a large object costs far more than the store's critical section; `StoreState.put(_:prepared:...)`
/// only splices the digits of the new resourceVersion into the bytes.
struct PreparedObject: Sendable {
    var value: JSONValue
    var bytes: [UInt8]
    /// Offset in `bytes` between the quotes of `"resourceVersion":""` in the top-level metadata.
    var rvOffset: Int

    /// Nil when the value has no top-level metadata object (then the slow path encodes under the lock).
    /// `sizeHint`: about how long the encoding will be (the request body's length), to allocate once.
    init?(_ value: JSONValue, order: KeyOrder, sizeHint: Int = 4096) {
        guard case .object(var root) = value, case .object(var meta)? = root["metadata"] else { return nil }
        root["metadata"] = .null
        meta["resourceVersion"] = .string("")
        root["metadata"] = .object(meta)
        let v = JSONValue.object(root)
        let (bytes, slot) = Wire.encodeLocatingResourceVersion(v, order: order, sizeHint: sizeHint)
        guard let slot else { return nil }
        self.value = v
        self.bytes = bytes
        self.rvOffset = slot
    }

    /// The stored object at `rv`: the value with its resourceVersion and the bytes with its digits.
    func stored(rv: Int64) -> StoredObject {
        let digits = String(rv).utf8
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + digits.count)
        bytes.withUnsafeBufferPointer { b in
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[..<rvOffset]))
            out.append(contentsOf: digits)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[rvOffset...]))
        }
        var v = value
        v[path: ["metadata", "resourceVersion"]] = .string(String(rv))
        return StoredObject(value: v, rv: rv, bytes: out)
    }
}

/// The watch event types (plus ERROR and BOOKMARK that are not stored changes).
enum ChangeType: String, Sendable { case added = "ADDED", modified = "MODIFIED", deleted = "DELETED" }

/// One committed change, kept in the bounded history that watches replay from.
///
/// A class: every watcher's batch holds the same instance (one reference count, not one per field).
final class Change: Sendable {
    let rv: Int64
    let storageKey: String
    let type: ChangeType
    let object: StoredObject
    /// The value before a MODIFIED change (selector transitions).
    let previous: JSONValue?
    /// The watch event line `{"type":…,"object":<object.bytes>}\n`, made once for every watcher
    /// (empty when not made: history replays and initial lists build it per watcher).
    let line: [UInt8]
    /// The object's own apiVersion (a watcher of another version converts it).
    let apiVersion: String

    init(rv: Int64, storageKey: String, type: ChangeType, object: StoredObject, previous: JSONValue?, withLine: Bool = false) {
        self.rv = rv
        self.storageKey = storageKey
        self.type = type
        self.object = object
        self.previous = previous
        self.line = withLine ? Change.eventLine(type.rawValue, object.bytes) : []
        self.apiVersion = object.value["apiVersion"]?.stringValue ?? ""
    }

    /// This change with its shared event line made.
    func withEventLine() -> Change {
        Change(rv: rv, storageKey: storageKey, type: type, object: object, previous: previous, withLine: true)
    }

    /// The event line of this change as every plain JSON watcher of the object's own version receives it.
    static func eventLine(_ type: String, _ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 40)
        out.append(contentsOf: "{\"type\":\"".utf8)
        out.append(contentsOf: type.utf8)
        out.append(contentsOf: "\",\"object\":".utf8)
        out.append(contentsOf: bytes)
        out.append(contentsOf: "}\n".utf8)
        return out
    }
}

/// The change log of one storage key that its watchers read (like kube-apiserver's watch cache):
/// a commit appends once, whatever the number of watchers, and every watcher reads the shared
/// entries from its own position. Appends happen under the store lock, so the log is in
/// resourceVersion order; waking the waiting watchers happens after the store lock is released.
final class WatchHub: @unchecked Sendable {
    private let condition = NSCondition()
    /// Entries with sequence numbers `base ..< base + log.count`.
    private var log: [Change] = []
    private var base = 0
    /// Each registered watcher's next sequence number.
    private var cursors: [ObjectIdentifier: Int] = [:]
    private var closed: Set<ObjectIdentifier> = []
    private var waiting = 0
    private var trimmedAt = 0
    /// A watcher that falls this far behind is closed (the client relists), never unbounded memory.
    let maxPending: Int
    /// Entries dropped from the front of the log at a time (amortizes the move of the rest).
    private let trimBatch: Int

    init(maxPending: Int = 200_000) {
        self.maxPending = maxPending
        self.trimBatch = max(1, min(1024, maxPending / 4))
    }

    /// Registers a watcher at the current end of the log (call under the store lock so no commit is missed).
    func register(_ id: ObjectIdentifier) {
        condition.lock()
        cursors[id] = base + log.count
        condition.unlock()
    }

    func unregister(_ id: ObjectIdentifier) {
        condition.lock()
        cursors.removeValue(forKey: id)
        closed.remove(id)
        trim()
        condition.unlock()
    }

    /// Appends a committed change; true when watchers are waiting (call `wake()` after the store lock).
    func append(_ change: Change) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if cursors.isEmpty { base += log.count + 1; log.removeAll(keepingCapacity: true); return false }
        log.append(change)
        if log.count >= trimmedAt + trimBatch { trim() }
        return waiting > 0
    }

    /// Wakes the waiting watchers (outside any lock).
    func wake() { condition.broadcast() }

    /// Ends one watcher: it receives what was committed before and then sees `closed`.
    func close(_ id: ObjectIdentifier) {
        condition.lock()
        if cursors[id] != nil { closed.insert(id) }
        condition.unlock()
        condition.broadcast()
    }

    /// Waits until changes arrive for `id`, it is closed or `deadline` passes.
    func take(_ id: ObjectIdentifier, until deadline: Date) -> (changes: [Change], closed: Bool) {
        condition.lock()
        defer { condition.unlock() }
        while true {
            guard let cursor = cursors[id] else { return ([], true) }
            let end = base + log.count
            if cursor < end {
                cursors[id] = end
                // A copy: a slice would share the log's buffer and make the next append copy all of it.
                return (Array(log[(cursor - base)...]), closed.contains(id))
            }
            if closed.contains(id) { return ([], true) }
            waiting += 1
            let signalled = condition.wait(until: deadline)
            waiting -= 1
            if !signalled {
                guard let c = cursors[id], c < base + log.count else { return ([], closed.contains(id)) }
            }
        }
    }

    /// Drops the entries every watcher has read; closes watchers that fell `maxPending` behind.
    private func trim() {
        let end = base + log.count
        var low = end
        for (id, c) in cursors {
            if end - c > maxPending {
                // Too far behind: closed without the backlog (its client relists).
                cursors[id] = nil
                closed.insert(id)
                condition.broadcast()
                continue
            }
            low = min(low, c)
        }
        let drop = low - base
        if drop > 0 {
            if drop == log.count { log.removeAll(keepingCapacity: true) } else { log.removeFirst(drop) }
            base = low
        }
        trimmedAt = log.count
    }
}

/// A watcher's inbox: its position in the hub of the storage key it watches.
final class WatchQueue: Sendable {
    let storageKey: String
    let hub: WatchHub

    init(storageKey: String, hub: WatchHub) {
        self.storageKey = storageKey
        self.hub = hub
    }

    func close() { hub.close(ObjectIdentifier(self)) }

    /// Waits until changes arrive, the queue is closed or `deadline` passes.
    func take(until deadline: Date) -> (changes: [Change], closed: Bool) {
        hub.take(ObjectIdentifier(self), until: deadline)
    }
}

/// The mutable state of the server: every object, the global resourceVersion counter,
/// the bounded change history and the registered watchers. Always accessed under one lock.
struct StoreState {
    var rv: Int64 = 1
    var objects: [String: [String: StoredObject]] = [:]
    var history: [Change] = []
    var historyLimit: Int
    var watchers: [ObjectIdentifier: WatchQueue] = [:]
    /// The change log of each storage key that has (or had) watchers.
    var hubs: [String: WatchHub] = [:]
    /// Hubs with waiting watchers to wake once the lock is released (see `Store.with`).
    var hubsToWake: [WatchHub] = []
    /// Resources served from established CRDs, keyed by "group/version/plural".
    var customResources: [String: ResourceDef] = [:]
    /// The last resourceVersion of each storage key (list RV for watch-cache reads, bookmarks).
    var lastRV: [String: Int64] = [:]
    /// Whether the emulated garbage collector runs.
    var garbageCollection = true

    init(historyLimit: Int) { self.historyLimit = historyLimit }

    static func key(namespace: String, name: String) -> String { namespace.isEmpty ? name : "\(namespace)/\(name)" }

    func get(_ storageKey: String, namespace: String, name: String) -> StoredObject? {
        objects[storageKey]?[StoreState.key(namespace: namespace, name: name)]
    }

    /// The oldest resourceVersion a watch can still resume from.
    var oldestResumableRV: Int64 { history.first.map { $0.rv - 1 } ?? rv }

    /// Registers a watcher of `storageKey`: it receives every change committed after this call.
    mutating func addWatcher(storageKey: String) -> WatchQueue {
        let hub: WatchHub
        if let h = hubs[storageKey] { hub = h } else { hub = WatchHub(); hubs[storageKey] = hub }
        let queue = WatchQueue(storageKey: storageKey, hub: hub)
        hub.register(ObjectIdentifier(queue))
        watchers[ObjectIdentifier(queue)] = queue
        return queue
    }

    /// How a watch begins: the changes it must send first and its queue, or why it cannot resume.
    enum WatchStart {
        /// Send `initial`, then what `queue` receives.
        case events(initial: [Change], queue: WatchQueue)
        /// The requested resourceVersion is older than the history kept (410 Expired, in the stream).
        case expired(String)
    }

    /// Starts a watch of `storageKey` from resourceVersion `from` (0: the current objects as ADDED
    /// events, like kube-apiserver's "Get State and Start at Most Recent"), registering its queue in
    /// the same critical section as the snapshot so no change falls between the two.
    mutating func startWatch(storageKey: String, namespace: String?, from requested: Int64) -> WatchStart {
        if requested == 0 {
            let queue = addWatcher(storageKey: storageKey)
            let initial = list(storageKey, namespace: namespace).map {
                Change(rv: $0.rv, storageKey: storageKey, type: .added, object: $0, previous: nil)
            }
            return .events(initial: initial, queue: queue)
        }
        if requested < oldestResumableRV {
            return .expired("too old resource version: \(requested) (\(oldestResumableRV))")
        }
        let queue = addWatcher(storageKey: storageKey)
        return .events(initial: history.filter { $0.rv > requested && $0.storageKey == storageKey }, queue: queue)
    }

    mutating func removeWatcher(_ queue: WatchQueue) {
        watchers.removeValue(forKey: ObjectIdentifier(queue))
        queue.hub.unregister(ObjectIdentifier(queue))
    }

    /// Stores `value` (created or modified) under a fresh resourceVersion and notifies watchers.
    @discardableResult
    mutating func put(_ def: ResourceDef, _ value: JSONValue, type: ChangeType, previous: JSONValue?) -> StoredObject {
        rv += 1
        var v = value
        v[path: ["metadata", "resourceVersion"]] = .string(String(rv))
        return insert(def, StoredObject(value: v, rv: rv, order: def.keyOrder), type: type, previous: previous)
    }

    /// Stores an object prepared (encoded) outside the lock under a fresh resourceVersion and notifies watchers.
    @discardableResult
    mutating func put(_ def: ResourceDef, prepared: PreparedObject, type: ChangeType, previous: JSONValue?) -> StoredObject {
        rv += 1
        return insert(def, prepared.stored(rv: rv), type: type, previous: previous)
    }

    private mutating func insert(_ def: ResourceDef, _ stored: StoredObject, type: ChangeType, previous: JSONValue?) -> StoredObject {
        let ns = stored.namespace
        objects[def.storageKey, default: [:]][StoreState.key(namespace: ns, name: stored.name)] = stored
        record(Change(rv: rv, storageKey: def.storageKey, type: type, object: stored, previous: previous))
        return stored
    }

    /// Removes an object; the DELETED event carries its last content with the deletion's resourceVersion.
    @discardableResult
    mutating func remove(_ def: ResourceDef, namespace: String, name: String) -> StoredObject? {
        let k = StoreState.key(namespace: namespace, name: name)
        guard let old = objects[def.storageKey]?.removeValue(forKey: k) else { return nil }
        rv += 1
        var v = old.value
        v[path: ["metadata", "resourceVersion"]] = .string(String(rv))
        let stored = StoredObject(value: v, rv: rv, order: def.keyOrder)
        record(Change(rv: rv, storageKey: def.storageKey, type: .deleted, object: stored, previous: old.value))
        return stored
    }

    private mutating func record(_ change: Change) {
        lastRV[change.storageKey] = change.rv
        history.append(change)
        if history.count > historyLimit * 2 { history.removeFirst(history.count - historyLimit) }
        if let hub = hubs[change.storageKey] {
            if hub.append(change.withEventLine()), !hubsToWake.contains(where: { $0 === hub }) { hubsToWake.append(hub) }
        }
    }

    /// Objects of one storage key (optionally one namespace), sorted by namespace/name.
    func list(_ storageKey: String, namespace: String?) -> [StoredObject] {
        guard let all = objects[storageKey] else { return [] }
        var items: [(String, StoredObject)] = []
        items.reserveCapacity(all.count)
        for (k, v) in all {
            if let namespace, !namespace.isEmpty, v.namespace != namespace { continue }
            items.append((k, v))
        }
        items.sort { $0.0 < $1.0 }
        return items.map(\.1)
    }
}

/// Wakes the readers that wait for the store to reach a resourceVersion (kube-apiserver's watch
/// cache `waitUntilFreshAndBlock`): they sleep on this condition, never on the store lock, and
/// every commit made while someone waits bumps the generation after the lock is released.
final class FreshnessSignal: @unchecked Sendable {
    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var generation: UInt64 = 0
    /// Readers inside `Store.waitUntilFresh`; a commit only signals when it is not zero.
    let waiting = Atomic<Int>(0)
    /// The store's resourceVersion, published under the store lock by every commit: waiters read it
    /// instead of taking the store lock (a commit wakes them all).
    let published = Atomic<Int64>(0)

    /// After a commit (outside the store lock): wakes the waiters, if any.
    func storeChanged() {
        guard waiting.load(ordering: .sequentiallyConsistent) > 0 else { return }
        condition.lock()
        generation &+= 1
        condition.unlock()
        condition.broadcast()
    }

    var current: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return generation
    }

    /// Sleeps until the generation moves past `seen` or `deadline` passes.
    func wait(after seen: UInt64, until deadline: Date) {
        condition.lock()
        defer { condition.unlock() }
        while generation == seen {
            if !condition.wait(until: deadline) { return }
        }
    }
}

/// The lock-protected store.
final class Store: Sendable {
    private let state: Mutex<StoreState>
    let freshness = FreshnessSignal()
    init(historyLimit: Int) {
        let initial = StoreState(historyLimit: historyLimit)
        freshness.published.store(initial.rv, ordering: .sequentiallyConsistent)
        state = Mutex(initial)
    }

    /// How often a waiting reader checks whether its client is still there.
    static let abandonCheckInterval: TimeInterval = 0.2

    /// Waits until the store's resourceVersion reaches `rv`, `deadline` passes or `abandoned()` says
    /// the client left (checked every `abandonCheckInterval`); true when it was reached. Holds no
    /// store lock while waiting, so writers (whose commits wake it) and other readers go on.
    func waitUntilFresh(_ rv: Int64, until deadline: Date, abandoned: () -> Bool) -> Bool {
        freshness.waiting.add(1, ordering: .sequentiallyConsistent)
        defer { freshness.waiting.subtract(1, ordering: .sequentiallyConsistent) }
        while true {
            // The generation is read before the check: a commit after the check moves it, so its wake-up is not lost.
            let seen = freshness.current
            if freshness.published.load(ordering: .sequentiallyConsistent) >= rv { return true }
            let now = Date()
            if now >= deadline || abandoned() { return false }
            freshness.wait(after: seen, until: min(deadline, now.addingTimeInterval(Store.abandonCheckInterval)))
        }
    }

    /// Runs `body` under the store lock, then wakes the watchers (and freshness waiters) of what it committed.
    func with<R>(_ body: (inout StoreState) throws(APIError) -> R) throws(APIError) -> R {
        var wake: [WatchHub] = []
        var committed = false
        defer { afterUnlock(wake, committed: committed) }
        return try state.withLock { (s: inout StoreState) throws(APIError) -> R in
            let before = s.rv
            defer { committed = beforeUnlock(&s, since: before, wake: &wake) }
            return try body(&s)
        }
    }

    /// `with` for bodies that cannot fail.
    func locked<R>(_ body: (inout StoreState) -> R) -> R {
        var wake: [WatchHub] = []
        var committed = false
        defer { afterUnlock(wake, committed: committed) }
        return state.withLock { (s: inout StoreState) -> R in
            let before = s.rv
            defer { committed = beforeUnlock(&s, since: before, wake: &wake) }
            return body(&s)
        }
    }

    /// Under the lock, at the end of a body: takes the hubs to wake and publishes a new resourceVersion; true when one was committed.
    private func beforeUnlock(_ s: inout StoreState, since before: Int64, wake: inout [WatchHub]) -> Bool {
        if !s.hubsToWake.isEmpty { wake = s.hubsToWake; s.hubsToWake.removeAll() }
        guard s.rv != before else { return false }
        freshness.published.store(s.rv, ordering: .sequentiallyConsistent)
        return true
    }

    private func afterUnlock(_ wake: [WatchHub], committed: Bool) {
        for hub in wake { hub.wake() }
        if committed { freshness.storeChanged() }
    }
}
