import KubeCore

/// `coordination.k8s.io/v1` Lease: the lock object of leader election.
public struct Lease: KubernetesObject, Hashable {
    /// `leases.coordination.k8s.io`, namespaced.
    public static var resourceType: ResourceType { .leases }
    /// `coordination.k8s.io/v1`.
    public var apiVersion: String? = "coordination.k8s.io/v1"
    /// `Lease`.
    public var kind: String? = "Lease"
    /// Object metadata.
    public var metadata: ObjectMeta
    /// The lease record.
    public var spec: LeaseSpec?

    /// Creates a Lease.
    public init(metadata: ObjectMeta, spec: LeaseSpec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// `LeaseSpec`. Times are `metav1.MicroTime` strings with exactly six fractional digits
/// (`2026-11-28T22:00:00.123456Z`); the API server rejects other precisions with 422.
public struct LeaseSpec: Codable, Sendable, Hashable {
    /// The identity of the current holder; empty or nil when released.
    public var holderIdentity: String?
    /// How long a holder's claim lasts after `renewTime`.
    public var leaseDurationSeconds: Int?
    /// When the current holder acquired the lease (MicroTime).
    public var acquireTime: String?
    /// When the holder last renewed it (MicroTime).
    public var renewTime: String?
    /// How many times the lease changed holders.
    public var leaseTransitions: Int?

    /// Creates a record.
    public init(holderIdentity: String? = nil, leaseDurationSeconds: Int? = nil, acquireTime: String? = nil, renewTime: String? = nil, leaseTransitions: Int? = nil) {
        self.holderIdentity = holderIdentity
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.leaseTransitions = leaseTransitions
    }
}

/// Reads and writes the Lease of one election. `ResourceClient<Lease>` conforms; tests use a fake.
public protocol LeaseStore: Sendable {
    /// The Lease, or nil when it does not exist.
    func lease(named name: String) async throws -> Lease?
    /// Creates the Lease (fails with a conflict when it exists).
    func createLease(_ lease: Lease) async throws -> Lease
    /// Updates the Lease; fails with a conflict when `metadata.resourceVersion` is stale.
    func updateLease(_ lease: Lease) async throws -> Lease
    /// Whether `error` means another writer won (409 Conflict / AlreadyExists).
    func isWriteConflict(_ error: any Error) -> Bool
}
