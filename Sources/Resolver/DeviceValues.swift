import AutomagicAPI

extension DeviceField {
    /// The field's values on `device` as canonical strings (integers in decimal, booleans
    /// `true`/`false`, hardware identifiers lower-case). Empty when the field is absent
    /// (a list field: also when the list is empty).
    public func values(of device: NetworkDevice) -> [String] {
        func one(_ s: String?) -> [String] {
            guard let s else { return [] }
            return [isCaseInsensitive ? s.lowercased() : s]
        }
        func int(_ i: Int?) -> [String] { i.map { [String($0)] } ?? [] }
        func bool(_ b: Bool?) -> [String] { b.map { [$0 ? "true" : "false"] } ?? [] }
        switch self {
        case .name: return [device.name]
        case .altNames: return device.altNames ?? []
        case .kind: return one(device.kind?.rawValue)
        case .mac: return one(device.mac)
        case .permanentMAC: return one(device.permanentMAC)
        case .mtu: return int(device.mtu)
        case .operState: return one(device.operState)
        case .carrier: return bool(device.carrier)
        case .speedMbps: return int(device.speedMbps)
        case .driver: return one(device.driver)
        case .pciAddress: return one(device.pciAddress)
        case .vendorID: return one(device.vendorID)
        case .deviceID: return one(device.deviceID)
        case .numaNode: return int(device.numaNode)
        case .sriovTotalVFs: return int(device.sriov?.totalVFs)
        case .sriovNumVFs: return int(device.sriov?.numVFs)
        case .sriovPFName: return one(device.sriov?.pfName)
        case .parent: return one(device.parent)
        case .addresses: return device.addresses ?? []
        case .hasDefaultRoute: return bool(device.hasDefaultRoute)
        case .lldpChassisID: return one(device.lldp?.chassisID)
        case .lldpPortID: return one(device.lldp?.portID)
        case .lldpSystemName: return one(device.lldp?.systemName)
        case .lldpPortDescription: return one(device.lldp?.portDescription)
        case .lldpManagementAddress: return one(device.lldp?.managementAddress)
        case .lldpVlanIDs: return (device.lldp?.vlanIDs ?? []).map { String($0) }
        case .lldpVlanNames: return device.lldp?.vlanNames ?? []
        }
    }

    /// Dense index of the field, for per-device value tables (computed once per compiled expression).
    var ordinal: Int { Self.allCases.firstIndex(of: self) ?? 0 }
}

/// One node's devices with their field values extracted on first use (each field at most once
/// per device per resolution, however many maps and rules read it), as canonical strings, as
/// integers and as IP addresses.
struct DeviceTable {
    let devices: [NetworkDevice]
    private var strings: [[String]?]
    private var ints: [[Int]?]
    private var addrs: [[IPAddress]?]
    private let width = DeviceField.allCases.count
    /// Expression results: 0 unknown, 1 holds, 2 fails; indexed by slot * devices + device.
    private var results: [UInt8]
    private let slots: [ObjectIdentifier: Int]

    init(_ devices: [NetworkDevice], expressionSlots: [ObjectIdentifier: Int] = [:]) {
        self.slots = expressionSlots
        self.results = Array(repeating: 0, count: expressionSlots.count * devices.count)
        self.devices = devices
        let n = devices.count * DeviceField.allCases.count
        self.strings = Array(repeating: nil, count: n)
        self.ints = Array(repeating: nil, count: n)
        self.addrs = Array(repeating: nil, count: n)
    }

    /// The result slot of `e`, or -1 when it has none (then results are not remembered).
    func slot(of e: CompiledExpression) -> Int { slots[ObjectIdentifier(e)] ?? -1 }

    /// Whether `e` (with result slot `slot`) holds for `device`, evaluated at most once per slot.
    mutating func holds(_ e: CompiledExpression, slot: Int, device: Int) -> Bool {
        guard slot >= 0 else { return e.holds(&self, device) }
        let i = slot * devices.count + device
        switch results[i] {
        case 1: return true
        case 2: return false
        default:
            let r = e.holds(&self, device)
            results[i] = r ? 1 : 2
            return r
        }
    }

    /// The field's values as canonical strings (empty: absent).
    mutating func values(_ device: Int, _ field: DeviceField, ordinal: Int) -> [String] {
        let slot = device * width + ordinal
        if let cached = strings[slot] { return cached }
        let v = field.values(of: devices[device])
        strings[slot] = v
        return v
    }

    /// The values that are integers.
    mutating func integers(_ device: Int, _ field: DeviceField, ordinal: Int) -> [Int] {
        let slot = device * width + ordinal
        if let cached = ints[slot] { return cached }
        let v = values(device, field, ordinal: ordinal).compactMap { Int($0) }
        ints[slot] = v
        return v
    }

    /// The values that are IP addresses (with or without a prefix length).
    mutating func addresses(_ device: Int, _ field: DeviceField, ordinal: Int) -> [IPAddress] {
        let slot = device * width + ordinal
        if let cached = addrs[slot] { return cached }
        let v = values(device, field, ordinal: ordinal).compactMap { IPAddress(interfaceAddress: $0) }
        addrs[slot] = v
        return v
    }
}
