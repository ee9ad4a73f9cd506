// The leader-election driver: acquires a Lease, runs the leader's work while renewing it, and stops
// the work when renewal fails for longer than the renew deadline.

import FoundationEssentials
import KubeCore
import Logging

/// How `LeaderElector.run` ended.
public enum LeaderElectionOutcome: Sendable, Equatable {
    /// The calling task was cancelled (before or while leading); a held lease was released when
    /// `releaseOnCancel` is set.
    case cancelled
    /// Leadership was lost: no successful renewal within the renew deadline, or another candidate
    /// holds the lease. The work was cancelled. The process should normally exit (client-go's advice).
    case leadershipLost
    /// The work returned by itself; a held lease was released when `releaseOnCancel` is set.
    case finished
}

/// Runs work only while this process holds a `coordination.k8s.io/v1` Lease.
///
/// ```swift
/// let leases = client.resource(Lease.self, namespace: "automagic-system")
/// let elector = LeaderElector(store: leases, leaseName: "automagic-controller", namespace: "automagic-system",
///                             configuration: LeaderElectionConfiguration(identity: podName + "-" + randomSuffix))
/// let outcome = try await elector.run {
///     await controller.run()            // cancelled when leadership is lost or on SIGTERM
/// }
/// if outcome == .leadershipLost { exit(1) }
/// ```
public final class LeaderElector: Sendable {
    /// The Lease's name.
    public let leaseName: String
    /// The Lease's namespace.
    public let namespace: String
    /// Identity and timings.
    public let configuration: LeaderElectionConfiguration
    private let store: any LeaseStore
    private let clock: any RuntimeClock
    private let logger: Logger
    private let onNewLeader: (@Sendable (String) -> Void)?
    private let state: Locked<LeaderElectionState>
    private let reportedLeader = Locked<String?>(nil)

    /// Creates an elector.
    /// - Parameters:
    ///   - store: reads and writes the Lease (`client.resource(Lease.self, namespace:)`).
    ///   - leaseName / namespace: the Lease.
    ///   - configuration: identity and timings (client-go defaults 15 s / 10 s / 2 s).
    ///   - clock: monotonic time for expiry, wall time for `renewTime`.
    ///   - onNewLeader: called with the identity of each new leader observed (including ourselves).
    public init(
        store: any LeaseStore,
        leaseName: String,
        namespace: String,
        configuration: LeaderElectionConfiguration,
        clock: any RuntimeClock = SystemRuntimeClock(),
        logger: Logger = Logger(label: "automagic.runtime.leader-election"),
        onNewLeader: (@Sendable (String) -> Void)? = nil
    ) {
        self.store = store
        self.leaseName = leaseName
        self.namespace = namespace
        self.configuration = configuration
        self.clock = clock
        var logger = logger
        logger[metadataKey: "lease"] = "\(namespace)/\(leaseName)"
        logger[metadataKey: "identity"] = .string(configuration.identity)
        self.logger = logger
        self.onNewLeader = onNewLeader
        self.state = Locked(LeaderElectionState(configuration: configuration))
    }

    /// Whether this candidate currently leads.
    public var isLeader: Bool { state.withLock { $0.isLeader } }

    /// The holder as last observed (nil before the first read or when released).
    public var observedLeader: String? {
        state.withLock { s in
            guard let holder = s.observedHolder, !holder.isEmpty else { return nil }
            return holder
        }
    }

    /// Campaigns for the lease, runs `work` while leading, and returns when leading ends.
    ///
    /// `work` is cancelled when leadership is lost or the calling task is cancelled. If `work`
    /// throws, the lease is released (with `releaseOnCancel`) and the error is rethrown.
    /// Throws `KubeRuntimeError.invalidConfiguration` for inconsistent timings.
    public func run(_ work: @escaping @Sendable () async throws -> Void) async throws -> LeaderElectionOutcome {
        let problems = configuration.problems
        guard problems.isEmpty else {
            throw KubeRuntimeError.invalidConfiguration(what: "leader election for lease '\(namespace)/\(leaseName)'", problems: problems)
        }
        // Campaign.
        while !isLeader {
            if Task.isCancelled { return .cancelled }
            await attempt(deadline: nil)
            if isLeader { break }
            let jittered = Duration.fromSeconds(configuration.retryPeriod.seconds * (1 + 0.2 * Double.random(in: 0..<1)))
            do { try await clock.sleep(for: jittered) } catch { return .cancelled }
        }
        logger.info("became the leader")

        // Lead: the work and the renew loop race; whichever ends first decides.
        enum Ending: Sendable {
            case workReturned
            case workThrew(any Error)
            case lost
            case renewCancelled
        }
        let ending: Ending = await withTaskGroup(of: Ending.self) { group in
            group.addTask {
                do {
                    try await work()
                    return .workReturned
                } catch {
                    return .workThrew(error)
                }
            }
            group.addTask { await self.renewLoop() ? .lost : .renewCancelled }
            let first = await group.next() ?? .renewCancelled
            group.cancelAll()
            // Wait for the other child: the work must have stopped before we report.
            var rest: [Ending] = []
            while let other = await group.next() { rest.append(other) }
            if case .renewCancelled = first, let work = rest.first { return Task.isCancelled ? .renewCancelled : work }
            return first
        }

        switch ending {
        case .lost:
            logger.error("failed to renew lease '\(namespace)/\(leaseName)' within \(configuration.renewDeadline): stopped leading")
            return .leadershipLost
        case .workReturned:
            await releaseIfConfigured()
            return Task.isCancelled ? .cancelled : .finished
        case .workThrew(let error):
            await releaseIfConfigured()
            if error is CancellationError, Task.isCancelled { return .cancelled }
            throw error
        case .renewCancelled:
            await releaseIfConfigured()
            return .cancelled
        }
    }

    /// Renews every retry period; returns true when leadership was lost, false when cancelled.
    private func renewLoop() async -> Bool {
        while true {
            do { try await clock.sleep(for: configuration.retryPeriod) } catch { return false }
            guard let deadline = state.withLock({ $0.renewDeadlineInstant }) else { return true }
            await attempt(deadline: deadline)
            if Task.isCancelled { return false }
            if !isLeader { return true }
        }
    }

    private enum AttemptResult: Sendable {
        case written(LeaseSpec, Lease)
        case held
        case failed(any Error)
        case timedOut
    }

    /// One read-decide-write round, bounded by `deadline` when leading.
    private func attempt(deadline: ContinuousClock.Instant?) async {
        let result: AttemptResult
        if let deadline {
            result = await withTaskGroup(of: AttemptResult.self) { group in
                group.addTask { await self.readDecideWrite() }
                group.addTask {
                    do { try await self.clock.sleep(until: deadline) } catch { return .failed(CancellationError()) }
                    return .timedOut
                }
                let first = await group.next() ?? .timedOut
                group.cancelAll()
                return first
            }
        } else {
            result = await readDecideWrite()
        }
        let now = clock.now
        switch result {
        case .written(let record, _):
            _ = state.withLock { $0.written(record, now: now) }
            notifyLeader(configuration.identity)
        case .held:
            if let holder = observedLeader { notifyLeader(holder) }
        case .failed(let error):
            if store.isWriteConflict(error) {
                logger.debug("lost a race for lease '\(namespace)/\(leaseName)': \(error)")
            } else if !(error is CancellationError) {
                logger.warning("failed to acquire or renew lease '\(namespace)/\(leaseName)': \(error)")
            }
            _ = state.withLock { $0.attemptFailed(now: now) }
        case .timedOut:
            _ = state.withLock { $0.attemptFailed(now: now) }
        }
    }

    private func readDecideWrite() async -> AttemptResult {
        do {
            let current = try await store.lease(named: leaseName)
            let now = clock.now
            let wallNow = clock.wallNow
            let (decision, transition) = state.withLock { $0.decide(current: current?.spec, now: now, wallNow: wallNow) }
            if transition == .stoppedLeading { logger.error("lease '\(namespace)/\(leaseName)' was taken over by \(observedLeader ?? "another candidate")") }
            switch decision {
            case .heldByOther:
                return .held
            case .create(let record):
                let meta = ObjectMeta(name: leaseName, namespace: namespace)
                let created = try await store.createLease(Lease(metadata: meta, spec: record))
                return .written(record, created)
            case .update(let record):
                guard var lease = current else { return .failed(KubeRuntimeError.invalidConfiguration(what: "lease", problems: ["vanished"])) }
                lease.spec = record
                lease.metadata.managedFields = nil
                let updated = try await store.updateLease(lease)
                return .written(record, updated)
            }
        } catch {
            return .failed(error)
        }
    }

    private func releaseIfConfigured() async {
        guard configuration.releaseOnCancel else {
            _ = state.withLock { $0.release(wallNow: clock.wallNow) }
            return
        }
        guard let record = state.withLock({ $0.release(wallNow: clock.wallNow) }) else { return }
        // Run outside the (possibly cancelled) current task so the request is not aborted.
        let store = self.store
        let name = leaseName
        let identity = configuration.identity
        let logger = self.logger
        await Task {
            do {
                guard var lease = try await store.lease(named: name), lease.spec?.holderIdentity == identity else { return }
                lease.spec = record
                lease.metadata.managedFields = nil
                _ = try await store.updateLease(lease)
                logger.info("released the lease")
            } catch {
                logger.warning("failed to release lease '\(name)': \(error)")
            }
        }.value
    }

    private func notifyLeader(_ identity: String) {
        let changed = reportedLeader.withLock { current -> Bool in
            guard current != identity else { return false }
            current = identity
            return true
        }
        if changed { onNewLeader?(identity) }
    }
}
