import JSON

/// Where a kind of object lives in the API: group, version, plural resource name, kind,
/// and whether it is namespaced. Builds request paths.
///
/// ```swift
/// let nodes = ResourceType(group: "", version: "v1", resource: "nodes", kind: "Node", namespaced: false)
/// nodes.path(name: "worker-1", subresource: "status")   // "/api/v1/nodes/worker-1/status"
/// ```
public struct ResourceType: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var resource: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, resource: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.resource = resource
        self.kind = kind
        self.namespaced = namespaced
    }

    /// `v1` for the core group, `group/version` otherwise.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// `/api/v1` or `/apis/<group>/<version>`.
    public var groupVersionPath: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }

    /// The request path for a collection (name nil) or one object, optionally a subresource.
    /// `namespace` is ignored for cluster-scoped resources; nil for a namespaced resource
    /// means "all namespaces" (valid for list and watch only).
    public func path(namespace: String? = nil, name: String? = nil, subresource: String? = nil) -> String {
        var p = groupVersionPath
        if namespaced, let namespace { p += "/namespaces/\(PathEscaping.escape(namespace))" }
        p += "/\(resource)"
        if let name {
            p += "/\(PathEscaping.escape(name))"
            if let subresource { p += "/\(subresource)" }
        }
        return p
    }

    public var description: String { group.isEmpty ? resource : "\(resource).\(group)" }

    public static let namespaces = ResourceType(group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false)
    public static let nodes = ResourceType(group: "", version: "v1", resource: "nodes", kind: "Node", namespaced: false)
    public static let events = ResourceType(group: "", version: "v1", resource: "events", kind: "Event", namespaced: true)
    public static let eventsV1 = ResourceType(group: "events.k8s.io", version: "v1", resource: "events", kind: "Event", namespaced: true)
    public static let leases = ResourceType(group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true)
    public static let customResourceDefinitions = ResourceType(
        group: "apiextensions.k8s.io", version: "v1", resource: "customresourcedefinitions", kind: "CustomResourceDefinition", namespaced: false)
    public static let networkAttachmentDefinitions = ResourceType(
        group: "k8s.cni.cncf.io", version: "v1", resource: "network-attachment-definitions", kind: "NetworkAttachmentDefinition", namespaced: true)
}

/// Percent-encoding for path segments and query values.
public enum PathEscaping {
    /// Escapes everything but RFC 3986 unreserved characters.
    public static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(b))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0xF)])
            }
        }
        return out
    }

    /// Builds `a=b&c=d` from ordered pairs, escaping names and values.
    public static func query(_ items: [(String, String)]) -> String {
        items.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    /// Decodes `%XX` sequences (and `+` as space when `plusAsSpace`); invalid sequences stay as they are.
    public static func unescape(_ s: String, plusAsSpace: Bool = false) -> String {
        var bytes: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while i < u.count {
            if u[i] == UInt8(ascii: "%"), i + 2 < u.count + 0, i + 2 <= u.count - 1, let h = hexValue(u[i + 1]), let l = hexValue(u[i + 2]) {
                bytes.append(h << 4 | l)
                i += 3
            } else if plusAsSpace, u[i] == UInt8(ascii: "+") {
                bytes.append(0x20)
                i += 1
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A Kubernetes object with a fixed resource type, decodable from and encodable to the API's JSON.
public protocol KubernetesObject: Codable, Sendable {
    /// Where objects of this type live in the API.
    static var resourceType: ResourceType { get }
    var metadata: ObjectMeta { get set }
}

extension KubernetesObject {
    /// `namespace/name` or `name`: the key caches and work queues use.
    public var key: String {
        if let ns = metadata.namespace, !ns.isEmpty { return "\(ns)/\(metadata.name ?? "")" }
        return metadata.name ?? ""
    }
}

/// An object of any kind, held as JSON. Used where the type is only known at run time
/// (CRDs, NetworkAttachmentDefinitions, discovery-driven tools).
public struct DynamicObject: KubernetesObject, Hashable {
    /// Unused placeholder: clients of dynamic objects are always given an explicit `ResourceType`.
    public static var resourceType: ResourceType { ResourceType(group: "", version: "v1", resource: "", kind: "", namespaced: false) }

    public var json: JSONValue

    public init(_ json: JSONValue) { self.json = json }

    public var metadata: ObjectMeta {
        get { (try? json["metadata"]?.decode(ObjectMeta.self)) ?? ObjectMeta() }
        set { json["metadata"] = (try? JSONValue(encoding: newValue)) ?? .object([:]) }
    }

    public init(from decoder: any Decoder) throws { json = try JSONValue(from: decoder) }
    public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }
}
