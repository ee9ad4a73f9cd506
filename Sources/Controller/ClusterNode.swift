import AutomagicAPI
import JSON
import KubeCore

/// The part of a core/v1 Node the controller caches: metadata (without `managedFields`) and
/// `status.capacity`. Nodes are never written back whole (only patched), so nothing is lost by
/// dropping the rest, and a 5,000-node cache stays small.
public struct ClusterNode: KubernetesObject, Hashable {
    /// `nodes`, core/v1, cluster-scoped.
    public static var resourceType: ResourceType { .nodes }
    /// Object metadata (`managedFields` dropped).
    public var metadata: ObjectMeta
    /// `status.capacity`: resource name → quantity (read only: the controller writes no capacity).
    public var capacity: [String: String]

    /// A node with the given metadata and capacity.
    public init(metadata: ObjectMeta, capacity: [String: String] = [:]) {
        self.metadata = metadata
        self.capacity = capacity
    }

    /// The node's labels (empty when none).
    public var labels: [String: String] { metadata.labels ?? [:] }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, status }
    private enum StatusKeys: String, CodingKey { case capacity }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try c.decodeIfPresent(SlimObjectMeta.self, forKey: .metadata)?.objectMeta ?? ObjectMeta()
        var capacity: [String: String] = [:]
        if c.contains(.status), let status = try? c.nestedContainer(keyedBy: StatusKeys.self, forKey: .status),
            let raw = try status.decodeIfPresent([String: JSONValue].self, forKey: .capacity)
        {
            for (k, v) in raw {
                if let s = v.stringValue { capacity[k] = s } else if let i = v.intValue { capacity[k] = String(i) }
            }
        }
        self.capacity = capacity
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("v1", forKey: .apiVersion)
        try c.encode("Node", forKey: .kind)
        try c.encode(metadata, forKey: .metadata)
        var status = c.nestedContainer(keyedBy: StatusKeys.self, forKey: .status)
        try status.encode(capacity, forKey: .capacity)
    }
}

/// The part of a `NodeDevice` the controller caches: metadata (without `managedFields`) and the
/// devices. The agent's own resolution (`status.networks`), conditions and timestamps are dropped:
/// the controller resolves by itself, and a re-probe that changes nothing else is not a change.
public struct CachedNodeDevice: KubernetesObject, Hashable {
    /// `nodedevices.automagic.dev`, cluster-scoped.
    public static var resourceType: ResourceType { NodeDevice.resourceType }
    /// Object metadata (`managedFields` dropped).
    public var metadata: ObjectMeta
    /// `status.devices`; nil when the object has no status yet.
    public var devices: [NetworkDevice]?

    /// A cached NodeDevice with the given metadata and devices.
    public init(metadata: ObjectMeta, devices: [NetworkDevice]?) {
        self.metadata = metadata
        self.devices = devices
    }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, status }
    private enum StatusKeys: String, CodingKey { case devices }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try c.decodeIfPresent(SlimObjectMeta.self, forKey: .metadata)?.objectMeta ?? ObjectMeta()
        if c.contains(.status), (try? c.decodeNil(forKey: .status)) == false {
            let status = try c.nestedContainer(keyedBy: StatusKeys.self, forKey: .status)
            devices = try status.decodeIfPresent([NetworkDevice].self, forKey: .devices) ?? []
        } else {
            devices = nil
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Automagic.apiVersion, forKey: .apiVersion)
        try c.encode(NodeDevice.kind, forKey: .kind)
        try c.encode(metadata, forKey: .metadata)
        if let devices {
            var status = c.nestedContainer(keyedBy: StatusKeys.self, forKey: .status)
            try status.encode(devices, forKey: .devices)
        }
    }
}

/// Object metadata as the caches keep it: `managedFields` and `annotations` are skipped while decoding
/// (they are half of a list response's bytes and never read by the controller).
struct SlimObjectMeta: Decodable {
    var name: String?
    var namespace: String?
    var uid: String?
    var resourceVersion: String?
    var generation: Int64?
    var creationTimestamp: String?
    var deletionTimestamp: String?
    var labels: [String: String]?
    var ownerReferences: [OwnerReference]?
    var finalizers: [String]?

    var objectMeta: ObjectMeta {
        var m = ObjectMeta(name: name, namespace: namespace, labels: labels, ownerReferences: ownerReferences)
        m.uid = uid
        m.resourceVersion = resourceVersion
        m.generation = generation
        m.creationTimestamp = creationTimestamp
        m.deletionTimestamp = deletionTimestamp
        m.finalizers = finalizers
        return m
    }
}
