import JSON
import KubeCore

// Hand-written readers for NetworkDeviceMap and its nested types: decoding straight from the bytes
// with `JSONReader`, with the same acceptance as the `Codable` conformances (which stay).

extension NetworkDeviceMap: JSONReadable {
    /// Reads a NetworkDeviceMap (`spec` required; a missing `apiVersion`/`kind`/`metadata` gets the
    /// same default as `Codable`).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var apiVersion: String?, kind: String?
        var metadata: ObjectMeta?
        var spec: NetworkDeviceMapSpec?
        var status: NetworkDeviceMapStatus?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "apiVersion": apiVersion = try r.readStringOrNull()
            case "kind": kind = try r.readStringOrNull()
            case "metadata": metadata = try r.readOrNull(ObjectMeta.self)
            case "spec": spec = try NetworkDeviceMapSpec(from: &r)
            case "status": status = try r.readOrNull(NetworkDeviceMapStatus.self)
            default: break
            }
        }
        guard let spec else { throw reader.missingKey("spec") }
        self.init(metadata: metadata ?? ObjectMeta(), spec: spec, status: status)
        self.apiVersion = apiVersion ?? Automagic.apiVersion
        self.kind = kind ?? Self.kind
    }
}

extension NetworkDeviceMapSpec: JSONReadable {
    /// Reads `spec` (a missing `rules` reads as empty, as with `Codable`).
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init(rules: [])
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "nodeSelector": nodeSelector = try r.readOrNull(LabelSelector.self)
            case "rules": rules = try r.readArrayOrNull(of: DeviceRule.self) ?? []
            case "select": select = try r.readOrNull(SelectPolicy.self)
            case "exclusive": exclusive = try r.readBoolOrNull()
            case "attachment": attachment = try r.readOrNull(AttachmentSpec.self)
            case "networkAttachmentDefinition": networkAttachmentDefinition = try r.readOrNull(NADTemplate.self)
            default: break
            }
        }
    }
}

extension DeviceRule: JSONReadable {
    /// Reads one rule (`devices` required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var name: String?
        var nodeSelector: LabelSelector?
        var devices: DeviceSelector?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "name": name = try r.readStringOrNull()
            case "nodeSelector": nodeSelector = try r.readOrNull(LabelSelector.self)
            case "devices": devices = try DeviceSelector(from: &r)
            default: break
            }
        }
        guard let devices else { throw reader.missingKey("devices") }
        self.init(name: name, nodeSelector: nodeSelector, devices: devices)
    }
}

extension DeviceSelector: JSONReadable {
    /// Reads `devices` (a missing `matchExpressions` reads as empty, as with `Codable`).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var expressions: [DeviceMatchExpression]?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "matchExpressions": expressions = try r.readArrayOrNull(of: DeviceMatchExpression.self)
            default: break
            }
        }
        self.init(matchExpressions: expressions ?? [])
    }
}

extension DeviceMatchExpression: JSONReadable {
    /// Reads one expression (`key` and `operator` required; unknown operators are kept).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var key: String?, op: MatchOperator?, values: [String]?
        try reader.readObject { k, r throws(JSONError) in
            switch k {
            case "key": key = try r.readString()
            case "operator": op = try MatchOperator(from: &r)
            case "values": values = try r.readStringArrayOrNull()
            default: break
            }
        }
        guard let key else { throw reader.missingKey("key") }
        guard let op else { throw reader.missingKey("operator") }
        self.init(key: key, operator: op, values: values)
    }
}

extension AttachmentSpec: JSONReadable {
    /// Reads `spec.attachment` (`type` required; unknown types are kept).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var type: AttachmentType?, mode: String?, mtu: Int?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "type": type = try AttachmentType(from: &r)
            case "mode": mode = try r.readStringOrNull()
            case "mtu": mtu = try r.readIntOrNull()
            default: break
            }
        }
        guard let type else { throw reader.missingKey("type") }
        self.init(type: type, mode: mode, mtu: mtu)
    }
}

extension NADTemplate: JSONReadable {
    /// Reads `spec.networkAttachmentDefinition` (`ipam` as any JSON; `null` reads as absent).
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "namespaces": namespaces = try r.readStringArrayOrNull()
            case "ipam": ipam = try r.readOrNull(JSONValue.self)
            default: break
            }
        }
    }
}

extension NetworkDeviceMapStatus: JSONReadable {
    /// Reads `NetworkDeviceMap.status`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "observedGeneration": observedGeneration = try r.readInt64OrNull()
            case "nodes": nodes = try r.readOrNull(NodeCounts.self)
            case "unmatchedNodes": unmatchedNodes = try r.readArrayOrNull(of: UnmatchedNode.self)
            case "conflicts": conflicts = try r.readArrayOrNull(of: DeviceConflict.self)
            case "conditions": conditions = try r.readArrayOrNull(of: Condition.self)
            default: break
            }
        }
    }
}

extension NodeCounts: JSONReadable {
    /// Reads `status.nodes` (all three counts required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var matched: Int?, unmatched: Int?, total: Int?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "matched": matched = try r.readInt()
            case "unmatched": unmatched = try r.readInt()
            case "total": total = try r.readInt()
            default: break
            }
        }
        guard let matched else { throw reader.missingKey("matched") }
        guard let unmatched else { throw reader.missingKey("unmatched") }
        guard let total else { throw reader.missingKey("total") }
        self.init(matched: matched, unmatched: unmatched, total: total)
    }
}

extension UnmatchedNode: JSONReadable {
    /// Reads `status.unmatchedNodes[]` (`node` and `reason` required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var node: String?, reason: String?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "node": node = try r.readString()
            case "reason": reason = try r.readString()
            default: break
            }
        }
        guard let node else { throw reader.missingKey("node") }
        guard let reason else { throw reader.missingKey("reason") }
        self.init(node: node, reason: reason)
    }
}

extension DeviceConflict: JSONReadable {
    /// Reads `status.conflicts[]` (every member required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var node: String?, device: String?, network: String?, winner: String?, message: String?
        try reader.readObject { key, r throws(JSONError) in
            switch key {
            case "node": node = try r.readString()
            case "device": device = try r.readString()
            case "network": network = try r.readString()
            case "winner": winner = try r.readString()
            case "message": message = try r.readString()
            default: break
            }
        }
        guard let node else { throw reader.missingKey("node") }
        guard let device else { throw reader.missingKey("device") }
        guard let network else { throw reader.missingKey("network") }
        guard let winner else { throw reader.missingKey("winner") }
        guard let message else { throw reader.missingKey("message") }
        self.init(node: node, device: device, network: network, winner: winner, message: message)
    }
}
