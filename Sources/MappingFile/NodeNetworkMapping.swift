import HardwareAddresses
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
    /// The newest format this code reads. Format 2 added `exclusive` and `candidates`; format 3
    /// added `dra`; a file without `formatVersion` is format 1. A file is written in the oldest
    /// format that can say what it holds (``requiredFormatVersion(for:)``): 3 only when a network is
    /// allocated through DRA, so that an older plugin refuses the file rather than attach a device
    /// the scheduler did not choose.
    public static let currentFormatVersion = 3

    /// The format a file with these networks is written in: 3 when one of them is a `dra`
    /// network, else 2.
    public static func requiredFormatVersion(for networks: [String: NetworkMapping]) -> Int {
        networks.values.contains(where: \.dra) ? 3 : 2
    }

    /// The file's format (JSON `formatVersion`, absent = 1). A reader refuses a newer format than
    /// it understands instead of misreading it (``MappingFileError/unsupportedFormat(path:version:supported:)``).
    public var formatVersion: Int
    /// The node this mapping was resolved for.
    public var node: String
    /// Increases each time the agent writes a changed mapping.
    public var generation: Int64
    /// RFC 3339 time of the resolution.
    public var updatedAt: String
    /// Resolved networks by name.
    public var networks: [String: NetworkMapping]

    /// Creates a mapping in the format its networks need (``requiredFormatVersion(for:)``) unless told otherwise.
    public init(node: String, generation: Int64, updatedAt: String, networks: [String: NetworkMapping],
                formatVersion: Int? = nil) {
        self.formatVersion = formatVersion ?? Self.requiredFormatVersion(for: networks)
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
    /// Whether each pod gets a device of its own (the map's `spec.exclusive`): the kubelet's device
    /// plugin hands out one of ``candidates`` per pod and the CNI plugin is told which (JSON
    /// `exclusive`, absent = false).
    public var exclusive: Bool
    /// For exclusive networks, every device of this node that the map selects, in the resolver's
    /// order (``device`` is the first). Empty for shared networks.
    public var candidates: [DeviceCandidate]
    /// Whether the network is allocated through Dynamic Resource Allocation (the map's `spec.dra`,
    /// JSON `dra`, absent = false): the scheduler picks each pod's device, the DRA kubelet plugin
    /// records it in a prepared-claim record (``PreparedClaim``), the CNI plugin attaches that
    /// device, and the device plugin does not serve the network.
    public var dra: Bool

    /// Creates a network mapping.
    public init(device: String, map: String, attachment: Attachment? = nil, mac: String? = nil,
                pciAddress: String? = nil, message: String? = nil,
                exclusive: Bool = false, candidates: [DeviceCandidate] = [], dra: Bool = false) {
        self.device = device
        self.map = map
        self.attachment = attachment
        self.mac = mac
        self.pciAddress = pciAddress
        self.message = message
        self.exclusive = exclusive
        self.candidates = candidates
        self.dra = dra
    }

    /// The first candidate that `deviceID` names (PCI address, MAC address or interface name; see
    /// ``DeviceCandidate/matches(deviceID:)``), or nil.
    ///
    /// ```swift
    /// mapping.networks["fast"]?.candidate(matching: "05:00.1")?.name   // "ens5f1"
    /// ```
    public func candidate(matching deviceID: String) -> DeviceCandidate? {
        candidates.first { $0.matches(deviceID: deviceID) }
    }
}

/// One device an exclusive network may use on this node. The kubelet's device manager knows it by
/// ``deviceID``; Multus passes that ID to the CNI plugin, which finds the interface with
/// ``matches(deviceID:)``.
public struct DeviceCandidate: Sendable, Hashable {
    /// The host interface (`ens5f1`).
    public var name: String
    /// Its MAC address, when known.
    public var mac: String?
    /// Its PCI address (`0000:05:00.1`), when it is a PCI function.
    public var pciAddress: String?
    /// The NUMA node of its PCI function, when the platform reports one.
    public var numaNode: Int?

    /// Creates a candidate.
    public init(name: String, mac: String? = nil, pciAddress: String? = nil, numaNode: Int? = nil) {
        self.name = name
        self.mac = mac
        self.pciAddress = pciAddress
        self.numaNode = numaNode
    }

    /// The stable ID the device plugin advertises: the PCI address where there is one, else the MAC
    /// address, else the interface name.
    public var deviceID: String {
        if let pciAddress, !pciAddress.isEmpty { return pciAddress }
        if let mac, !mac.isEmpty { return mac }
        return name
    }

    /// Whether `deviceID` names this device: its PCI address (case-insensitive; the short form
    /// `05:00.0` equals `0000:05:00.0`), its MAC address (case-insensitive) or its interface name.
    ///
    /// ```swift
    /// let c = DeviceCandidate(name: "ens5f0", mac: "3c:fd:fe:aa:bb:01", pciAddress: "0000:05:00.0")
    /// c.matches(deviceID: "05:00.0")             // true
    /// c.matches(deviceID: "3C:FD:FE:AA:BB:01")   // true
    /// c.matches(deviceID: "ens5f0")              // true
    /// ```
    public func matches(deviceID id: String) -> Bool {
        if id.isEmpty { return false }
        if id == name { return true }
        if let pciAddress, let mine = PCIAddress.canonical(pciAddress), let given = PCIAddress.canonical(id), mine == given {
            return true
        }
        if let mac, !mac.isEmpty, asciiLowercased(mac) == asciiLowercased(id) { return true }
        return false
    }
}

/// ASCII lower case (device IDs are ASCII; no locale tables in the CNI plugin).
func asciiLowercased(_ s: String) -> String {
    String(decoding: s.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
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
    /// or `kind`, or a `formatVersion` above `maxFormatVersion`, is refused.
    public init(json: JSONValue, path: String,
                maxFormatVersion: Int = NodeNetworkMapping.currentFormatVersion) throws(MappingFileError) {
        guard case .object(let o) = json else {
            throw .decodeFailed(path: path, cause: "expected a JSON object, got \(json.typeName)")
        }
        let apiVersion = o["apiVersion"]?.stringValue ?? ""
        let kind = o["kind"]?.stringValue ?? ""
        guard apiVersion == Self.currentAPIVersion, kind == Self.currentKind else {
            throw .wrongKind(path: path, apiVersion: apiVersion, kind: kind)
        }
        // Checked before any other field: a newer format may change them in ways this code would misread.
        let version = try Self.int(o, "formatVersion", path: path) ?? 1
        guard version >= 1 else {
            throw .invalidField(path: path, field: "formatVersion", problem: "must be 1 or more, got \(version)")
        }
        guard version <= Int64(maxFormatVersion) else {
            throw .unsupportedFormat(path: path, version: version, supported: maxFormatVersion)
        }
        formatVersion = Int(version)
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
            // Never below 3 with a dra network, whatever the caller set: an older reader must refuse it.
            "formatVersion": .int(Int64(networks.values.contains(where: \.dra) ? max(formatVersion, 3) : formatVersion)),
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
        switch o["exclusive"] {
        case nil, .null?: exclusive = false
        case .bool(let b)?: exclusive = b
        case let other?:
            throw .invalidField(path: path, field: field + ".exclusive", problem: "must be a boolean, got \(other.typeName)")
        }
        switch o["dra"] {
        case nil, .null?: dra = false
        case .bool(let b)?: dra = b
        case let other?:
            throw .invalidField(path: path, field: field + ".dra", problem: "must be a boolean, got \(other.typeName)")
        }
        switch o["candidates"] {
        case nil, .null?:
            candidates = []
        case .array(let items)?:
            var list: [DeviceCandidate] = []
            list.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                list.append(try DeviceCandidate(json: item, field: "\(field).candidates[\(i)]", path: path))
            }
            candidates = list
        case let other?:
            throw .invalidField(path: path, field: field + ".candidates", problem: "must be an array, got \(other.typeName)")
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
        if exclusive {
            o["exclusive"] = .bool(true)
            o["candidates"] = .array(candidates.map(\.json))
        } else if !candidates.isEmpty {
            o["candidates"] = .array(candidates.map(\.json))
        }
        if dra { o["dra"] = .bool(true) }
        return .object(o)
    }
}

extension DeviceCandidate {
    init(json: JSONValue, field: String, path: String) throws(MappingFileError) {
        guard case .object(let o) = json else {
            throw .invalidField(path: path, field: field, problem: "must be an object, got \(json.typeName)")
        }
        typealias M = NodeNetworkMapping
        name = try M.string(o, "name", field: field + ".name", path: path, required: true) ?? ""
        if name.isEmpty { throw .invalidField(path: path, field: field + ".name", problem: "is empty") }
        mac = try M.string(o, "mac", field: field + ".mac", path: path, required: false)
        pciAddress = try M.string(o, "pciAddress", field: field + ".pciAddress", path: path, required: false)
        let numa = try M.int(o, "numaNode", field: field + ".numaNode", path: path)
        if let numa, numa < 0 || numa > Int64(Int32.max) {
            throw .invalidField(path: path, field: field + ".numaNode", problem: "must be a NUMA node number (0 or more), got \(numa)")
        }
        numaNode = numa.map { Int($0) }
    }

    /// The JSON form of this candidate.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name)]
        if let mac { o["mac"] = .string(mac) }
        if let pciAddress { o["pciAddress"] = .string(pciAddress) }
        if let numaNode { o["numaNode"] = .int(Int64(numaNode)) }
        return .object(o)
    }
}
