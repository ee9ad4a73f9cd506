// Watcher + store: the shared informer of a controller or agent.

import KubeCore
import Logging
import Synchronization

/// Keeps a `Store` in sync with the API through a `Watcher` (client-go's shared informer,
/// kube-rs' reflector).
///
/// ```swift
/// let nodes = Informer(source: client.resource(Node.self))
/// let runner = Task { await nodes.run() }           // until cancelled
/// await nodes.waitUntilSynced()
/// let worker1 = nodes.store.get(name: "worker-1")
/// for await change in nodes.changes() { print(change.key) }
/// ```
public final class Informer<Object: KubernetesObject>: Sendable {
    /// The cache.
    public let store: Store<Object>
    /// The watcher that feeds it.
    public let watcher: Watcher<Object>
    private let failure = Locked<String?>(nil)

    /// Creates an informer over `source` (a `ResourceClient<Object>` or a fake).
    public init(
        source: any ListWatchSource<Object>,
        configuration: WatcherConfiguration = .init(),
        backoff: Backoff = .watchDefault,
        clock: any RuntimeClock = SystemRuntimeClock(),
        logger: Logger = Logger(label: "automagic.runtime.informer")
    ) {
        let store = Store<Object>()
        let failure = self.failure
        self.store = store
        self.watcher = Watcher(
            source: source, configuration: configuration, backoff: backoff, clock: clock, logger: logger,
            onFailure: { error in failure.withLock { $0 = "\(error)" } })
    }

    /// Lists and watches until the calling task is cancelled.
    public func run() async {
        let store = self.store
        let failure = self.failure
        await watcher.run { event in
            store.apply(event)
            failure.withLock { $0 = nil }
        }
    }

    /// Whether the first complete list has been applied.
    public var hasSynced: Bool { store.hasSynced }

    /// The latest list/watch failure since the last successful event, for health reporting.
    public var lastFailure: String? { failure.withLock { $0 } }

    /// Waits until the first complete list has been applied (or the task is cancelled).
    public func waitUntilSynced() async { await store.waitUntilSynced() }

    /// Changes from now on, starting with every cached object as `.added` when `replay` is true.
    public func changes(replay: Bool = true) -> AsyncStream<StoreChange<Object>> { store.changes(replay: replay) }

    /// The keys of changed objects (with a replay of every cached key first).
    public func changedKeys(replay: Bool = true) -> AsyncMapSequence<AsyncStream<StoreChange<Object>>, ObjectKey> {
        store.changes(replay: replay).map(\.key)
    }
}

extension ReconcileRunner where Key == ObjectKey {
    /// Reconciles the key of every object of `informer` that changes (the primary resource).
    public func watch<O: KubernetesObject>(_ informer: Informer<O>) {
        watch(informer.changes(replay: true)) { [$0.key] }
    }

    /// Maps every change of a secondary resource to the primary keys to reconcile.
    public func watch<O: KubernetesObject>(_ informer: Informer<O>, map: @escaping @Sendable (StoreChange<O>) -> [ObjectKey]) {
        watch(informer.changes(replay: true), map: map)
    }
}

/// Something with a cache that becomes complete after its first list.
public protocol CacheSyncing: Sendable {
    /// Whether the first complete list has been applied.
    var hasSynced: Bool { get }
    /// Waits until `hasSynced` (returns early when the task is cancelled).
    func waitUntilSynced() async
}

extension Store: CacheSyncing {}
extension Informer: CacheSyncing {}

/// Waits until every cache has synced (or the task is cancelled); returns whether all have.
///
/// ```swift
/// guard await waitForCacheSync(maps, nodes, devices) else { return }   // cancelled
/// await controller.run()
/// ```
@discardableResult
public func waitForCacheSync(_ caches: any CacheSyncing...) async -> Bool {
    for cache in caches { await cache.waitUntilSynced() }
    return caches.allSatisfy(\.hasSynced)
}
