import KubeClient
import KubeCore

/// Settings of the controller (the `automagic-controller` flags map onto these).
///
/// ```swift
/// var options = ControllerOptions()
/// options.leaderElection = LeaderElectionOptions(namespace: "automagic-system", identity: "pod-a")
/// let controller = AutomagicController(client: client, options: options)
/// try await controller.run()
/// ```
public struct ControllerOptions: Sendable {
    /// How often every map is reconciled even when nothing changed (status is written only if it differs).
    public var resyncPeriod: Duration = .seconds(600)
    /// Delay that batches many node changes into one map-status computation and write.
    public var statusDebounce: Duration = .milliseconds(500)
    /// How often NetworkAttachmentDefinitions are re-read and repaired when nothing changed.
    public var nadResyncPeriod: Duration = .seconds(300)
    /// Retry period while the NetworkAttachmentDefinition CRD is missing or a NAD write failed.
    public var nadRetryPeriod: Duration = .seconds(30)
    /// Parallel node reconciles (they are mostly waiting on label patches).
    public var nodeConcurrency: Int = 4
    /// Parallel map reconciles.
    public var mapConcurrency: Int = 2
    /// Leader election; nil runs without it (a single replica).
    public var leaderElection: LeaderElectionOptions? = nil
    /// Namespace of Events about cluster-scoped objects (maps): `default`, as client-go does.
    public var eventNamespace: String = "default"
    /// `reportingComponent` / `source.component` of Events.
    public var component: String = "automagic-controller"
    /// `reportingInstance` of Events (pod name or host name).
    public var instance: String = "automagic-controller"

    /// Defaults: resync 10 min, debounce 0.5 s, no leader election.
    public init() {}
}

/// Leader election settings (client-go defaults: 15 s lease, 10 s renew deadline, 2 s retry).
public struct LeaderElectionOptions: Sendable {
    /// Namespace of the Lease.
    public var namespace: String
    /// Name of the Lease: `automagic-controller`.
    public var leaseName: String = "automagic-controller"
    /// This candidate's identity (unique per process).
    public var identity: String
    /// How long a holder's claim is honoured.
    public var leaseDuration: Duration = .seconds(15)
    /// A leader that could not renew for this long stops.
    public var renewDeadline: Duration = .seconds(10)
    /// Time between acquire/renew attempts.
    public var retryPeriod: Duration = .seconds(2)

    /// Options for a Lease in `namespace`, held as `identity`.
    public init(namespace: String, identity: String) {
        self.namespace = namespace
        self.identity = identity
    }
}

/// Errors of the controller; each names the step that failed and carries its cause.
public enum ControllerError: Error, Sendable, CustomStringConvertible {
    /// An API request failed.
    case api(verb: String, what: String, name: String, cause: KubeClientError)
    /// Leader election could not run (bad timings or a failure while leading).
    case leaderElection(cause: String)
    /// The work was interrupted because leadership was lost.
    case leadershipLost(lease: String)
    /// Removing objects the controller manages failed.
    case cleanUp(what: String, name: String, cause: String)
    /// A setting is invalid.
    case invalidOption(name: String, problem: String)

    /// "failed to <verb> <thing> '<name>': <cause>".
    public var description: String {
        switch self {
        case .api(let verb, let what, let name, let cause): "failed to \(verb) \(what) '\(name)': \(cause)"
        case .leaderElection(let cause): "failed to run leader election: \(cause)"
        case .leadershipLost(let lease): "failed to keep leadership of lease '\(lease)': lost"
        case .cleanUp(let what, let name, let cause): "failed to clean up \(what) '\(name)': \(cause)"
        case .invalidOption(let name, let problem): "failed to parse option '\(name)': \(problem)"
        }
    }

    /// The API error's decoded `Status`, when the failure was an API response.
    public var apiError: KubeClientError? {
        if case .api(_, _, _, let cause) = self { return cause }
        return nil
    }
}
