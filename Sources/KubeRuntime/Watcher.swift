// The watcher driver: performs the `WatcherState`'s requests against a `ListWatchSource`,
// with backoff on failures. It runs until its task is cancelled.

import KubeCore
import Logging

/// Lists then watches one resource forever, relisting on 410 Gone and reconnecting with backoff.
///
/// ```swift
/// let watcher = Watcher(source: client.resource(Node.self))
/// for await event in watcher.events() {
///     switch event {
///     case .replaced(let all): print("\(all.count) nodes")
///     case .applied(let node): print("node \(node.key) changed")
///     case .deleted(let node): print("node \(node.key) deleted")
///     }
/// }
/// ```
public struct Watcher<Object: KubernetesObject>: Sendable {
    /// Where lists and watches go.
    public let source: any ListWatchSource<Object>
    /// Selectors and paging.
    public let configuration: WatcherConfiguration
    /// The reconnect backoff (kube-rs defaults).
    public let backoff: Backoff
    private let clock: any RuntimeClock
    private let logger: Logger
    private let onFailure: (@Sendable (any Error) -> Void)?

    /// Creates a watcher.
    /// - Parameters:
    ///   - source: the resource client (or a fake).
    ///   - configuration: selectors, page size, bookmarks.
    ///   - backoff: delays between failed attempts.
    ///   - clock: time source for backoff sleeps.
    ///   - logger: failures are logged at warning with the resource and the cause.
    ///   - onFailure: called with every list/watch failure (for health reporting and tests).
    public init(
        source: any ListWatchSource<Object>,
        configuration: WatcherConfiguration = .init(),
        backoff: Backoff = .watchDefault,
        clock: any RuntimeClock = SystemRuntimeClock(),
        logger: Logger = Logger(label: "automagic.runtime.watcher"),
        onFailure: (@Sendable (any Error) -> Void)? = nil
    ) {
        self.source = source
        self.configuration = configuration
        self.backoff = backoff
        self.clock = clock
        var logger = logger
        logger[metadataKey: "resource"] = .string(source.resourceDescription)
        self.logger = logger
        self.onFailure = onFailure
    }

    /// The watcher's events as a stream; the watcher stops when the consumer stops iterating.
    public func events() -> AsyncStream<WatcherEvent<Object>> {
        let (stream, continuation) = AsyncStream.makeStream(of: WatcherEvent<Object>.self, bufferingPolicy: .unbounded)
        let task = Task {
            await run { event in continuation.yield(event) }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Runs the list/watch loop, handing every event to `handle`, until the task is cancelled.
    public func run(_ handle: @Sendable (WatcherEvent<Object>) async -> Void) async {
        var machine = WatcherState<Object>(configuration: configuration)
        var backoff = self.backoff
        var relistsWithoutProgress = 0
        while !Task.isCancelled {
            switch machine.nextAction() {
            case .list(let request):
                do {
                    let page = try await source.listPage(request)
                    for event in machine.listed(page) { await handle(event) }
                } catch {
                    if Task.isCancelled { return }
                    let recovery = machine.failed(error)
                    report("list", error)
                    if recovery == .retryAfterBackoff || relistsWithoutProgress > 0 {
                        guard await pause(&backoff) else { return }
                    }
                    relistsWithoutProgress += recovery == .relist ? 1 : 0
                }
            case .watch(let request):
                let started = clock.now
                var received = false
                var recovery: WatcherState<Object>.Recovery?
                do {
                    for try await event in source.watchStream(request) {
                        let (events, eventRecovery) = machine.received(event)
                        if eventRecovery == nil { received = true; relistsWithoutProgress = 0 }
                        for event in events { await handle(event) }
                        if let eventRecovery {
                            recovery = eventRecovery
                            if case .error(let status) = event { report("watch", status) }
                            break
                        }
                    }
                    if recovery == nil {
                        if Task.isCancelled { return }
                        machine.watchEnded()
                        // A watch that closes at once without a single event must not spin.
                        if !received, clock.now - started < .seconds(1) {
                            guard await pause(&backoff) else { return }
                        }
                        continue
                    }
                } catch {
                    if Task.isCancelled { return }
                    recovery = machine.failed(error)
                    report("watch", error)
                }
                switch recovery {
                case .relist?:
                    // Relist at once the first time; repeated 410s without progress back off.
                    if relistsWithoutProgress > 0 { guard await pause(&backoff) else { return } }
                    relistsWithoutProgress += 1
                case .retryAfterBackoff?:
                    guard await pause(&backoff) else { return }
                case nil:
                    break
                }
            }
        }
    }

    private func report(_ step: String, _ error: any Error) {
        onFailure?(error)
        if ListWatchError.isGone(error) {
            logger.info("failed to \(step) \(source.resourceDescription): resource version expired; relisting")
        } else {
            logger.warning("failed to \(step) \(source.resourceDescription): \(error)")
        }
    }

    /// Sleeps for the next backoff delay; false when cancelled.
    private func pause(_ backoff: inout Backoff) async -> Bool {
        let delay = backoff.next(now: clock.now)
        do {
            try await clock.sleep(for: delay)
            return true
        } catch {
            return false
        }
    }
}
