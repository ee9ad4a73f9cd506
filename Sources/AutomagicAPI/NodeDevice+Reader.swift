import JSON
import KubeCore

// Hand-written readers for NodeDevice and its nested types: decoding straight from the bytes with
// `JSONReader`, with the same acceptance as the `Codable` conformances (which stay).

extension NodeDevice: JSONReadable {
    /// Reads a NodeDevice; a missing `apiVersion`/`kind`/`metadata` gets the same default as `Codable`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        // Fields are read in place (no copy of the nested values afterwards).
        self.init(metadata: ObjectMeta())
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "apiVersion": apiVersion = try r.readStringOrNull() ?? Automagic.apiVersion
            case "kind": kind = try r.readStringOrNull() ?? Self.kind
            case "metadata": metadata = try r.readOrNull(ObjectMeta.self) ?? ObjectMeta()
            case "status": status = try r.readOrNull(NodeDeviceStatus.self)
            default: break
            }
        }
    }
}

extension NodeDeviceStatus: JSONReadable {
    /// Reads `NodeDevice.status` as written (`deviceCount` and `resolvedNetworks` are not recomputed).
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "devices": devices = try r.readArrayOrNull(of: NetworkDevice.self)
            case "deviceCount": deviceCount = try r.readIntOrNull()
            case "networks": networks = try r.readArrayOrNull(of: NodeNetworkStatus.self)
            case "resolvedNetworks": resolvedNetworks = try r.readStringOrNull()
            case "probedAt": probedAt = try r.readStringOrNull()
            case "agentVersion": agentVersion = try r.readStringOrNull()
            case "conditions": conditions = try r.readArrayOrNull(of: Condition.self)
            default: break
            }
        }
    }
}

extension NetworkDevice: JSONReadable {
    /// Reads one device (`name` required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var name: String?
        // Fields are read in place (no copy of the whole device afterwards).
        self.init(name: "")
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "name": name = try r.readString()
            case "altNames": altNames = try r.readStringArrayOrNull()
            case "kind": kind = try r.readOrNull(DeviceKind.self)
            case "mac": mac = try r.readStringOrNull()
            case "permanentMAC": permanentMAC = try r.readStringOrNull()
            case "mtu": mtu = try r.readIntOrNull()
            case "operState": operState = try r.readStringOrNull()
            case "carrier": carrier = try r.readBoolOrNull()
            case "speedMbps": speedMbps = try r.readIntOrNull()
            case "driver": driver = try r.readStringOrNull()
            case "pciAddress": pciAddress = try r.readStringOrNull()
            case "vendorID": vendorID = try r.readStringOrNull()
            case "deviceID": deviceID = try r.readStringOrNull()
            case "numaNode": numaNode = try r.readIntOrNull()
            case "sriov": sriov = try r.readOrNull(SRIOVInfo.self)
            case "parent": parent = try r.readStringOrNull()
            case "addresses": addresses = try r.readStringArrayOrNull()
            case "hasDefaultRoute": hasDefaultRoute = try r.readBoolOrNull()
            case "lldp": lldp = try r.readOrNull(LLDPNeighbor.self)
            default: break
            }
        }
        guard let name else { throw reader.missingKey("name") }
        self.name = name
    }
}

extension SRIOVInfo: JSONReadable {
    /// Reads `devices[].sriov`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "totalVFs": totalVFs = try r.readIntOrNull()
            case "numVFs": numVFs = try r.readIntOrNull()
            case "pfName": pfName = try r.readStringOrNull()
            default: break
            }
        }
    }
}

extension LLDPNeighbor: JSONReadable {
    /// Reads `devices[].lldp`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "chassisID": chassisID = try r.readStringOrNull()
            case "portID": portID = try r.readStringOrNull()
            case "systemName": systemName = try r.readStringOrNull()
            case "portDescription": portDescription = try r.readStringOrNull()
            case "managementAddress": managementAddress = try r.readStringOrNull()
            case "vlanIDs": vlanIDs = try r.readArrayOrNull(of: Int.self)
            case "vlanNames": vlanNames = try r.readStringArrayOrNull()
            case "lastHeard": lastHeard = try r.readStringOrNull()
            default: break
            }
        }
    }
}

extension NodeNetworkStatus: JSONReadable {
    /// Reads `status.networks[]` (`network` required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var network: String?, device: String?, rule: String?, message: String?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "network": network = try r.readString()
            case "device": device = try r.readStringOrNull()
            case "rule": rule = try r.readStringOrNull()
            case "message": message = try r.readStringOrNull()
            default: break
            }
        }
        guard let network else { throw reader.missingKey("network") }
        self.init(network: network, device: device, rule: rule, message: message)
    }
}
