/// One network device as the probe sees it: the `NodeDevice.status.devices[]` fields
/// of the product brief. Optional fields are nil (and omitted from JSON) when they do
/// not apply or are unknown; nothing is invented.
public struct ProbedDevice: Sendable, Hashable, Codable {
    /// Kinds of the product brief.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case physical, vf, bond, bridge, vlan, veth, macvlan, ipvlan, virtual
    }

    /// SR-IOV facts: totals on a PF, the PF's name on a VF.
    public struct SRIOV: Sendable, Hashable, Codable {
        /// `sriov_totalvfs` of a PF.
        public var totalVFs: Int?
        /// `sriov_numvfs` of a PF.
        public var numVFs: Int?
        /// The PF's interface name, on a VF (when the PF is visible).
        public var pfName: String?

        public init(totalVFs: Int? = nil, numVFs: Int? = nil, pfName: String? = nil) {
            self.totalVFs = totalVFs
            self.numVFs = numVFs
            self.pfName = pfName
        }
    }

    /// The LLDP neighbour last heard on this device.
    public struct LLDP: Sendable, Hashable, Codable {
        public var chassisID: String
        public var portID: String
        public var systemName: String?
        public var portDescription: String?
        /// Port VLAN ID first (when sent), then the VLAN name TLVs' IDs, deduplicated.
        public var vlanIDs: [Int]?
        /// Management addresses (IP text or MAC), when sent.
        public var managementAddresses: [String]?
        /// When the neighbour was last heard (RFC 3339, UTC, seconds).
        public var lastHeard: String?
        /// The TTL the neighbour announced, in seconds.
        public var ttlSeconds: Int?

        public init(chassisID: String, portID: String, systemName: String? = nil, portDescription: String? = nil,
                    vlanIDs: [Int]? = nil, managementAddresses: [String]? = nil, lastHeard: String? = nil,
                    ttlSeconds: Int? = nil) {
            self.chassisID = chassisID
            self.portID = portID
            self.systemName = systemName
            self.portDescription = portDescription
            self.vlanIDs = vlanIDs
            self.managementAddresses = managementAddresses
            self.lastHeard = lastHeard
            self.ttlSeconds = ttlSeconds
        }
    }

    public var name: String
    public var altNames: [String]?
    public var kind: Kind
    public var mac: String?
    public var permanentMAC: String?
    public var mtu: Int?
    public var operState: String?
    public var carrier: Bool?
    public var speedMbps: Int?
    public var driver: String?
    public var pciAddress: String?
    public var vendorID: String?
    public var deviceID: String?
    public var numaNode: Int?
    public var sriov: SRIOV?
    /// Bond/bridge master, lower device of a vlan/macvlan/ipvlan, or PF of a VF.
    public var parent: String?
    /// Addresses as CIDR strings (`10.0.0.1/24`, `2001:db8::1/64`); IPv6 link-local excluded by default.
    public var addresses: [String]?
    public var lldp: LLDP?
    /// Kernel interface index (not published; useful to correlate with netlink).
    public var ifindex: Int

    public init(name: String, kind: Kind, ifindex: Int) {
        self.name = name
        self.kind = kind
        self.ifindex = ifindex
    }

    enum CodingKeys: String, CodingKey {
        case name, altNames, kind, mac, permanentMAC, mtu, operState, carrier, speedMbps, driver, pciAddress
        case vendorID, deviceID, numaNode, sriov, parent, addresses, lldp
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(Kind.self, forKey: .kind)
        altNames = try c.decodeIfPresent([String].self, forKey: .altNames)
        mac = try c.decodeIfPresent(String.self, forKey: .mac)
        permanentMAC = try c.decodeIfPresent(String.self, forKey: .permanentMAC)
        mtu = try c.decodeIfPresent(Int.self, forKey: .mtu)
        operState = try c.decodeIfPresent(String.self, forKey: .operState)
        carrier = try c.decodeIfPresent(Bool.self, forKey: .carrier)
        speedMbps = try c.decodeIfPresent(Int.self, forKey: .speedMbps)
        driver = try c.decodeIfPresent(String.self, forKey: .driver)
        pciAddress = try c.decodeIfPresent(String.self, forKey: .pciAddress)
        vendorID = try c.decodeIfPresent(String.self, forKey: .vendorID)
        deviceID = try c.decodeIfPresent(String.self, forKey: .deviceID)
        numaNode = try c.decodeIfPresent(Int.self, forKey: .numaNode)
        sriov = try c.decodeIfPresent(SRIOV.self, forKey: .sriov)
        parent = try c.decodeIfPresent(String.self, forKey: .parent)
        addresses = try c.decodeIfPresent([String].self, forKey: .addresses)
        lldp = try c.decodeIfPresent(LLDP.self, forKey: .lldp)
        ifindex = 0
    }
}
