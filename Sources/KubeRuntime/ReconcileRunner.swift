// The level-based reconcile runner (controller-runtime's controller, kube-rs' `Controller`).

import Logging
import Synchronization

/// What a reconcile asks for when it succeeds.
public enum ReconcileResult: Sendable, Hashable {
    /// Nothing more to do until something changes.
    case done
    /// Reconcile this key again after the duration, even if nothing changes.
    case requeueAfter(Duration)
}

/// Runs a reconcile function over the keys of a `WorkQueue`: at most `concurrency` reconciles at
/// once and never two for the same key. Errors requeue the key with per-key exponential backoff;
/// success forgets its failures. The reconcile never learns which event woke it: it re-reads the
/// current state (from an informer's store) and converges.
///
/// ```swift
/// let maps = Informer(source: client.resource(NetworkDeviceMap.self))
/// let controller = ReconcileRunner<ObjectKey>(name: "maps", concurrency: 2) { key in
///     guard let map = maps.store.get(key) else { return .done }   // deleted: nothing to do
///     try await apply(map)
///     return .requeueAfter(.seconds(300))
/// }
/// controller.watch(maps)                                             // primary resource
/// controller.watch(devices) { _ in maps.store.keys() }               // secondary → primary keys
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { await maps.run() }
///     group.addTask { await devices.run() }
///     group.addTask { await maps.waitUntilSynced(); await devices.waitUntilSynced(); await controller.run() }
/// }
/// ```
public final class ReconcileRunner<Key: Hashable & Sendable>: Sendable {
    /// The controller's name (for logs).
    public let name: String
    /// The queue the controller consumes; anything may add keys to it.
    public let queue: WorkQueue<Key>
    /// The number of reconciles that may run at once.
    public let concurrency: Int
    /// How long `run()` lets in-flight reconciles finish after cancellation before cancelling them too.
    public let shutdownGracePeriod: Duration
    private let reconcile: @Sendable (Key) async throws -> ReconcileResult
    private let logger: Logger
    private let sources = Mutex<[@Sendable (WorkQueue<Key>) async -> Void]>([])
    private let counters = Mutex(ReconcileCounters())

    /// Creates a controller.
    /// - Parameters:
    ///   - name: used in logs (metadata `controller`).
    ///   - queue: the work queue (inject one with a `ManualClock` in tests).
    ///   - concurrency: how many keys are reconciled in parallel (at least 1).
    ///   - shutdownGracePeriod: after cancellation, in-flight reconciles get this long to finish before
    ///     they are cancelled as well (controller-runtime's graceful shutdown timeout).
    ///   - logger: swift-log logger; per-reconcile chatter at debug, failures at error.
    ///   - reconcile: the level-based reconcile function.
    public init(
        name: String,
        queue: WorkQueue<Key> = WorkQueue(),
        concurrency: Int = 1,
        shutdownGracePeriod: Duration = .seconds(30),
        logger: Logger = Logger(label: "automagic.runtime.controller"),
        reconcile: @escaping @Sendable (Key) async throws -> ReconcileResult
    ) {
        self.name = name
        self.queue = queue
        self.concurrency = max(1, concurrency)
        self.shutdownGracePeriod = shutdownGracePeriod
        self.reconcile = reconcile
        var logger = logger
        logger[metadataKey: "controller"] = .string(name)
        self.logger = logger
    }

    /// Adds `key` to the queue.
    public func enqueue(_ key: Key) { queue.add(key) }

    /// Feeds the queue from any async sequence of keys while `run()` runs.
    /// Register every source before calling `run()` (sources added later are not started).
    public func watch<S: AsyncSequence & Sendable>(keys sequence: S) where S.Element == Key {
        sources.withLock {
            $0.append { queue in
                do {
                    for try await key in sequence { queue.add(key) }
                } catch {}
            }
        }
    }

    /// Feeds the queue from any async sequence, mapping each element to keys, while `run()` runs.
    public func watch<S: AsyncSequence & Sendable>(_ sequence: S, map: @escaping @Sendable (S.Element) -> [Key]) {
        sources.withLock {
            $0.append { queue in
                do {
                    for try await element in sequence {
                        for key in map(element) { queue.add(key) }
                    }
                } catch {}
            }
        }
    }

    /// Counts of reconcile outcomes so far.
    public var statistics: ReconcileCounters { counters.withLock { $0 } }

    /// Runs the registered sources and `concurrency` workers until the calling task is cancelled
    /// (call it once per controller) or `queue.shutDown()` is called. On cancellation it stops the sources, lets in-flight
    /// reconciles finish and drains the keys already queued (for at most `shutdownGracePeriod`, then
    /// the remaining reconciles are cancelled), and returns.
    public func run() async {
        let sources = self.sources.withLock { $0 }
        let queue = self.queue
        let grace = self.shutdownGracePeriod
        let graceTimer = Locked<Task<Void, Never>?>(nil)
        logger.debug("controller starting", metadata: ["concurrency": "\(concurrency)"])
        await withTaskGroup(of: Void.self) { outer in
            // Sources stop with the controller.
            let feeders = Task {
                await withDiscardingTaskGroup { group in
                    for source in sources { group.addTask { await source(queue) } }
                }
            }
            // Workers run unstructured from cancellation: on cancel, the queue shuts down and they drain.
            let workers = Task {
                await withDiscardingTaskGroup { group in
                    for worker in 0..<concurrency {
                        group.addTask { await self.work(worker) }
                    }
                }
            }
            outer.addTask {
                await withTaskCancellationHandler {
                    await workers.value
                } onCancel: {
                    feeders.cancel()
                    queue.shutDown()
                    let timer = Task {
                        do { try await Task.sleep(for: grace) } catch { return }
                        workers.cancel()
                    }
                    graceTimer.withLock { $0 = timer }
                }
            }
            await outer.waitForAll()
            graceTimer.withLock { $0?.cancel() }
            feeders.cancel()
            await feeders.value
        }
        logger.debug("controller stopped")
    }

    private func work(_ worker: Int) async {
        while let key = await queue.next() {
            await process(key)
            queue.done(key)
        }
    }

    private func process(_ key: Key) async {
        var log = logger
        log[metadataKey: "object"] = "\(key)"
        do {
            let result = try await reconcile(key)
            queue.forget(key)
            switch result {
            case .done:
                counters.withLock { $0.succeeded += 1 }
                log.debug("reconciled")
            case .requeueAfter(let delay):
                counters.withLock { $0.succeeded += 1 }
                queue.add(key, after: delay)
                log.debug("reconciled; requeue after \(delay)")
            }
        } catch is CancellationError where Task.isCancelled {
            counters.withLock { $0.failed += 1 }
        } catch {
            counters.withLock { $0.failed += 1 }
            let delay = queue.addRateLimited(key)
            log.error("failed to reconcile '\(key)': \(error); retrying in \(delay)")
        }
    }
}

/// Counts of reconcile outcomes.
public struct ReconcileCounters: Sendable, Hashable {
    /// Reconciles that returned a result.
    public var succeeded = 0
    /// Reconciles that threw.
    public var failed = 0
}
