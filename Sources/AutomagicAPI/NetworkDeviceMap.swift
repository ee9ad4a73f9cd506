import JSON
import KubeCore

/// One semantic network and how to find its device on every node (`automagic.dev/v1alpha1`,
/// kind `NetworkDeviceMap`, cluster-scoped, short name `ndm`). `metadata.name` is the network's
/// name (a DNS-1123 label: it becomes the label `networks.automagic.dev/<name>` and the NAD name).
///
/// ```swift
/// let storage = NetworkDeviceMap(name: "storage", spec: NetworkDeviceMapSpec(
///     nodeSelector: LabelSelector(matchLabels: ["node-role.kubernetes.io/worker": ""]),
///     rules: [DeviceRule(name: "ice-storage-subnet", expressions: [
///         DeviceMatchExpression(key: "driver", operator: .in, values: ["ice"]),
///         DeviceMatchExpression(key: "addresses", operator: .inCIDR, values: ["192.168.60.0/24"]),
///     ])],
///     attachment: AttachmentSpec(type: .macvlan, mode: "bridge", mtu: 9000)))
/// ```
public struct NetworkDeviceMap: KubernetesObject, Hashable {
    /// The resource this type is served as: `networkdevicemaps.automagic.dev`, cluster-scoped.
    public static let resourceType = ResourceType(
        group: Automagic.group, version: Automagic.version, resource: "networkdevicemaps", kind: "NetworkDeviceMap",
        namespaced: false)
    /// The kind string, `NetworkDeviceMap`.
    public static let kind = "NetworkDeviceMap"

    /// Always `automagic.dev/v1alpha1` when written by this build.
    public var apiVersion: String
    /// Always `NetworkDeviceMap` when written by this build.
    public var kind: String
    /// Standard object metadata; `name` is the network's name.
    public var metadata: ObjectMeta
    /// The desired network: which nodes, which devices, how pods attach.
    public var spec: NetworkDeviceMapSpec
    /// Written by the controller.
    public var status: NetworkDeviceMapStatus?

    /// The network's name (`metadata.name`, empty when unset).
    public var network: String { metadata.name ?? "" }

    /// A map named `name` (the network) with the given spec.
    public init(name: String, spec: NetworkDeviceMapSpec, status: NetworkDeviceMapStatus? = nil) {
        self.init(metadata: ObjectMeta(name: name), spec: spec, status: status)
    }

    /// A map with the given metadata, spec and status.
    public init(metadata: ObjectMeta, spec: NetworkDeviceMapSpec, status: NetworkDeviceMapStatus? = nil) {
        self.apiVersion = Automagic.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion) ?? Automagic.apiVersion
        kind = try c.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try c.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta()
        spec = try c.decode(NetworkDeviceMapSpec.self, forKey: .spec)
        status = try c.decodeIfPresent(NetworkDeviceMapStatus.self, forKey: .status)
    }
}

/// `NetworkDeviceMap.spec`.
public struct NetworkDeviceMapSpec: Codable, Sendable, Hashable {
    /// Nodes expected to have the network (a standard label selector; absent or empty selects every node).
    public var nodeSelector: LabelSelector?
    /// Ordered rules: on each node the first rule that matches some device decides (1…32 rules).
    public var rules: [DeviceRule]
    /// Several devices matching the deciding rule: `First` (default), `HighestSpeed` or `Fail`.
    public var select: SelectPolicy?
    /// The device may serve no other network on the node (required for `host-device`). Default false.
    public var exclusive: Bool?
    /// Allocate the network through Dynamic Resource Allocation only (`resource.k8s.io/v1`): the
    /// controller renders the DeviceClass `<network>.automagic.dev`, the NAD carries no
    /// `resourceName`, the device plugin does not serve it. Requires `exclusive`. Default false.
    public var dra: Bool?
    /// The default delegate for pods on this network (the plugin config's `delegate` overrides it).
    public var attachment: AttachmentSpec?
    /// When set, the controller renders a Multus `NetworkAttachmentDefinition` per namespace.
    public var networkAttachmentDefinition: NADTemplate?

    /// The policy in force: `select`, or `First` when absent.
    public var effectiveSelect: SelectPolicy { select ?? .first }
    /// Whether the network is exclusive: `exclusive`, or false when absent.
    public var isExclusive: Bool { exclusive ?? false }
    /// Whether the network is allocated through DRA: `dra`, or false when absent.
    public var isDRA: Bool { dra ?? false }

    /// A spec with the given fields.
    public init(
        nodeSelector: LabelSelector? = nil, rules: [DeviceRule], select: SelectPolicy? = nil, exclusive: Bool? = nil,
        attachment: AttachmentSpec? = nil, networkAttachmentDefinition: NADTemplate? = nil, dra: Bool? = nil
    ) {
        self.nodeSelector = nodeSelector
        self.rules = rules
        self.select = select
        self.exclusive = exclusive
        self.attachment = attachment
        self.networkAttachmentDefinition = networkAttachmentDefinition
        self.dra = dra
    }

    private enum CodingKeys: String, CodingKey {
        case nodeSelector, rules, select, exclusive, dra, attachment, networkAttachmentDefinition
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        nodeSelector = try c.decodeIfPresent(LabelSelector.self, forKey: .nodeSelector)
        rules = try c.decodeIfPresent([DeviceRule].self, forKey: .rules) ?? []
        select = try c.decodeIfPresent(SelectPolicy.self, forKey: .select)
        exclusive = try c.decodeIfPresent(Bool.self, forKey: .exclusive)
        dra = try c.decodeIfPresent(Bool.self, forKey: .dra)
        attachment = try c.decodeIfPresent(AttachmentSpec.self, forKey: .attachment)
        networkAttachmentDefinition = try c.decodeIfPresent(NADTemplate.self, forKey: .networkAttachmentDefinition)
    }
}

/// One rule of a map (`spec.rules[]`).
public struct DeviceRule: Codable, Sendable, Hashable {
    /// Optional name shown in explanations and `NodeDevice.status.networks[].rule` (DNS-1123 label).
    public var name: String?
    /// Restricts the rule to nodes with these labels (in addition to the map's `nodeSelector`).
    public var nodeSelector: LabelSelector?
    /// Which devices the rule matches.
    public var devices: DeviceSelector

    /// A rule with the given fields.
    public init(name: String? = nil, nodeSelector: LabelSelector? = nil, devices: DeviceSelector) {
        self.name = name
        self.nodeSelector = nodeSelector
        self.devices = devices
    }

    /// A rule matching devices for which all `expressions` hold.
    public init(name: String? = nil, nodeSelector: LabelSelector? = nil, expressions: [DeviceMatchExpression]) {
        self.init(name: name, nodeSelector: nodeSelector, devices: DeviceSelector(matchExpressions: expressions))
    }
}

/// `spec.rules[].devices`: all expressions must hold for a device to match (1…16 expressions).
public struct DeviceSelector: Codable, Sendable, Hashable {
    /// The expressions, ANDed.
    public var matchExpressions: [DeviceMatchExpression]

    /// A selector with the given expressions.
    public init(matchExpressions: [DeviceMatchExpression]) { self.matchExpressions = matchExpressions }

    private enum CodingKeys: String, CodingKey { case matchExpressions }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        matchExpressions = try c.decodeIfPresent([DeviceMatchExpression].self, forKey: .matchExpressions) ?? []
    }
}

/// One requirement on a device field: `{key, operator, values}`.
public struct DeviceMatchExpression: Codable, Sendable, Hashable {
    /// A device field path: `driver`, `sriov.totalVFs`, `lldp.systemName`, … (see ``DeviceField``).
    public var key: String
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`, `Matches` or `InCIDR`.
    public var `operator`: MatchOperator
    /// Operands: none for Exists/DoesNotExist, one integer for Gt/Lt, one or more otherwise.
    public var values: [String]?

    /// An expression with the given fields.
    public init(key: String, operator op: MatchOperator, values: [String]? = nil) {
        self.key = key
        self.operator = op
        self.values = values
    }
}

/// `spec.attachment`: the default delegate plugin.
public struct AttachmentSpec: Codable, Sendable, Hashable {
    /// `macvlan`, `ipvlan` or `host-device`.
    public var type: AttachmentType
    /// Delegate mode: macvlan `bridge|private|vepa|passthru`, ipvlan `l2|l3|l3s`; none for host-device.
    public var mode: String?
    /// MTU of the pod interface (68…65535); absent: the delegate's default (the device's MTU).
    public var mtu: Int?

    /// An attachment with the given fields.
    public init(type: AttachmentType, mode: String? = nil, mtu: Int? = nil) {
        self.type = type
        self.mode = mode
        self.mtu = mtu
    }
}

/// `spec.networkAttachmentDefinition`: what the controller renders as Multus NADs.
public struct NADTemplate: Codable, Sendable, Hashable {
    /// Namespaces that get a NAD named after the network.
    public var namespaces: [String]?
    /// The CNI `ipam` object passed through to the delegate (any JSON object).
    public var ipam: JSONValue?

    /// Whether `ipam` is absent or a JSON object (the only shapes CNI accepts).
    public var ipamIsObject: Bool {
        guard let ipam else { return true }
        if case .object = ipam { return true }
        return false
    }

    /// A template with the given fields.
    public init(namespaces: [String]? = nil, ipam: JSONValue? = nil) {
        self.namespaces = namespaces
        self.ipam = ipam
    }
}

/// `NetworkDeviceMap.status`, written by the controller.
public struct NetworkDeviceMapStatus: Codable, Sendable, Hashable {
    /// The `metadata.generation` this status describes.
    public var observedGeneration: Int64?
    /// Counts over the nodes the map selects.
    public var nodes: NodeCounts?
    /// Selected nodes where the network did not resolve, with why (at most 50, sorted by node).
    public var unmatchedNodes: [UnmatchedNode]?
    /// Exclusive-device conflicts with other networks (at most 50, sorted by node then device).
    public var conflicts: [DeviceConflict]?
    /// `Ready`, `Degraded`, `Conflict` (metav1.Condition). A list map keyed by `type`.
    public var conditions: [Condition]?

    /// A status with the given fields.
    public init(
        observedGeneration: Int64? = nil, nodes: NodeCounts? = nil, unmatchedNodes: [UnmatchedNode]? = nil,
        conflicts: [DeviceConflict]? = nil, conditions: [Condition]? = nil
    ) {
        self.observedGeneration = observedGeneration
        self.nodes = nodes
        self.unmatchedNodes = unmatchedNodes
        self.conflicts = conflicts
        self.conditions = conditions
    }

    /// Most entries kept in `unmatchedNodes` and in `conflicts`.
    public static let maxListedNodes = 50
}

/// `status.nodes`: how many selected nodes resolved the network.
public struct NodeCounts: Codable, Sendable, Hashable {
    /// Selected nodes where a device was chosen.
    public var matched: Int
    /// Selected nodes where none was.
    public var unmatched: Int
    /// Nodes the map selects (`matched + unmatched`).
    public var total: Int

    /// Counts with the given values.
    public init(matched: Int, unmatched: Int, total: Int) {
        self.matched = matched
        self.unmatched = unmatched
        self.total = total
    }
}

/// `status.unmatchedNodes[]`: a selected node without a device for the network.
public struct UnmatchedNode: Codable, Sendable, Hashable {
    /// The node's name.
    public var node: String
    /// Why no device was chosen (the resolver's summary).
    public var reason: String

    /// An entry with the given fields.
    public init(node: String, reason: String) {
        self.node = node
        self.reason = reason
    }
}

/// `status.conflicts[]`: two networks claimed one device on a node and at least one is exclusive.
public struct DeviceConflict: Codable, Sendable, Hashable {
    /// The node.
    public var node: String
    /// The contested device.
    public var device: String
    /// The other network involved.
    public var network: String
    /// The network that got the device.
    public var winner: String
    /// What happened, e.g. `device ens5f1 is claimed by exclusive network sriov-a (older); storage uses ens5f0 instead`.
    public var message: String

    /// A conflict with the given fields.
    public init(node: String, device: String, network: String, winner: String, message: String) {
        self.node = node
        self.device = device
        self.network = network
        self.winner = winner
        self.message = message
    }
}

/// Condition types of `NetworkDeviceMap.status.conditions`.
public enum MapConditionType {
    /// True when the spec is valid and every selected node resolved the network.
    public static let ready = "Ready"
    /// True when some selected node did not resolve (or the spec is invalid).
    public static let degraded = "Degraded"
    /// True when an exclusive-device conflict exists on some node.
    public static let conflict = "Conflict"
    /// `dra` maps only: True when the DeviceClass `<network>.automagic.dev` is rendered (the message
    /// says what it does not express), False when it cannot be (reasons `NotExpressible`,
    /// `DRAUnavailable`, `DeviceClassConflict`, `WriteFailed`).
    public static let deviceClass = "DeviceClass"
}
