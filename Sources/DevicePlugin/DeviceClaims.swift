import Synchronization

/// Which network's pods hold which devices, so that a device two exclusive networks select is
/// given to one pod at a time (docs/device-plugin.md, "One device, one pod").
///
/// Every network offers all its candidates. A device held by a network is reported `Unhealthy` by
/// every other network that offers it (the kubelet never allocates an unhealthy device), and an
/// `Allocate` of another network for it is refused. A claim comes from:
/// - `Allocate`: the kubelet chose the device for a pod of the network (at once, before the pod
///   exists anywhere else);
/// - the kubelet's pod resources API (`List`): a pod holds the device through the resource
///   `automagic.dev/<network>`. This is the kubelet's own record and survives restarts of either.
///
/// A claim ends:
/// - with the pod resources API: when a `List` that started at least `settle` after the `Allocate`
///   no longer shows the device (the pod is gone, or its admission failed after `Allocate`);
/// - without it (no socket): when the device's link, having left the host's namespace (host-device
///   moved it into the pod), is back (the pod's network was torn down).
///
/// ```swift
/// var claims = DeviceClaims()
/// _ = claims.allocate(network: "a", ids: ["0000:5e:00.0"], at: .now)   // [] : no conflict
/// claims.holder(of: "0000:5e:00.0")                                     // "a"
/// ```
public struct DeviceClaims: Sendable, Hashable {
    public struct Claim: Sendable, Hashable {
        /// The network whose pod holds the device.
        public var network: String
        /// `namespace/name` of the pod, when the pod resources API named it.
        public var pod: String?
        /// When `Allocate` gave it (nil: known from the pod resources API only).
        public var allocatedAt: ContinuousClock.Instant?
        /// Without the pod resources API: the link was seen gone from the host since `Allocate`.
        public var leftHost = false

        public init(network: String, pod: String? = nil, allocatedAt: ContinuousClock.Instant? = nil) {
            self.network = network
            self.pod = pod
            self.allocatedAt = allocatedAt
        }
    }

    /// One device a pod holds, as the pod resources API lists it.
    public struct Held: Sendable, Hashable {
        public var network: String
        public var deviceID: String
        public var pod: String

        public init(network: String, deviceID: String, pod: String) {
            self.network = network
            self.deviceID = deviceID
            self.pod = pod
        }
    }

    /// Device ID → claim.
    public private(set) var claims: [String: Claim] = [:]

    public init() {}

    /// The network holding `deviceID`, if any.
    public func holder(of deviceID: String) -> String? { claims[deviceID]?.network }

    /// `network`'s pod is given `ids`. A device another network holds is not given: the answer
    /// lists those (device ID, its claim), and nothing is recorded then.
    public mutating func allocate(network: String, ids: [String], at now: ContinuousClock.Instant) -> [(String, Claim)] {
        let taken = ids.compactMap { id in claims[id].flatMap { $0.network == network ? nil : (id, $0) } }
        guard taken.isEmpty else { return taken }
        for id in ids {
            claims[id] = Claim(network: network, pod: claims[id]?.pod, allocatedAt: now)
        }
        return []
    }

    /// A pod resources `List` answer (of the served networks' resources) that started at
    /// `started`: the claims become what it shows, plus `Allocate`s too recent for it to show
    /// (given less than `settle` before it started).
    public mutating func observe(held: [Held], listStarted started: ContinuousClock.Instant, settle: Duration) {
        var next: [String: Claim] = [:]
        for h in held.sorted(by: { ($0.network, $0.deviceID, $0.pod) < ($1.network, $1.deviceID, $1.pod) })
        where next[h.deviceID] == nil {
            next[h.deviceID] = Claim(network: h.network, pod: h.pod, allocatedAt: claims[h.deviceID]?.allocatedAt)
        }
        for (id, claim) in claims where next[id] == nil {
            if let at = claim.allocatedAt, at > started - settle { next[id] = claim }
        }
        claims = next
    }

    /// Without the pod resources API: `present(id)` tells whether the device's link is in the
    /// host's namespace now. A claim whose link left and came back ends.
    public mutating func observe(present: (String) -> Bool) {
        for (id, claim) in claims {
            if !present(id) {
                if !claim.leftHost { claims[id]?.leftHost = true }
            } else if claim.leftHost {
                claims[id] = nil
            }
        }
    }

}

/// ``DeviceClaims`` shared by the servers (their `Allocate`) and the daemon, with a stream that
/// wakes the daemon when they change (the other networks' lists must say `Unhealthy` at once).
final class ClaimBook: Sendable {
    private struct State {
        var claims = DeviceClaims()
        var continuation: AsyncStream<Void>.Continuation?
    }

    private let state = Mutex(State())
    /// Yields after every change; the daemon republishes the lists.
    let changes: AsyncStream<Void>

    init() {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        changes = stream
        state.withLock { $0.continuation = continuation }
    }

    var snapshot: DeviceClaims { state.withLock { $0.claims } }

    /// Applies `change`; wakes the daemon when the claims differ afterwards.
    @discardableResult
    func update<T: Sendable>(_ change: (inout DeviceClaims) -> T) -> T {
        let (result, changed, continuation) = state.withLock { s in
            let before = s.claims
            let r = change(&s.claims)
            return (r, before != s.claims, s.continuation)
        }
        if changed { continuation?.yield() }
        return result
    }

    func finish() { state.withLock { $0.continuation }?.finish() }
}
