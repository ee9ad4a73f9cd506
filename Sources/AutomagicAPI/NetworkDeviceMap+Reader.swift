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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "apiVersion": apiVersion = try reader.readStringOrNull()
            case "kind": kind = try reader.readStringOrNull()
            case "metadata": metadata = try reader.readOrNull(ObjectMeta.self)
            case "spec": spec = try NetworkDeviceMapSpec(from: &reader)
            case "status": status = try reader.readOrNull(NetworkDeviceMapStatus.self)
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "nodeSelector": nodeSelector = try reader.readOrNull(LabelSelector.self)
            case "rules": rules = try reader.readArrayOrNull(of: DeviceRule.self) ?? []
            case "select": select = try reader.readOrNull(SelectPolicy.self)
            case "exclusive": exclusive = try reader.readBoolOrNull()
            case "dra": dra = try reader.readBoolOrNull()
            case "attachment": attachment = try reader.readOrNull(AttachmentSpec.self)
            case "networkAttachmentDefinition": networkAttachmentDefinition = try reader.readOrNull(NADTemplate.self)
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "name": name = try reader.readStringOrNull()
            case "nodeSelector": nodeSelector = try reader.readOrNull(LabelSelector.self)
            case "devices": devices = try DeviceSelector(from: &reader)
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "matchExpressions": expressions = try reader.readArrayOrNull(of: DeviceMatchExpression.self)
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "type": type = try AttachmentType(from: &reader)
            case "mode": mode = try reader.readStringOrNull()
            case "mtu": mtu = try reader.readIntOrNull()
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "namespaces": namespaces = try reader.readStringArrayOrNull()
            case "ipam": ipam = try reader.readOrNull(JSONValue.self)
            default: break
            }
        }
    }
}

extension NetworkDeviceMapStatus: JSONReadable {
    /// Reads `NetworkDeviceMap.status`.
    public init(from reader: inout JSONReader) throws(JSONError) {
        self.init()
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "observedGeneration": observedGeneration = try reader.readInt64OrNull()
            case "nodes": nodes = try reader.readOrNull(NodeCounts.self)
            case "unmatchedNodes": unmatchedNodes = try reader.readArrayOrNull(of: UnmatchedNode.self)
            case "conflicts": conflicts = try reader.readArrayOrNull(of: DeviceConflict.self)
            case "conditions": conditions = try reader.readArrayOrNull(of: Condition.self)
            default: break
            }
        }
    }
}

extension NodeCounts: JSONReadable {
    /// Reads `status.nodes` (all three counts required).
    public init(from reader: inout JSONReader) throws(JSONError) {
        var matched: Int?, unmatched: Int?, total: Int?
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "matched": matched = try reader.readInt()
            case "unmatched": unmatched = try reader.readInt()
            case "total": total = try reader.readInt()
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "node": node = try reader.readString()
            case "reason": reason = try reader.readString()
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
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "node": node = try reader.readString()
            case "device": device = try reader.readString()
            case "network": network = try reader.readString()
            case "winner": winner = try reader.readString()
            case "message": message = try reader.readString()
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
