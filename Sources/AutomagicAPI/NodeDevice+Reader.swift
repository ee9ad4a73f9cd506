import JSON
import KubeCore

// Hand-written readers for NodeDevice and its nested types: decoding straight from the bytes with
// `JSONReader`, with the same acceptance as the `Codable` conformances (which stay).

extension NodeDevice: JSONReadable {
    /// Reads a NodeDevice; a missing `apiVersion`/`kind`/`metadata` gets the same default as `Codable`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self = try Self.read(&reader)
    }

    /// Builds the value in a local and returns it (moved, not copied, into `self`).
    private static func read(_ reader: inout JSONReader) throws(JSONError) -> Self {
        var v = Self(metadata: ObjectMeta())
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "apiVersion": v.apiVersion = try reader.readStringOrNull() ?? Automagic.apiVersion
            case "kind": v.kind = try reader.readStringOrNull() ?? Self.kind
            case "metadata": v.metadata = try reader.readOrNull(ObjectMeta.self) ?? ObjectMeta()
            case "status": v.status = try reader.readOrNull(NodeDeviceStatus.self)
            default: break
            }
        }
        return v
    }
}

extension NodeDeviceStatus: JSONReadable {
    /// Reads `NodeDevice.status` as written (`deviceCount` and `resolvedNetworks` are not recomputed).
    public init(from reader: inout JSONReader) throws(JSONError) {
        self = try Self.read(&reader)
    }

    /// Builds the value in a local and returns it (moved, not copied, into `self`).
    private static func read(_ reader: inout JSONReader) throws(JSONError) -> Self {
        var v = Self()
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "devices": v.devices = try reader.readArrayOrNull(of: NetworkDevice.self)
            case "deviceCount": v.deviceCount = try reader.readIntOrNull()
            case "networks": v.networks = try reader.readArrayOrNull(of: NodeNetworkStatus.self)
            case "resolvedNetworks": v.resolvedNetworks = try reader.readStringOrNull()
            case "probedAt": v.probedAt = try reader.readStringOrNull()
            case "agentVersion": v.agentVersion = try reader.readStringOrNull()
            case "conditions": v.conditions = try reader.readArrayOrNull(of: Condition.self)
            default: break
            }
        }
        return v
    }
}

extension NetworkDevice: JSONReadable {
    /// Reads one device (`name` required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        // Every field in a local, handed to the initializer at the end: moved, never copied.
        var name: String?
        var altNames: [String]?
        var kind: DeviceKind?
        var mac: String?
        var permanentMAC: String?
        var mtu: Int?
        var operState: String?
        var carrier: Bool?
        var speedMbps: Int?
        var driver: String?
        var pciAddress: String?
        var vendorID: String?
        var deviceID: String?
        var numaNode: Int?
        var sriov: SRIOVInfo?
        var parent: String?
        var addresses: [String]?
        var hasDefaultRoute: Bool?
        var lldp: LLDPNeighbor?
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "name": name = try reader.readString()
            case "altNames": altNames = try reader.readStringArrayOrNull()
            case "kind": kind = try reader.readOrNull(DeviceKind.self)
            case "mac": mac = try reader.readStringOrNull()
            case "permanentMAC": permanentMAC = try reader.readStringOrNull()
            case "mtu": mtu = try reader.readIntOrNull()
            case "operState": operState = try reader.readStringOrNull()
            case "carrier": carrier = try reader.readBoolOrNull()
            case "speedMbps": speedMbps = try reader.readIntOrNull()
            case "driver": driver = try reader.readStringOrNull()
            case "pciAddress": pciAddress = try reader.readStringOrNull()
            case "vendorID": vendorID = try reader.readStringOrNull()
            case "deviceID": deviceID = try reader.readStringOrNull()
            case "numaNode": numaNode = try reader.readIntOrNull()
            case "sriov": sriov = try reader.readOrNull(SRIOVInfo.self)
            case "parent": parent = try reader.readStringOrNull()
            case "addresses": addresses = try reader.readStringArrayOrNull()
            case "hasDefaultRoute": hasDefaultRoute = try reader.readBoolOrNull()
            case "lldp": lldp = try reader.readOrNull(LLDPNeighbor.self)
            default: break
            }
        }
        guard let name else { throw reader.missingKey("name") }
        self.init(
            name: name, altNames: altNames, kind: kind, mac: mac, permanentMAC: permanentMAC, mtu: mtu, operState: operState, carrier: carrier, speedMbps: speedMbps, driver: driver, pciAddress: pciAddress, vendorID: vendorID, deviceID: deviceID, numaNode: numaNode, sriov: sriov, parent: parent, addresses: addresses, hasDefaultRoute: hasDefaultRoute, lldp: lldp)
    }
}

extension SRIOVInfo: JSONReadable {
    /// Reads `devices[].sriov`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self = try Self.read(&reader)
    }

    /// Builds the value in a local and returns it (moved, not copied, into `self`).
    private static func read(_ reader: inout JSONReader) throws(JSONError) -> Self {
        var v = Self()
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "totalVFs": v.totalVFs = try reader.readIntOrNull()
            case "numVFs": v.numVFs = try reader.readIntOrNull()
            case "pfName": v.pfName = try reader.readStringOrNull()
            default: break
            }
        }
        return v
    }
}

extension LLDPNeighbor: JSONReadable {
    /// Reads `devices[].lldp`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        var chassisID: String?
        var portID: String?
        var systemName: String?
        var portDescription: String?
        var managementAddress: String?
        var vlanIDs: [Int]?
        var vlanNames: [String]?
        var lastHeard: String?
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "chassisID": chassisID = try reader.readStringOrNull()
            case "portID": portID = try reader.readStringOrNull()
            case "systemName": systemName = try reader.readStringOrNull()
            case "portDescription": portDescription = try reader.readStringOrNull()
            case "managementAddress": managementAddress = try reader.readStringOrNull()
            case "vlanIDs": vlanIDs = try reader.readArrayOrNull(of: Int.self)
            case "vlanNames": vlanNames = try reader.readStringArrayOrNull()
            case "lastHeard": lastHeard = try reader.readStringOrNull()
            default: break
            }
        }
        self.init(
            chassisID: chassisID, portID: portID, systemName: systemName, portDescription: portDescription, managementAddress: managementAddress, vlanIDs: vlanIDs, vlanNames: vlanNames, lastHeard: lastHeard)
    }
}

extension NodeNetworkStatus: JSONReadable {
    /// Reads `status.networks[]` (`network` required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var network: String?, device: String?, rule: String?, message: String?
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "network": network = try reader.readString()
            case "device": device = try reader.readStringOrNull()
            case "rule": rule = try reader.readStringOrNull()
            case "message": message = try reader.readStringOrNull()
            default: break
            }
        }
        guard let network else { throw reader.missingKey("network") }
        self.init(network: network, device: device, rule: rule, message: message)
    }
}
