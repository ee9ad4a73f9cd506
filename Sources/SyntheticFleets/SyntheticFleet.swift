import AutomagicAPI
import KubeCore
import Resolver

/// Deterministic synthetic nodes, devices and maps for benchmarks and property tests: a mix of
/// NIC generations and drivers, SR-IOV VFs, bonds, VLANs, addresses in several subnets, LLDP
/// neighbours, and maps using every operator, per-rule node selectors and exclusive networks.
public struct SyntheticFleet: Sendable {
    /// The random state (SplitMix64); same seed, same fleet.
    public private(set) var state: UInt64

    /// A generator seeded with `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next pseudo-random number.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (n > 0).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

    /// One element of `items` (non-empty).
    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    static let drivers = ["ice", "i40e", "mlx5_core", "bnxt_en", "igb", "ixgbe", "virtio_net", "veth", "bonding", "iavf"]
    static let speeds = [1000, 10000, 25000, 40000, 100000]
    static let subnets = ["192.168.60", "192.168.61", "10.20.1", "10.30.7", "172.16.5"]
    static let switches = ["leaf-01.dc1", "leaf-02.dc1", "leaf-07.dc2", "spine-1", "tor-a"]
    static let kinds: [DeviceKind] = [.physical, .physical, .physical, .vf, .bond, .vlan, .veth, .bridge]

    /// A node named `name` with generation, zone and role labels.
    public mutating func node(_ name: String) -> NodeInfo {
        NodeInfo(name: name, labels: [
            "kubernetes.io/hostname": name,
            "hw": pick(["gen1", "gen2", "gen3"]),
            "topology.kubernetes.io/zone": pick(["a", "b", "c"]),
            "node-role.kubernetes.io/worker": "",
        ])
    }

    /// `count` devices with distinct names.
    public mutating func devices(_ count: Int) -> [NetworkDevice] {
        (0..<count).map { device(index: $0) }
    }

    /// One device; `index` makes the name unique.
    public mutating func device(index: Int) -> NetworkDevice {
        let kind = pick(Self.kinds)
        let prefix: String = switch kind {
        case .physical: pick(["ens", "eno", "enp"])
        case .vf: "vf"
        case .bond: "bond"
        case .vlan: "vlan"
        case .veth: "veth"
        default: "br"
        }
        var d = NetworkDevice(name: "\(prefix)\(index)f\(below(4))", kind: kind)
        d.driver = kind == .physical ? pick(Array(Self.drivers.prefix(6))) : pick(Self.drivers)
        d.mtu = pick([1500, 9000, 9216])
        d.operState = pick(["up", "up", "up", "down"])
        d.carrier = d.operState == "up"
        if below(4) != 0 { d.speedMbps = pick(Self.speeds) }
        if kind == .physical || kind == .vf {
            d.pciAddress = "0000:\(hex2(below(256))):\(hex2(below(32))).\(below(8))"
            d.vendorID = pick(["8086", "15b3", "14e4"])
            d.deviceID = pick(["159b", "1572", "1017", "16d7"])
            d.numaNode = below(2)
            d.mac = (0..<6).map { _ in hex2(below(256)) }.joined(separator: ":")
        }
        if kind == .physical && below(2) == 0 { d.sriov = SRIOVInfo(totalVFs: pick([8, 64, 128]), numVFs: below(9)) }
        if kind == .vf { d.sriov = SRIOVInfo(pfName: "ens\(below(8))f0"); d.parent = d.sriov?.pfName }
        if below(3) != 0 {
            d.addresses = ["\(pick(Self.subnets)).\(1 + below(250))/24"]
            if below(3) == 0 { d.addresses?.append("2001:db8:\(below(16))::\(1 + below(250))/64") }
        }
        if kind == .physical && below(2) == 0 {
            d.lldp = LLDPNeighbor(systemName: pick(Self.switches), vlanIDs: [100 + below(10), 200 + below(10)])
        }
        return d
    }

    /// An expression on a random key with a random operator, valid by construction.
    public mutating func expression() -> DeviceMatchExpression {
        switch below(10) {
        case 0: DeviceMatchExpression(key: "driver", operator: .in, values: [pick(Self.drivers), pick(Self.drivers)])
        case 1: DeviceMatchExpression(key: "speedMbps", operator: .gt, values: [String(pick([1000, 10000, 25000]))])
        case 2: DeviceMatchExpression(key: "name", operator: .matches, values: [pick(["^ens", "^eno[0-9]+", "f[01]$", "^bond", "^vf"])])
        case 3: DeviceMatchExpression(key: "addresses", operator: .inCIDR, values: ["\(pick(Self.subnets)).0/24", "2001:db8:\(below(16))::/48"])
        case 4: DeviceMatchExpression(key: "lldp.systemName", operator: .in, values: [pick(Self.switches)])
        case 5: DeviceMatchExpression(key: "kind", operator: .notIn, values: ["veth", "bridge"])
        case 6: DeviceMatchExpression(key: "sriov.totalVFs", operator: .exists)
        case 7: DeviceMatchExpression(key: "parent", operator: .doesNotExist)
        case 8: DeviceMatchExpression(key: "mtu", operator: .lt, values: ["9001"])
        default: DeviceMatchExpression(key: "vendorID", operator: .in, values: [pick(["8086", "15b3", "14e4"])])
        }
    }

    /// A valid map named `name`: 1–3 rules of 1–3 expressions, sometimes a node selector,
    /// a per-rule selector, `HighestSpeed` or `Fail`, or exclusivity.
    public mutating func map(_ name: String) -> NetworkDeviceMap {
        let rules = (0..<(1 + below(3))).map { i in
            DeviceRule(
                name: below(2) == 0 ? "r\(i)" : nil,
                nodeSelector: below(4) == 0 ? LabelSelector(matchLabels: ["hw": pick(["gen1", "gen2", "gen3"])]) : nil,
                expressions: (0..<(1 + below(3))).map { _ in expression() })
        }
        var meta = ObjectMeta(name: name)
        if below(5) != 0 { meta.creationTimestamp = "2026-0\(1 + below(9))-1\(below(10))T00:00:00Z" }
        return NetworkDeviceMap(metadata: meta, spec: NetworkDeviceMapSpec(
            nodeSelector: below(3) == 0 ? LabelSelector(matchExpressions: [
                LabelSelectorRequirement(key: "topology.kubernetes.io/zone", operator: .in, values: [pick(["a", "b", "c"]), pick(["a", "b", "c"])]),
            ]) : nil,
            rules: rules,
            select: pick([nil, .first, .highestSpeed, .highestSpeed, .fail]),
            exclusive: below(6) == 0 ? true : nil))
    }

    /// `count` maps named `net-0`, `net-1`, ….
    public mutating func maps(_ count: Int) -> [NetworkDeviceMap] { (0..<count).map { map("net-\($0)") } }

    func hex2(_ v: Int) -> String {
        let s = String(v, radix: 16)
        return s.count == 1 ? "0" + s : s
    }
}
