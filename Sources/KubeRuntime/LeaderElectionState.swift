// Leader election as a value (client-go's `tryAcquireOrRenew`): given the Lease as read, it decides
// what to write; given the outcome of the write, it says whether leadership started or ended.
// Expiry is judged on *our* monotonic clock from the moment we observed the record change, never
// by comparing the holder's wall-clock `renewTime` with ours (clocks differ between machines).

import FoundationEssentials
import KubeCore

/// Timing and identity of a leader election.
public struct LeaderElectionConfiguration: Sendable, Hashable {
    /// This candidate's identity (unique per process: e.g. pod name + random suffix).
    public var identity: String
    /// How long a holder's claim is honoured after the record last changed (default 15 s).
    public var leaseDuration: Duration
    /// A leader that has not renewed for this long stops acting (default 10 s; less than `leaseDuration`).
    public var renewDeadline: Duration
    /// Time between attempts to acquire or renew (default 2 s; jittered ×1 … ×1.2 while acquiring).
    public var retryPeriod: Duration
    /// Give the lease up (holder emptied, duration 1 s) when leading ends gracefully, so another
    /// candidate takes over at once instead of after `leaseDuration`.
    public var releaseOnCancel: Bool

    /// Creates a configuration with client-go's defaults.
    public init(identity: String, leaseDuration: Duration = .seconds(15), renewDeadline: Duration = .seconds(10),
                retryPeriod: Duration = .seconds(2), releaseOnCancel: Bool = true) {
        self.identity = identity
        self.leaseDuration = leaseDuration
        self.renewDeadline = renewDeadline
        self.retryPeriod = retryPeriod
        self.releaseOnCancel = releaseOnCancel
    }

    /// Problems with the timings (empty when valid): leaseDuration > renewDeadline > retryPeriod × 1.2 > 0.
    public var problems: [String] {
        var problems: [String] = []
        if identity.isEmpty { problems.append("identity must not be empty") }
        if leaseDuration <= renewDeadline { problems.append("leaseDuration (\(leaseDuration)) must be greater than renewDeadline (\(renewDeadline))") }
        if retryPeriod <= .zero { problems.append("retryPeriod must be positive") }
        if renewDeadline.seconds <= retryPeriod.seconds * 1.2 { problems.append("renewDeadline (\(renewDeadline)) must be greater than retryPeriod × 1.2 (\(retryPeriod))") }
        return problems
    }
}

/// The pure leader-election state of one candidate.
public struct LeaderElectionState: Sendable {
    /// What to do with the Lease as read.
    public enum Decision: Sendable, Equatable {
        /// The Lease does not exist: create it with this record.
        case create(LeaseSpec)
        /// Write this record over the Lease read (optimistic concurrency on its resourceVersion).
        case update(LeaseSpec)
        /// Another candidate holds an unexpired lease: do nothing (`holder` is its identity).
        case heldByOther(holder: String)
    }

    /// A change of leadership.
    public enum Transition: Sendable, Equatable {
        /// This candidate became the leader.
        case startedLeading
        /// This candidate stopped being the leader.
        case stoppedLeading
    }

    /// The configuration.
    public let configuration: LeaderElectionConfiguration
    /// Whether this candidate currently leads.
    public private(set) var isLeader = false
    /// The record as last observed.
    public private(set) var observedRecord: LeaseSpec?
    /// When (our clock) the observed record last changed.
    public private(set) var observedTime: ContinuousClock.Instant?
    /// When (our clock) this candidate last wrote the lease successfully as leader.
    public private(set) var lastRenewal: ContinuousClock.Instant?

    /// A candidate that is not leading.
    public init(configuration: LeaderElectionConfiguration) {
        self.configuration = configuration
    }

    /// The identity of the holder as last observed (nil or empty: nobody).
    public var observedHolder: String? { observedRecord?.holderIdentity }

    /// Decides what to write, given the Lease's record as read now (nil when the Lease does not exist).
    /// - Returns: the decision, and `.stoppedLeading` when another candidate took the lease from us.
    public mutating func decide(current: LeaseSpec?, now: ContinuousClock.Instant, wallNow: Date) -> (Decision, Transition?) {
        let timestamp = KubeTime.formatMicro(wallNow)
        guard let current else {
            return (.create(LeaseSpec(
                holderIdentity: configuration.identity, leaseDurationSeconds: durationSeconds,
                acquireTime: timestamp, renewTime: timestamp, leaseTransitions: 0)), nil)
        }
        if observedRecord != current || observedTime == nil {
            observedRecord = current
            observedTime = now
        }
        let holder = current.holderIdentity ?? ""
        let heldByUs = holder == configuration.identity
        if !holder.isEmpty, !heldByUs, let observedTime {
            let duration = Duration.seconds(current.leaseDurationSeconds ?? durationSeconds)
            if observedTime.advanced(by: duration) > now {
                var transition: Transition?
                if isLeader {
                    isLeader = false
                    transition = .stoppedLeading
                }
                return (.heldByOther(holder: holder), transition)
            }
        }
        var next = LeaseSpec(holderIdentity: configuration.identity, leaseDurationSeconds: durationSeconds, renewTime: timestamp)
        if heldByUs {
            next.acquireTime = current.acquireTime ?? timestamp
            next.leaseTransitions = current.leaseTransitions ?? 0
        } else {
            next.acquireTime = timestamp
            next.leaseTransitions = (current.leaseTransitions ?? 0) + 1
        }
        return (.update(next), nil)
    }

    /// The create or update of `record` succeeded at `now`.
    public mutating func written(_ record: LeaseSpec, now: ContinuousClock.Instant) -> Transition? {
        observedRecord = record
        observedTime = now
        lastRenewal = now
        guard !isLeader else { return nil }
        isLeader = true
        return .startedLeading
    }

    /// An attempt (read or write) failed or was refused at `now`.
    /// - Returns: `.stoppedLeading` once a leader has gone `renewDeadline` without a successful renewal.
    public mutating func attemptFailed(now: ContinuousClock.Instant) -> Transition? {
        guard isLeader, let lastRenewal, now - lastRenewal >= configuration.renewDeadline else { return nil }
        isLeader = false
        return .stoppedLeading
    }

    /// The latest instant by which a leader must renew, nil when not leading.
    public var renewDeadlineInstant: ContinuousClock.Instant? {
        guard isLeader, let lastRenewal else { return nil }
        return lastRenewal.advanced(by: configuration.renewDeadline)
    }

    /// The record that gives the lease up (client-go's release): no holder, 1 s duration, the
    /// transition count kept. Nil unless we lead. Marks this candidate as no longer leading.
    public mutating func release(wallNow: Date) -> LeaseSpec? {
        guard isLeader else { return nil }
        isLeader = false
        let timestamp = KubeTime.formatMicro(wallNow)
        return LeaseSpec(holderIdentity: "", leaseDurationSeconds: 1, acquireTime: timestamp, renewTime: timestamp,
                         leaseTransitions: observedRecord?.leaseTransitions ?? 0)
    }

    private var durationSeconds: Int { max(1, Int(configuration.leaseDuration.components.seconds)) }
}
