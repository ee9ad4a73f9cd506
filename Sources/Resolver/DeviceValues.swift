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
/// per device per resolution, however many maps and rules read it).
struct DeviceTable {
    let devices: [NetworkDevice]
    private var cache: [[String]?]
    private let width = DeviceField.allCases.count

    init(_ devices: [NetworkDevice]) {
        self.devices = devices
        self.cache = Array(repeating: nil, count: devices.count * DeviceField.allCases.count)
    }

    mutating func values(_ device: Int, _ field: DeviceField, ordinal: Int) -> [String] {
        let slot = device * width + ordinal
        if let cached = cache[slot] { return cached }
        let v = field.values(of: devices[device])
        cache[slot] = v
        return v
    }
}
