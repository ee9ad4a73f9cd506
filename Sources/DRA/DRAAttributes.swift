import AutomagicAPI
import JSON
import Resolver

/// Names and limits of the `automagic.dev` DRA driver (`resource.k8s.io/v1`).
public enum DRADriver {
    /// The driver name, also the domain that qualifies its attributes (`automagic.dev`).
    public static let name = "automagic.dev"
    /// Most devices in one ResourceSlice.
    public static let maxDevicesPerSlice = 128
    /// Most attributes (and capacities) of one device.
    public static let maxAttributesPerDevice = 32
    /// Most bytes of a string attribute value.
    public static let maxStringLength = 64
    /// Most characters of an attribute name (a C identifier).
    public static let maxAttributeNameLength = 32

    /// The DeviceClass of a network: `<network>.automagic.dev`.
    public static func deviceClassName(network: String) -> String { network + "." + name }

    /// The network of a DeviceClass name (`storage.automagic.dev` → `storage`), or nil when the
    /// name is not `<network>.automagic.dev`.
    public static func network(deviceClassName: String) -> String? {
        let suffix = "." + name
        guard deviceClassName.hasSuffix(suffix), deviceClassName.count > suffix.count else { return nil }
        return String(deviceClassName.dropLast(suffix.count))
    }
}

/// One attribute value of a DRA device (`resource.k8s.io/v1` `DeviceAttribute`: exactly one of
/// `int`, `bool`, `string`).
public enum DRAAttributeValue: Hashable, Sendable {
    case int(Int)
    case bool(Bool)
    case string(String)

    /// `{"int": 9000}`, `{"bool": true}` or `{"string": "ice"}`.
    public var json: JSONValue {
        switch self {
        case .int(let i): .object(["int": .int(Int64(i))])
        case .bool(let b): .object(["bool": .bool(b)])
        case .string(let s): .object(["string": .string(s)])
        }
    }
}

/// A NIC as a DRA device: its name and its attributes (unqualified, i.e. in the driver's own
/// domain `automagic.dev`).
public struct DRADevice: Hashable, Sendable {
    /// The device name (``DRADeviceName``).
    public var name: String
    /// Attribute name → value.
    public var attributes: [String: DRAAttributeValue]
    /// The fields whose values did not fit the v1 limits and were left out (then `truncated` is set).
    public var omitted: [DeviceField]

    /// Whether some value was left out (the `truncated` attribute).
    public var isTruncated: Bool { !omitted.isEmpty }

    /// The device as an entry of `ResourceSlice.spec.devices`: `{"name": …, "attributes": {…}}`.
    public var json: JSONValue {
        .object(["name": .string(name), "attributes": .object(attributes.mapValues(\.json))])
    }
}

/// The one encoding of a `NetworkDevice` as DRA device attributes (docs/dra.md, "Attributes"):
///
/// - Every field the resolver knows becomes the attribute named after its key with the dots removed
///   and the next letter upper-cased (`sriov.totalVFs` → `sriovTotalVFs`); an absent field (a list:
///   also an empty one) has no attribute.
/// - Integer fields → `int`, boolean → `bool`, the rest → `string`; case-insensitive fields (mac,
///   permanentMAC, pciAddress, vendorID, deviceID, lldp.chassisID) lower-case, as the resolver
///   compares them.
/// - List fields (altNames, addresses, lldp.vlanIDs, lldp.vlanNames) → one string, the elements
///   joined by `,` and wrapped in `,` (`",100,200,"`), so membership is `.contains(",100,")`.
///   `addresses` may continue in `addresses2` and `addresses3` (each again a complete `,a,b,`
///   list, elements never split): an IPv4, a global IPv6 and a link-local IPv6 address already
///   exceed one value's 64 bytes.
/// - `node`: the node's name (the DeviceClass restricts nodes through it: a class cannot see node labels).
/// - Limits (v1: string values ≤ 64 bytes): a value that does not fit — a string longer than 64
///   bytes, a list whose chunks do not fit, a list element that is empty or contains `,` (it could
///   not be told apart from the separator) — is left out entirely (never cut short, never a partial
///   list) and the device gets `truncated: true`. The compiled CEL treats a missing attribute of a
///   truncated device as unknown: no expression on it holds, so a class never selects a device
///   whose left-out value might have made the resolver reject it.
/// - At most 31 attributes: 27 fields + `addresses2`, `addresses3`, `node`, `truncated` (v1 allows 32).
///
/// ```swift
/// let d = DRAAttributes.device(NetworkDevice(name: "ens5f0", mac: "3C:FD:FE:AA:BB:01", pciAddress: "0000:5e:00.0",
///                                            lldp: LLDPNeighbor(vlanIDs: [100, 200])), node: "worker-1")
/// d?.name                              // "pci-0000-5e-00-0"
/// d?.attributes["lldpVlanIDs"]         // .string(",100,200,")
/// d?.attributes["mac"]                 // .string("3c:fd:fe:aa:bb:01")
/// ```
public enum DRAAttributes {
    /// `node`: the node's name.
    public static let node = "node"
    /// `truncated`: `true` when some value was left out.
    public static let truncated = "truncated"

    /// The attribute name of a field: `sriov.totalVFs` → `sriovTotalVFs`.
    public static func name(of field: DeviceField) -> String {
        var out = ""
        var upperNext = false
        for c in field.rawValue {
            if c == "." { upperNext = true; continue }
            out += upperNext ? c.uppercased() : String(c)
            upperNext = false
        }
        return out
    }

    /// The attributes that carry a field's value, in order: one for most fields, three for `addresses`.
    public static func attributeNames(of field: DeviceField) -> [String] {
        let base = name(of: field)
        let count = field == .addresses ? 3 : 1
        return [base] + (count > 1 ? (2...count).map { base + String($0) } : [])
    }

    /// Whether the field is published as an `int` attribute (the others: `bool` or `string`).
    public static func isInteger(_ field: DeviceField) -> Bool { field.valueType == .integer && !field.isList }
    /// Whether the field is published as a `bool` attribute.
    public static func isBoolean(_ field: DeviceField) -> Bool { field.valueType == .boolean && !field.isList }

    /// Whether a field's value can be left out for not fitting (strings and lists; integers and
    /// booleans always fit).
    public static func canBeOmitted(_ field: DeviceField) -> Bool { !isInteger(field) && !isBoolean(field) }

    /// The device as published on `node`, or nil when it has neither a PCI nor a MAC address (no
    /// stable name; not published).
    public static func device(_ device: NetworkDevice, node: String) -> DRADevice? {
        guard let name = DRADeviceName.name(pciAddress: device.pciAddress, mac: device.mac) else { return nil }
        var attributes: [String: DRAAttributeValue] = [:]
        var omitted: [DeviceField] = []
        for field in DeviceField.allCases {
            let values = field.values(of: device)
            if values.isEmpty { continue }
            let names = attributeNames(of: field)
            if field.isList {
                guard let chunks = listChunks(values, count: names.count) else {
                    omitted.append(field)
                    continue
                }
                for (n, chunk) in zip(names, chunks) { attributes[n] = .string(chunk) }
            } else if isInteger(field) {
                guard let i = Int(values[0]) else { continue }
                attributes[names[0]] = .int(i)
            } else if isBoolean(field) {
                attributes[names[0]] = .bool(values[0] == "true")
            } else if fits(values[0]) {
                attributes[names[0]] = .string(values[0])
            } else {
                omitted.append(field)
            }
        }
        if fits(node) { attributes[Self.node] = .string(node) }
        if !omitted.isEmpty { attributes[truncated] = .bool(true) }
        return DRADevice(name: name, attributes: attributes, omitted: omitted)
    }

    /// A node's devices as published: one per device name, sorted by name. Devices without a
    /// stable ID are left out. Two devices can share a MAC address (a VLAN or a bond and its
    /// lower device, a bridge and a port) and so a `mac-` name: the name goes to the one without a
    /// `parent`, then to the first in natural name order (`bond0` before `bond0.100`); the other
    /// is not published (its ID would not be stable either).
    public static func devices(_ devices: [NetworkDevice], node: String) -> [DRADevice] {
        var byName: [String: (device: NetworkDevice, encoded: DRADevice)] = [:]
        for d in devices {
            guard let encoded = device(d, node: node) else { continue }
            if let other = byName[encoded.name] {
                let mineFirst = (d.parent == nil) != (other.device.parent == nil)
                    ? d.parent == nil
                    : NaturalOrder.less(d.name, other.device.name)
                if !mineFirst { continue }
            }
            byName[encoded.name] = (d, encoded)
        }
        return byName.values.map(\.encoded).sorted { $0.name < $1.name }
    }

    /// A list's elements as `,a,b,` strings of at most 64 bytes each (elements never split), or nil
    /// when they need more than `count` strings or an element is empty or contains `,`.
    static func listChunks(_ values: [String], count: Int) -> [String]? {
        var chunks: [String] = []
        var current = ","
        for v in values {
            if v.isEmpty || v.contains(",") { return nil }
            let piece = v + ","
            if current.utf8.count + piece.utf8.count <= DRADriver.maxStringLength {
                current += piece
            } else {
                guard current != "," else { return nil }  // one element alone is too long
                chunks.append(current)
                current = "," + piece
                if current.utf8.count > DRADriver.maxStringLength { return nil }
            }
        }
        chunks.append(current)
        return chunks.count <= count ? chunks : nil
    }

    static func fits(_ s: String) -> Bool { s.utf8.count <= DRADriver.maxStringLength }
}
