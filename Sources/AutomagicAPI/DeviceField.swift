/// A device field a match expression can name in `key` (the `NetworkDevice` field path, nested
/// fields dotted). The CRD's enum of keys is exactly `DeviceField.allCases.map(\.rawValue)`.
public enum DeviceField: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case name
    case altNames
    case kind
    case mac
    case permanentMAC
    case mtu
    case operState
    case carrier
    case speedMbps
    case driver
    case pciAddress
    case vendorID
    case deviceID
    case numaNode
    case sriovTotalVFs = "sriov.totalVFs"
    case sriovNumVFs = "sriov.numVFs"
    case sriovPFName = "sriov.pfName"
    case parent
    case addresses
    case hasDefaultRoute
    case lldpChassisID = "lldp.chassisID"
    case lldpPortID = "lldp.portID"
    case lldpSystemName = "lldp.systemName"
    case lldpPortDescription = "lldp.portDescription"
    case lldpManagementAddress = "lldp.managementAddress"
    case lldpVlanIDs = "lldp.vlanIDs"
    case lldpVlanNames = "lldp.vlanNames"

    /// The JSON type of a field's value(s).
    public enum ValueType: String, Sendable {
        /// Text, compared exactly (MAC, PCI and hex-ID fields case-insensitively).
        case string
        /// A whole number.
        case integer
        /// `true` or `false`.
        case boolean
        /// An IP address, optionally with a prefix length (`addresses`, `lldp.managementAddress`).
        case address
    }

    /// The key as written in a match expression (`sriov.totalVFs`).
    public var description: String { rawValue }

    /// The type of the field's value(s).
    public var valueType: ValueType {
        switch self {
        case .mtu, .speedMbps, .numaNode, .sriovTotalVFs, .sriovNumVFs, .lldpVlanIDs: .integer
        case .carrier, .hasDefaultRoute: .boolean
        case .addresses, .lldpManagementAddress: .address
        default: .string
        }
    }

    /// Whether the field holds a list; an expression holds if it holds for some element.
    public var isList: Bool {
        switch self {
        case .altNames, .addresses, .lldpVlanIDs, .lldpVlanNames: true
        default: false
        }
    }

    /// Whether values are compared case-insensitively (hardware identifiers written in hex).
    public var isCaseInsensitive: Bool {
        switch self {
        case .mac, .permanentMAC, .pciAddress, .vendorID, .deviceID, .lldpChassisID: true
        default: false
        }
    }
}
