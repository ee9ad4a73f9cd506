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
    /// `status.capacity`: resource name → quantity.
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
        var metadata = try c.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta()
        metadata.managedFields = nil
        self.metadata = metadata
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
