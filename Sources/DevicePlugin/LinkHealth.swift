import AutomagicAPI
import MappingFile

/// The kernel's view of one link, as much as health needs.
public struct LinkState: Sendable, Hashable {
    public var name: String
    public var mac: String?
    public var operState: String?
    public var carrier: Bool?

    public init(name: String, mac: String? = nil, operState: String? = nil, carrier: Bool? = nil) {
        self.name = name
        self.mac = mac
        self.operState = operState
        self.carrier = carrier
    }

    init(_ device: NetworkDevice) {
        self.init(name: device.name, mac: device.mac, operState: device.operState, carrier: device.carrier)
    }

    /// Up: operational state `up`, or `unknown` with carrier (drivers without operational state
    /// reporting, such as dummy links, say `unknown` while they are up).
    public var isUp: Bool {
        switch operState {
        case "up": return true
        case "unknown": return carrier ?? false
        default: return false
        }
    }
}

/// The kubelet's two health values.
public enum DeviceHealth: String, Sendable, Hashable {
    case healthy = "Healthy"
    case unhealthy = "Unhealthy"
}

/// One device of a served resource as ListAndWatch reports it.
public struct AdvertisedDevice: Sendable, Hashable {
    public var id: String
    public var health: DeviceHealth
    public var numaNode: Int?

    public init(id: String, health: DeviceHealth, numaNode: Int?) {
        self.id = id
        self.health = health
        self.numaNode = numaNode
    }
}

/// The links of the watched namespace, by name.
public struct LinkTable: Sendable, Hashable {
    public var links: [String: LinkState]

    public init(_ links: [LinkState] = []) {
        self.links = Dictionary(links.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The link of `candidate`: the interface of that name; when there is none, the one with its
    /// MAC address (the interface was renamed).
    public func link(for candidate: DeviceCandidate) -> LinkState? {
        if let l = links[candidate.name] { return l }
        guard let mac = candidate.mac?.lowercased(), !mac.isEmpty else { return nil }
        return links.values.first { $0.mac?.lowercased() == mac }
    }

    /// `resource`'s devices with their health: Healthy while the link exists and is up and no
    /// other network's pod holds the device (`claims`). A candidate whose link is gone stays
    /// listed, Unhealthy, until the mapping file drops it: a host device given to a pod leaves
    /// the host's namespace while the pod runs and is still the node's.
    public func advertise(_ resource: ServedResource, claims: DeviceClaims = DeviceClaims()) -> [AdvertisedDevice] {
        resource.devices.map { c in
            let up = link(for: c)?.isUp ?? false
            let free = claims.holder(of: c.deviceID).map { $0 == resource.network } ?? true
            return AdvertisedDevice(id: c.deviceID, health: up && free ? .healthy : .unhealthy, numaNode: c.numaNode)
        }
    }

    /// Whether `candidate`'s link is in this namespace.
    public func isPresent(_ candidate: DeviceCandidate) -> Bool { link(for: candidate) != nil }
}
