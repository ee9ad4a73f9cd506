import KubeCore

/// One node's network devices as its agent probed them, and that node's resolution of every
/// network (`automagic.dev/v1alpha1`, kind `NodeDevice`, cluster-scoped, short name `nd`).
///
/// Named after the Node and owned by it; written only by that node's agent, through the status
/// subresource.
///
/// ```swift
/// var nd = NodeDevice(name: "worker-1")
/// nd.status = NodeDeviceStatus(devices: [NetworkDevice(name: "ens5f1", kind: .physical, driver: "ice")])
/// let body = try JSONValue(encoding: nd)
/// ```
public struct NodeDevice: KubernetesObject, Hashable {
    /// The resource this type is served as: `nodedevices.automagic.dev`, cluster-scoped.
    public static let resourceType = ResourceType(
        group: Automagic.group, version: Automagic.version, resource: "nodedevices", kind: "NodeDevice", namespaced: false)
    /// The kind string, `NodeDevice`.
    public static let kind = "NodeDevice"

    /// Always `automagic.dev/v1alpha1` when written by this build.
    public var apiVersion: String
    /// Always `NodeDevice` when written by this build.
    public var kind: String
    /// Standard object metadata; `name` is the Node's name.
    public var metadata: ObjectMeta
    /// What the agent observed and resolved. Absent until the agent's first status write.
    public var status: NodeDeviceStatus?

    /// A `NodeDevice` for node `name` with an optional status.
    public init(name: String, status: NodeDeviceStatus? = nil) {
        self.init(metadata: ObjectMeta(name: name), status: status)
    }

    /// A `NodeDevice` with the given metadata and status.
    public init(metadata: ObjectMeta, status: NodeDeviceStatus? = nil) {
        self.apiVersion = Automagic.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.status = status
    }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, status }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion) ?? Automagic.apiVersion
        kind = try c.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try c.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta()
        status = try c.decodeIfPresent(NodeDeviceStatus.self, forKey: .status)
    }
}

/// `NodeDevice.status`: the devices of the node and its resolution of every network.
public struct NodeDeviceStatus: Codable, Sendable, Hashable {
    /// Every probed device, sorted by name. A list map keyed by `name`.
    public var devices: [NetworkDevice]?
    /// Number of entries in `devices` (shown by `kubectl get nd`).
    public var deviceCount: Int?
    /// This node's resolution of each map that selects it, sorted by network. A list map keyed by `network`.
    public var networks: [NodeNetworkStatus]?
    /// The networks resolved to a device on this node, comma-separated (shown by `kubectl get nd`:
    /// a printer column shows only the first value of a list, so the list is summarized here).
    public var resolvedNetworks: String?
    /// When the devices were last probed (RFC 3339, e.g. `2026-11-28T22:00:00Z`).
    public var probedAt: String?
    /// Version of the agent that wrote this status.
    public var agentVersion: String?
    /// Conditions of the agent on this node (for example `Ready`, `ProbeFailed`). A list map keyed by `type`.
    public var conditions: [Condition]?

    /// A status with the given fields; `deviceCount` is derived from `devices` unless given.
    public init(
        devices: [NetworkDevice]? = nil, deviceCount: Int? = nil, networks: [NodeNetworkStatus]? = nil,
        probedAt: String? = nil, agentVersion: String? = nil, conditions: [Condition]? = nil
    ) {
        self.devices = devices
        self.deviceCount = deviceCount ?? devices?.count
        self.networks = networks
        self.resolvedNetworks = networks.map { list in
            list.filter { !($0.device ?? "").isEmpty }.map(\.network).sorted().joined(separator: ",")
        }
        self.probedAt = probedAt
        self.agentVersion = agentVersion
        self.conditions = conditions
    }
}

/// One network device of a node (`NodeDevice.status.devices[]`). Every field but `name` is
/// optional: the agent omits what it does not know. The field names are also the keys of
/// `NetworkDeviceMap` match expressions (nested ones dotted: `sriov.totalVFs`, `lldp.systemName`).
public struct NetworkDevice: Codable, Sendable, Hashable {
    /// Kernel interface name (`ens5f1`).
    public var name: String
    /// Alternative names (`ip link property add … altname`, e.g. `enp94s0f1np1`).
    public var altNames: [String]?
    /// Classification: physical, vf, bond, bridge, vlan, veth, macvlan, ipvlan, virtual.
    public var kind: DeviceKind?
    /// Current MAC address, lower-case, colon-separated (`3c:fd:fe:aa:bb:01`).
    public var mac: String?
    /// Burned-in MAC address (differs from `mac` on bond slaves and when overridden).
    public var permanentMAC: String?
    /// MTU in bytes.
    public var mtu: Int?
    /// RFC 2863 operational state as the kernel reports it: up, down, lowerlayerdown, dormant, testing, notpresent, unknown.
    public var operState: String?
    /// Whether the link has carrier.
    public var carrier: Bool?
    /// Negotiated link speed in Mbit/s (absent when unknown or link down).
    public var speedMbps: Int?
    /// Kernel driver (`ice`, `i40e`, `mlx5_core`, `bonding`, `veth`).
    public var driver: String?
    /// PCI address of the backing function, `dddd:bb:dd.f` lower-case (`0000:5e:00.1`).
    public var pciAddress: String?
    /// PCI vendor ID, 4 lower-case hex digits without `0x` (`8086`).
    public var vendorID: String?
    /// PCI device ID, 4 lower-case hex digits without `0x` (`159b`).
    public var deviceID: String?
    /// NUMA node of the PCI function (absent when the platform reports none).
    public var numaNode: Int?
    /// SR-IOV facts: VF capacity of a PF, or the PF of a VF.
    public var sriov: SRIOVInfo?
    /// The master of a bond slave or bridge port, or the PF of a VF / lower device of a VLAN.
    public var parent: String?
    /// Addresses with prefix length in CIDR notation (`192.168.60.11/24`, `2001:db8::11/64`).
    public var addresses: [String]?
    /// Whether a default route leaves through this device (in the probed namespace's main table).
    public var hasDefaultRoute: Bool?
    /// What the LLDP neighbour on this port advertised, when one was heard.
    public var lldp: LLDPNeighbor?

    /// A device with the given fields; unknown ones stay `nil` and are omitted when encoded.
    public init(
        name: String, altNames: [String]? = nil, kind: DeviceKind? = nil, mac: String? = nil, permanentMAC: String? = nil,
        mtu: Int? = nil, operState: String? = nil, carrier: Bool? = nil, speedMbps: Int? = nil, driver: String? = nil,
        pciAddress: String? = nil, vendorID: String? = nil, deviceID: String? = nil, numaNode: Int? = nil,
        sriov: SRIOVInfo? = nil, parent: String? = nil, addresses: [String]? = nil, hasDefaultRoute: Bool? = nil,
        lldp: LLDPNeighbor? = nil
    ) {
        self.name = name
        self.altNames = altNames
        self.kind = kind
        self.mac = mac
        self.permanentMAC = permanentMAC
        self.mtu = mtu
        self.operState = operState
        self.carrier = carrier
        self.speedMbps = speedMbps
        self.driver = driver
        self.pciAddress = pciAddress
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.numaNode = numaNode
        self.sriov = sriov
        self.parent = parent
        self.addresses = addresses
        self.hasDefaultRoute = hasDefaultRoute
        self.lldp = lldp
    }
}

/// SR-IOV facts of a device (`devices[].sriov`).
public struct SRIOVInfo: Codable, Sendable, Hashable {
    /// VFs the PF supports (`sriov_totalvfs`); absent on a VF.
    public var totalVFs: Int?
    /// VFs currently enabled (`sriov_numvfs`); absent on a VF.
    public var numVFs: Int?
    /// Name of the PF netdev, on a VF.
    public var pfName: String?

    /// SR-IOV facts with the given fields.
    public init(totalVFs: Int? = nil, numVFs: Int? = nil, pfName: String? = nil) {
        self.totalVFs = totalVFs
        self.numVFs = numVFs
        self.pfName = pfName
    }
}

/// What the LLDP neighbour advertised on a port (`devices[].lldp`).
public struct LLDPNeighbor: Codable, Sendable, Hashable {
    /// Chassis ID as text (a MAC address is written lower-case colon-separated).
    public var chassisID: String?
    /// Port ID as text (`Ethernet1/5`, `xe-0/0/3`).
    public var portID: String?
    /// System name (`leaf-07.dc1`).
    public var systemName: String?
    /// Port description.
    public var portDescription: String?
    /// First management address advertised (IPv4 or IPv6, no prefix).
    public var managementAddress: String?
    /// VLAN IDs advertised (IEEE 802.1 port VLAN ID and VLAN name TLVs), ascending.
    public var vlanIDs: [Int]?
    /// VLAN names advertised (IEEE 802.1 VLAN name TLV).
    public var vlanNames: [String]?
    /// When the last LLDPDU from this neighbour was received (RFC 3339).
    public var lastHeard: String?

    /// A neighbour with the given fields.
    public init(
        chassisID: String? = nil, portID: String? = nil, systemName: String? = nil, portDescription: String? = nil,
        managementAddress: String? = nil, vlanIDs: [Int]? = nil, vlanNames: [String]? = nil, lastHeard: String? = nil
    ) {
        self.chassisID = chassisID
        self.portID = portID
        self.systemName = systemName
        self.portDescription = portDescription
        self.managementAddress = managementAddress
        self.vlanIDs = vlanIDs
        self.vlanNames = vlanNames
        self.lastHeard = lastHeard
    }
}

/// One network's resolution on this node (`NodeDevice.status.networks[]`).
public struct NodeNetworkStatus: Codable, Sendable, Hashable {
    /// The network (= the `NetworkDeviceMap`'s name).
    public var network: String
    /// The device that carries it here; absent when unresolved.
    public var device: String?
    /// The rule that chose the device: its `name`, or `rules[<index>]` for an unnamed rule.
    public var rule: String?
    /// Why: the summary line of the resolver's explanation.
    public var message: String?

    /// A network status with the given fields.
    public init(network: String, device: String? = nil, rule: String? = nil, message: String? = nil) {
        self.network = network
        self.device = device
        self.rule = rule
        self.message = message
    }
}
