// The informer's cache: objects by key, fed by watcher events, read by reconciles.

import KubeCore
import Synchronization

/// A change the store made, as delivered to subscribers.
public enum StoreChange<Object: KubernetesObject>: Sendable {
    /// A new object (also sent for existing objects when a subscriber asks for a replay).
    case added(Object)
    /// An object whose resourceVersion changed.
    case updated(old: Object, new: Object)
    /// An object that is gone (a delete event, or absent from a relist).
    case deleted(Object)

    /// The key of the changed object.
    public var key: ObjectKey {
        switch self {
        case .added(let o), .deleted(let o), .updated(_, let o): ObjectKey(o)
        }
    }

    /// The keys of the object's owners of `kind` (from `metadata.ownerReferences`), for mapping a
    /// secondary resource to the primary objects that own it. Owners are cluster-scoped when
    /// `ownerNamespaced` is false, else in the object's namespace.
    public func ownerKeys(kind: String, ownerNamespaced: Bool = false) -> [ObjectKey] {
        let object = self.object
        return (object.metadata.ownerReferences ?? []).filter { $0.kind == kind }.map {
            ObjectKey(namespace: ownerNamespaced ? object.metadata.namespace : nil, name: $0.name)
        }
    }

    /// The object's state after the change (the last known state for a deletion).
    public var object: Object {
        switch self {
        case .added(let o), .deleted(let o), .updated(_, let o): o
        }
    }
}

/// A thread-safe cache of objects keyed by namespace/name, with change subscriptions.
/// Reads never block on the network; `hasSynced` turns true after the first complete list.
public final class Store<Object: KubernetesObject>: Sendable {
    private struct Subscriber {
        var id: UInt64
        var continuation: AsyncStream<StoreChange<Object>>.Continuation
    }
    private struct State {
        var objects: [ObjectKey: Object] = [:]
        var synced = false
        var syncWaiters: [(id: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var cancelledSyncWaiters: Set<UInt64> = []
        var subscribers: [Subscriber] = []
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())
    /// Held by ``apply(_:)`` from its state change through its deliveries, so subscribers get
    /// changes in the order they were made. Subscribers are never fed under `state`'s lock: a
    /// yield takes the consuming task's status lock, and a task being cancelled holds that lock
    /// while its stream's termination handler takes `state`'s lock to unsubscribe (a CI run of
    /// the controller benchmark deadlocked on exactly that).
    private let delivery = Mutex(())

    /// An empty, unsynced store.
    public init() {}

    /// The object with `key`, if cached.
    public func get(_ key: ObjectKey) -> Object? { state.withLock { $0.objects[key] } }

    /// The cached object named `name` in `namespace` (nil for cluster-scoped).
    public func get(name: String, namespace: String? = nil) -> Object? { get(ObjectKey(namespace: namespace, name: name)) }

    /// Every cached object, sorted by key.
    public func list() -> [Object] {
        state.withLock { s in s.objects.sorted { $0.key < $1.key }.map(\.value) }
    }

    /// Every cached object that satisfies `predicate`, sorted by key.
    public func list(where predicate: (Object) -> Bool) -> [Object] {
        list().filter(predicate)
    }

    /// Every cached key, sorted.
    public func keys() -> [ObjectKey] { state.withLock { $0.objects.keys.sorted() } }

    /// The number of cached objects.
    public var count: Int { state.withLock { $0.objects.count } }

    /// Whether a complete list has been applied.
    public var hasSynced: Bool { state.withLock { $0.synced } }

    /// Waits until `hasSynced` (returns early when the calling task is cancelled).
    public func waitUntilSynced() async {
        let id = state.withLock { s -> UInt64 in s.nextID += 1; return s.nextID }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.synced || s.cancelledSyncWaiters.remove(id) != nil { return true }
                    s.syncWaiters.append((id, continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if let index = s.syncWaiters.firstIndex(where: { $0.id == id }) {
                    return s.syncWaiters.remove(at: index).continuation
                }
                s.cancelledSyncWaiters.insert(id)
                return nil
            }
            waiter?.resume()
        }
    }

    /// A stream of changes from now on. With `replay`, the stream starts with `.added` for every object
    /// already cached (atomically with the subscription, so nothing is missed or doubled).
    public func changes(replay: Bool = true) -> AsyncStream<StoreChange<Object>> {
        let (stream, continuation) = AsyncStream.makeStream(of: StoreChange<Object>.self, bufferingPolicy: .unbounded)
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            if replay {
                for (_, object) in s.objects.sorted(by: { $0.key < $1.key }) { continuation.yield(.added(object)) }
            }
            s.subscribers.append(Subscriber(id: s.nextID, continuation: continuation))
            return s.nextID
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { s in s.subscribers.removeAll { $0.id == id } }
        }
        return stream
    }

    /// Applies a watcher event and notifies subscribers. Returns the changes it made.
    @discardableResult
    public func apply(_ event: WatcherEvent<Object>) -> [StoreChange<Object>] {
        delivery.withLock { _ in applyAndDeliver(event) }
    }

    private func applyAndDeliver(_ event: WatcherEvent<Object>) -> [StoreChange<Object>] {
        typealias Outcome = (changes: [StoreChange<Object>], waiters: [CheckedContinuation<Void, Never>],
                             subscribers: [AsyncStream<StoreChange<Object>>.Continuation])
        let (changes, waiters, subscribers) = state.withLock { s -> Outcome in
            var changes: [StoreChange<Object>] = []
            switch event {
            case .replaced(let objects):
                var fresh: [ObjectKey: Object] = [:]
                for object in objects { fresh[ObjectKey(object)] = object }
                for (key, old) in s.objects.sorted(by: { $0.key < $1.key }) where fresh[key] == nil {
                    changes.append(.deleted(old))
                }
                for (key, new) in fresh.sorted(by: { $0.key < $1.key }) {
                    if let old = s.objects[key] {
                        if old.metadata.resourceVersion != new.metadata.resourceVersion || old.metadata.uid != new.metadata.uid {
                            changes.append(.updated(old: old, new: new))
                        }
                    } else {
                        changes.append(.added(new))
                    }
                }
                s.objects = fresh
            case .applied(let object):
                let key = ObjectKey(object)
                if let old = s.objects[key] {
                    changes.append(.updated(old: old, new: object))
                } else {
                    changes.append(.added(object))
                }
                s.objects[key] = object
            case .deleted(let object):
                let key = ObjectKey(object)
                let last = s.objects.removeValue(forKey: key) ?? object
                changes.append(.deleted(object.metadata.resourceVersion == nil ? last : object))
            }
            var waiters: [CheckedContinuation<Void, Never>] = []
            if case .replaced = event, !s.synced {
                s.synced = true
                waiters = s.syncWaiters.map(\.continuation)
                s.syncWaiters.removeAll()
            }
            // A subscriber that joins after this point replays the new state instead.
            return (changes, waiters, changes.isEmpty ? [] : s.subscribers.map(\.continuation))
        }
        for change in changes {
            for subscriber in subscribers { subscriber.yield(change) }
        }
        for waiter in waiters { waiter.resume() }
        return changes
    }
}
