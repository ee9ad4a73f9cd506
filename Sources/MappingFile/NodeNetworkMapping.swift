import JSON

/// The file the node agent writes and the `automagic` CNI plugin reads: which host device
/// carries each semantic network on this node (default path `/run/automagic/mapping.json`).
///
/// ```swift
/// let mapping = try MappingFile.read(path: "/run/automagic/mapping.json")
/// if let storage = mapping.networks["storage"] { print(storage.device) }   // "ens5f1"
/// ```
public struct NodeNetworkMapping: Sendable, Hashable {
    /// The only `apiVersion` this code reads and writes.
    public static let currentAPIVersion = "automagic.dev/v1alpha1"
    /// The only `kind` this code reads and writes.
    public static let currentKind = "NodeNetworkMapping"

    /// The node this mapping was resolved for.
    public var node: String
    /// Increases each time the agent writes a changed mapping.
    public var generation: Int64
    /// RFC 3339 time of the resolution.
    public var updatedAt: String
    /// Resolved networks by name.
    public var networks: [String: NetworkMapping]

    /// Creates a mapping.
    public init(node: String, generation: Int64, updatedAt: String, networks: [String: NetworkMapping]) {
        self.node = node
        self.generation = generation
        self.updatedAt = updatedAt
        self.networks = networks
    }
}

/// How one semantic network resolves on this node.
public struct NetworkMapping: Sendable, Hashable {
    /// The host interface that carries the network (`ens5f1`). Empty when the agent could not resolve it.
    public var device: String
    /// The `NetworkDeviceMap` that produced the resolution.
    public var map: String
    /// The default delegate from the map's `spec.attachment`.
    public var attachment: Attachment?
    /// The device's MAC address, when known.
    public var mac: String?
    /// The device's PCI address, when known.
    public var pciAddress: String?
    /// Why the network is unresolved (only set when `device` is empty), for error messages.
    public var message: String?

    /// Creates a network mapping.
    public init(device: String, map: String, attachment: Attachment? = nil, mac: String? = nil,
                pciAddress: String? = nil, message: String? = nil) {
        self.device = device
        self.map = map
        self.attachment = attachment
        self.mac = mac
        self.pciAddress = pciAddress
        self.message = message
    }
}

/// The map's default delegate: `{type: macvlan|ipvlan|host-device, mode, mtu}`.
public struct Attachment: Sendable, Hashable {
    /// Delegate plugin type (`macvlan`, `ipvlan`, `host-device`).
    public var type: String
    /// Delegate mode (`bridge`, `l2` …), if set.
    public var mode: String?
    /// MTU for the created interface, if set.
    public var mtu: Int64?

    /// Creates an attachment.
    public init(type: String, mode: String? = nil, mtu: Int64? = nil) {
        self.type = type
        self.mode = mode
        self.mtu = mtu
    }
}

// MARK: - JSON mapping

extension NodeNetworkMapping {
    /// Decodes a mapping from a JSON document. `path` only names the file in errors.
    /// Unknown fields are ignored (a newer agent may add some); a different `apiVersion`
    /// or `kind` is refused.
    public init(json: JSONValue, path: String) throws(MappingFileError) {
        guard case .object(let o) = json else {
            throw .decodeFailed(path: path, cause: "expected a JSON object, got \(json.typeName)")
        }
        let apiVersion = o["apiVersion"]?.stringValue ?? ""
        let kind = o["kind"]?.stringValue ?? ""
        guard apiVersion == Self.currentAPIVersion, kind == Self.currentKind else {
            throw .wrongKind(path: path, apiVersion: apiVersion, kind: kind)
        }
        node = try Self.string(o, "node", path: path, required: true) ?? ""
        generation = try Self.int(o, "generation", path: path) ?? 0
        updatedAt = try Self.string(o, "updatedAt", path: path, required: false) ?? ""
        var networks: [String: NetworkMapping] = [:]
        switch o["networks"] {
        case nil, .null?:
            break
        case .object(let nets)?:
            for (name, value) in nets {
                networks[name] = try NetworkMapping(json: value, field: "networks.\(name)", path: path)
            }
        case let other?:
            throw .invalidField(path: path, field: "networks", problem: "must be an object, got \(other.typeName)")
        }
        self.networks = networks
    }

    /// The JSON form written by ``MappingFile/write(_:to:)``.
    public var json: JSONValue {
        var nets: [String: JSONValue] = [:]
        for (name, n) in networks { nets[name] = n.json }
        return .object([
            "apiVersion": .string(Self.currentAPIVersion),
            "kind": .string(Self.currentKind),
            "node": .string(node),
            "generation": .int(generation),
            "updatedAt": .string(updatedAt),
            "networks": .object(nets),
        ])
    }

    static func string(_ o: [String: JSONValue], _ key: String, field: String? = nil, path: String,
                       required: Bool) throws(MappingFileError) -> String? {
        switch o[key] {
        case .string(let s)?: return s
        case nil, .null?:
            if required { throw .invalidField(path: path, field: field ?? key, problem: "is missing") }
            return nil
        case let other?:
            throw .invalidField(path: path, field: field ?? key, problem: "must be a string, got \(other.typeName)")
        }
    }

    static func int(_ o: [String: JSONValue], _ key: String, field: String? = nil, path: String) throws(MappingFileError) -> Int64? {
        switch o[key] {
        case nil, .null?: return nil
        case let v?:
            if let i = v.intValue { return i }
            throw .invalidField(path: path, field: field ?? key, problem: "must be an integer, got \(v.typeName)")
        }
    }
}

extension NetworkMapping {
    init(json: JSONValue, field: String, path: String) throws(MappingFileError) {
        guard case .object(let o) = json else {
            throw .invalidField(path: path, field: field, problem: "must be an object, got \(json.typeName)")
        }
        typealias M = NodeNetworkMapping
        message = try M.string(o, "message", field: field + ".message", path: path, required: false)
        device = try M.string(o, "device", field: field + ".device", path: path, required: message == nil) ?? ""
        map = try M.string(o, "map", field: field + ".map", path: path, required: false) ?? ""
        mac = try M.string(o, "mac", field: field + ".mac", path: path, required: false)
        pciAddress = try M.string(o, "pciAddress", field: field + ".pciAddress", path: path, required: false)
        switch o["attachment"] {
        case nil, .null?:
            attachment = nil
        case .object(let a)?:
            let type = try M.string(a, "type", field: field + ".attachment.type", path: path, required: true) ?? ""
            let mode = try M.string(a, "mode", field: field + ".attachment.mode", path: path, required: false)
            let mtu = try M.int(a, "mtu", field: field + ".attachment.mtu", path: path)
            attachment = Attachment(type: type, mode: mode, mtu: mtu)
        case let other?:
            throw .invalidField(path: path, field: field + ".attachment", problem: "must be an object, got \(other.typeName)")
        }
    }

    /// The JSON form of this network's entry.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["device": .string(device), "map": .string(map)]
        if let attachment {
            var a: [String: JSONValue] = ["type": .string(attachment.type)]
            if let mode = attachment.mode { a["mode"] = .string(mode) }
            if let mtu = attachment.mtu { a["mtu"] = .int(mtu) }
            o["attachment"] = .object(a)
        }
        if let mac { o["mac"] = .string(mac) }
        if let pciAddress { o["pciAddress"] = .string(pciAddress) }
        if let message { o["message"] = .string(message) }
        return .object(o)
    }
}
