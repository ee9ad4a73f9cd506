import MappingFile

/// One extended resource the device plugin serves: an exclusive network of the mapping file and
/// the devices it hands out.
public struct ServedResource: Sendable, Hashable {
    /// The semantic network (`fast`).
    public var network: String
    /// Its devices, in the resolver's order, each advertised by ``DeviceCandidate/deviceID``.
    public var devices: [DeviceCandidate]

    public init(network: String, devices: [DeviceCandidate]) {
        self.network = network
        self.devices = devices
    }

    /// `automagic.dev/<network>`.
    public var resourceName: String { ResourcePlan.resourceName(network: network) }
    /// The socket's file name in the kubelet's device-plugin folder.
    public var socketName: String { ResourcePlan.socketName(network: network) }
    /// The environment variable `Allocate` sets: `AUTOMAGIC_<NETWORK>_DEVICES`.
    public var environmentVariable: String { ResourcePlan.environmentVariable(network: network) }
}

/// What the device plugin serves for one mapping file: a resource per exclusive network.
///
/// Every exclusive network offers all its candidates. When the maps of two exclusive networks
/// select the same device, both offer it (``shared``), and ``DeviceClaims`` gives it to one pod at
/// a time: while a pod of one network holds it, the others report it Unhealthy.
///
/// ```swift
/// let plan = ResourcePlan(mapping: try MappingFile.read(path: MappingFile.defaultPath))
/// plan.resources.map(\.resourceName)   // ["automagic.dev/fast"]
/// ```
public struct ResourcePlan: Sendable, Hashable {
    /// The served resources, sorted by network name.
    public var resources: [ServedResource]
    /// Devices offered by more than one network: device ID → the networks, sorted.
    public var shared: [String: [String]]
    /// Devices a `dra` network lists, left out of every resource: device ID → that network.
    public var allocatedThroughDRA: [String: String]

    /// The plan for `mapping`: every network with `exclusive: true` (with or without candidates:
    /// a network whose devices are all gone is still served, with an empty list), except `dra`
    /// networks, whose devices the scheduler allocates through DRA. A device a `dra` network lists is
    /// offered by no resource: it is never counted by both the device manager and the scheduler.
    public init(mapping: NodeNetworkMapping) {
        var resources: [ServedResource] = []
        var offeredBy: [String: [String]] = [:]
        var dra: [String: String] = [:]  // device ID → the first dra network listing it
        for name in mapping.networks.keys.sorted() {
            guard let network = mapping.networks[name], network.dra else { continue }
            for candidate in network.candidates where dra[candidate.deviceID] == nil { dra[candidate.deviceID] = name }
        }
        for name in mapping.networks.keys.sorted() {
            guard let network = mapping.networks[name], network.exclusive, !network.dra else { continue }
            var devices: [DeviceCandidate] = []
            for candidate in network.candidates where !devices.contains(where: { $0.deviceID == candidate.deviceID }) {
                if dra[candidate.deviceID] != nil { continue }
                devices.append(candidate)
                offeredBy[candidate.deviceID, default: []].append(name)
            }
            resources.append(ServedResource(network: name, devices: devices))
        }
        self.resources = resources
        self.shared = offeredBy.filter { $0.value.count > 1 }
        self.allocatedThroughDRA = dra
    }

    /// An empty plan (no mapping file: nothing is served).
    public init() {
        resources = []
        shared = [:]
        allocatedThroughDRA = [:]
    }

    /// The resource of `network`, if served.
    public func resource(network: String) -> ServedResource? { resources.first { $0.network == network } }

    /// `automagic.dev/<network>`.
    public static func resourceName(network: String) -> String { resourcePrefix + network }

    /// The network of an `automagic.dev/<network>` resource; nil for any other resource.
    public static func network(resourceName: String) -> String? {
        guard resourceName.hasPrefix(resourcePrefix), resourceName.count > resourcePrefix.count else { return nil }
        return String(resourceName.dropFirst(resourcePrefix.count))
    }

    static let resourcePrefix = "automagic.dev/"

    /// `automagic-<network>.sock`: network names are DNS labels; any other byte becomes `_`.
    public static func socketName(network: String) -> String {
        "automagic-" + String(decoding: network.utf8.map { isLabelByte($0) ? $0 : 0x5F }, as: UTF8.self) + ".sock"
    }

    /// `AUTOMAGIC_<NETWORK>_DEVICES`, the network upper-cased with `-` and `.` as `_`.
    public static func environmentVariable(network: String) -> String {
        let upper = network.utf8.map { b -> UInt8 in
            if b >= 0x61, b <= 0x7A { return b - 0x20 }
            if (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) { return b }
            return 0x5F
        }
        return "AUTOMAGIC_" + String(decoding: upper, as: UTF8.self) + "_DEVICES"
    }

    private static func isLabelByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E
    }
}

/// `GetPreferredAllocation`: which `size` of the `available` devices to take, `mustInclude` first,
/// preferring devices that share one NUMA node.
///
/// The devices of the NUMA node of the `mustInclude` devices come first (when they share one);
/// otherwise the smallest NUMA node that can hold the whole request, so that larger nodes stay
/// whole for larger requests; when no node can, the fullest nodes first. Devices without a NUMA
/// node form a group of their own. Within a group the network's own order is kept. IDs that are
/// not `available` devices of the resource are never returned.
public func preferredAllocation(available: [String], mustInclude: [String], size: Int,
                                devices: [DeviceCandidate]) -> [String] {
    let availableSet = Set(available)
    let known = devices.filter { availableSet.contains($0.deviceID) }
    var chosen: [String] = []
    for id in mustInclude where !chosen.contains(id) && known.contains(where: { $0.deviceID == id }) {
        chosen.append(id)
    }
    guard size > chosen.count else { return Array(chosen.prefix(max(size, 0))) }
    var groups: [Int?: [String]] = [:]
    var groupOrder: [Int?] = []
    for d in known where !chosen.contains(d.deviceID) {
        if groups[d.numaNode] == nil { groupOrder.append(d.numaNode) }
        groups[d.numaNode, default: []].append(d.deviceID)
    }
    let needed = size - chosen.count
    let count = { (key: Int?) in groups[key]?.count ?? 0 }
    let position = { (key: Int?) in groupOrder.firstIndex(of: key) ?? 0 }
    let pinned = Set(chosen.map { id in known.first { $0.deviceID == id }?.numaNode })
    var order: [Int?] = []
    if pinned.count == 1, let only = pinned.first, groups[only] != nil { order.append(only) }
    let rest = groupOrder.filter { !order.contains($0) }
    order += rest.filter { count($0) >= needed }.sorted { (count($0), position($0)) < (count($1), position($1)) }
    order += rest.filter { count($0) < needed }.sorted { (-count($0), position($0)) < (-count($1), position($1)) }
    for key in order {
        for id in groups[key] ?? [] where chosen.count < size { chosen.append(id) }
    }
    return chosen
}
