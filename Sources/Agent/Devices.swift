import AutomagicAPI
import DeviceProbe

/// Conversion of probe results into the `NodeDevice.status.devices[]` shape.
public enum DeviceConversion {
    /// The API form of one probed device. Fields the probe did not fill stay nil (omitted in JSON).
    public static func networkDevice(_ d: ProbedDevice) -> NetworkDevice {
        NetworkDevice(
            name: d.name, altNames: d.altNames, kind: DeviceKind(rawValue: d.kind.rawValue), mac: d.mac,
            permanentMAC: d.permanentMAC, mtu: d.mtu, operState: d.operState, carrier: d.carrier,
            speedMbps: d.speedMbps, driver: d.driver, pciAddress: d.pciAddress, vendorID: d.vendorID,
            deviceID: d.deviceID, numaNode: d.numaNode,
            sriov: d.sriov.map { SRIOVInfo(totalVFs: $0.totalVFs, numVFs: $0.numVFs, pfName: $0.pfName) },
            parent: d.parent, addresses: d.addresses, lldp: d.lldp.map(neighbor))
    }

    /// The API form of every probed device, sorted by name.
    public static func networkDevices(_ devices: [ProbedDevice]) -> [NetworkDevice] {
        devices.map(networkDevice).sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// The API form of an LLDP neighbour: VLAN IDs ascending, the first management address.
    static func neighbor(_ l: ProbedDevice.LLDP) -> LLDPNeighbor {
        let vlans = l.vlanIDs.map { Array(Set($0)).sorted() }
        return LLDPNeighbor(
            chassisID: l.chassisID, portID: l.portID, systemName: l.systemName, portDescription: l.portDescription,
            managementAddress: l.managementAddresses?.first, vlanIDs: (vlans?.isEmpty ?? true) ? nil : vlans,
            lastHeard: l.lastHeard)
    }
}
