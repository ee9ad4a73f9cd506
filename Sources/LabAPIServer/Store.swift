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

    var name: String { value[path: ["metadata", "name"]]?.stringValue ?? "" }
    var namespace: String { value[path: ["metadata", "namespace"]]?.stringValue ?? "" }
}

/// The watch event types (plus ERROR and BOOKMARK that are not stored changes).
enum ChangeType: String, Sendable { case added = "ADDED", modified = "MODIFIED", deleted = "DELETED" }

/// One committed change, kept in the bounded history that watches replay from.
struct Change: Sendable {
    let rv: Int64
    let storageKey: String
    let type: ChangeType
    let object: StoredObject
    /// The value before a MODIFIED change (selector transitions).
    let previous: JSONValue?
}

/// A watcher's inbox: the committing thread appends, the watcher's connection thread waits.
final class WatchQueue: @unchecked Sendable {
    let storageKey: String
    private let condition = NSCondition()
    private var items: [Change] = []
    private var closed = false
    /// A watcher that falls this far behind is closed (the client relists), never unbounded memory.
    static let maxPending = 200_000

    init(storageKey: String) { self.storageKey = storageKey }

    func push(_ change: Change) {
        condition.lock()
        if items.count >= WatchQueue.maxPending { closed = true; condition.signal() } else {
            items.append(change)
            // Only the first pending item can find the watcher asleep.
            if items.count == 1 { condition.signal() }
        }
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until changes arrive, the queue is closed or `deadline` passes.
    func take(until deadline: Date) -> (changes: [Change], closed: Bool) {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed {
            if !condition.wait(until: deadline) { break }
        }
        let taken = items
        items.removeAll(keepingCapacity: true)
        return (taken, closed)
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

    /// Stores `value` (created or modified) under a fresh resourceVersion and notifies watchers.
    @discardableResult
    mutating func put(_ def: ResourceDef, _ value: JSONValue, type: ChangeType, previous: JSONValue?) -> StoredObject {
        rv += 1
        var v = value
        v[path: ["metadata", "resourceVersion"]] = .string(String(rv))
        let stored = StoredObject(value: v, rv: rv, order: def.keyOrder)
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
        for queue in watchers.values where queue.storageKey == change.storageKey { queue.push(change) }
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

/// The lock-protected store.
final class Store: Sendable {
    let state: Mutex<StoreState>
    init(historyLimit: Int) { state = Mutex(StoreState(historyLimit: historyLimit)) }

    func with<R>(_ body: (inout StoreState) throws(APIError) -> R) throws(APIError) -> R {
        try state.withLock { (s: inout StoreState) throws(APIError) -> R in try body(&s) }
    }
}
