import Foundation
import JSON
import Yams

/// How object keys are ordered when a value is written the way kube-apiserver writes it.
///
/// Custom resources are unstructured maps in the real server, so their keys come out
/// sorted; built-in objects are Go structs, so their top-level and metadata keys follow
/// the struct declaration order (`kind, apiVersion, metadata, spec, status`).
enum KeyOrder: Sendable {
    /// Every object's keys sorted (custom resources, lists of them).
    case sorted
    /// Go struct order for the well-known keys of Kubernetes objects, the rest sorted.
    case goStruct
}

/// Go-compatible JSON writing (escaping of `<`, `>`, `&`, U+2028/9 like `encoding/json`).
enum Wire {
    private static let topOrder = ["kind", "apiVersion", "metadata", "spec", "status"]
    private static let metaOrder = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields",
    ]
    private static let statusOrder = ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]
    private static let detailsOrder = ["name", "group", "kind", "uid", "causes", "retryAfterSeconds"]
    private static let causeOrder = ["reason", "message", "field"]
    private static let managedOrder = ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"]
    private static let listMetaOrder = ["selfLink", "resourceVersion", "continue", "remainingItemCount"]

    /// Serializes `value` compactly (or Go-indented with `pretty`), plus a trailing newline when `newline`.
    static func encode(_ value: JSONValue, order: KeyOrder, pretty: Bool = false, newline: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        write(value, order: order, context: .top, pretty: pretty, indent: 0, into: &out)
        if newline { out.append(0x0A) }
        return out
    }

    /// `encode(value, order:)` (compact) plus the offset just inside the quotes of the top-level
    /// `metadata.resourceVersion` string (nil when there is none): a store splices the digits of a new
    /// resourceVersion there instead of encoding the object again under its lock.
    static func encodeLocatingResourceVersion(_ value: JSONValue, order: KeyOrder, sizeHint: Int = 4096) -> (bytes: [UInt8], offset: Int?) {
        var out: [UInt8] = []
        out.reserveCapacity(sizeHint)
        guard case .object(let o) = value, !o.isEmpty else {
            write(value, order: order, context: .top, pretty: false, indent: 0, into: &out)
            return (out, nil)
        }
        var offset: Int? = nil
        out.append(UInt8(ascii: "{"))
        for (n, key) in orderedKeys(o, order: order, context: .top).enumerated() {
            guard let child = o[key] else { continue }
            if n > 0 { out.append(UInt8(ascii: ",")) }
            writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            let ctx = childContext(.top, key: key, value: o)
            guard ctx == .metadata, case .object(let meta) = child, !meta.isEmpty else {
                write(child, order: order, context: ctx, pretty: false, indent: 1, into: &out)
                continue
            }
            out.append(UInt8(ascii: "{"))
            for (m, metaKey) in orderedKeys(meta, order: order, context: .metadata).enumerated() {
                guard let field = meta[metaKey] else { continue }
                if m > 0 { out.append(UInt8(ascii: ",")) }
                writeString(metaKey, into: &out)
                out.append(UInt8(ascii: ":"))
                if metaKey == "resourceVersion", case .string(let rv) = field, rv.isEmpty {
                    out.append(0x22)
                    offset = out.count
                    out.append(0x22)
                    continue
                }
                write(field, order: order, context: childContext(.metadata, key: metaKey, value: meta), pretty: false, indent: 2, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
        return (out, offset)
    }

    enum Context { case top, metadata, status, details, cause, managed, listMeta, other }

    static func write(_ value: JSONValue, order: KeyOrder, context: Context, pretty: Bool, indent: Int, into out: inout [UInt8]) {
        // Below these contexts every object is written with sorted keys (see `orderedKeys` and
        // `childContext`): the lean writer does the same without tracking contexts.
        if !pretty && ((order == .sorted && context != .top && context != .details && context != .cause)
            || (order == .goStruct && (context == .other || context == .status))) {
            writeSortedCompact(value, into: &out)
            return
        }
        switch value {
        case .null, .bool, .int, .double, .string: value.write(into: &out, htmlSafe: true)
        case .array(let a):
            if a.isEmpty { out.append(contentsOf: "[]".utf8); return }
            out.append(UInt8(ascii: "["))
            let childContext: Context = context == .cause ? .cause : (context == .managed ? .managed : .other)
            for (n, element) in a.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { newlineIndent(indent + 1, &out) }
                let ctx: Context = (context == .top) ? .top : childContext
                write(element, order: order, context: ctx, pretty: pretty, indent: indent + 1, into: &out)
            }
            if pretty { newlineIndent(indent, &out) }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            if o.isEmpty { out.append(contentsOf: "{}".utf8); return }
            let members = orderedMembers(o, order: order, context: context)
            out.append(UInt8(ascii: "{"))
            for (n, index) in members.enumerated() {
                let (key, child) = o[index]
                if n > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { newlineIndent(indent + 1, &out) }
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(UInt8(ascii: " ")) }
                write(child, order: order, context: childContext(context, key: key, value: o),
                      pretty: pretty, indent: indent + 1, into: &out)
            }
            if pretty { newlineIndent(indent, &out) }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Compact JSON with every object's keys sorted: `write` for the contexts where that is what it does.
    static func writeSortedCompact(_ value: JSONValue, into out: inout [UInt8]) {
        value.write(into: &out, htmlSafe: true)
    }

    private static func childContext(_ context: Context, key: String, value: [String: JSONValue]) -> Context {
        switch context {
        case .top:
            if key == "metadata" {
                return value["items"] != nil || value["kind"]?.stringValue == "Status" || value["kind"]?.stringValue == "Table" ? .listMeta : .metadata
            }
            if key == "details", value["kind"]?.stringValue == "Status" { return .details }
            if key == "items" || key == "object" { return .top }
            return .other
        case .metadata:
            return key == "managedFields" ? .managed : .other
        case .details:
            return key == "causes" ? .cause : .other
        default:
            return .other
        }
    }

    /// The positions of the members of `o` in the order `orderedKeys` gives (no key is hashed again).
    private static func orderedMembers(_ o: [String: JSONValue], order: KeyOrder, context: Context) -> [Dictionary<String, JSONValue>.Index] {
        // The cases where `orderedKeys` sorts all keys.
        if (order == .sorted && context != .top && context != .details && context != .cause)
            || (order == .goStruct && (context == .status || context == .other)) {
            var members = Array(o.indices)
            members.sort { o.keys[$0] < o.keys[$1] }
            return members
        }
        return orderedKeys(o, order: order, context: context).compactMap { o.index(forKey: $0) }
    }

    private static func orderedKeys(_ o: [String: JSONValue], order: KeyOrder, context: Context) -> [String] {
        let sortedKeys = o.keys.sorted()
        // Status objects and their parts are always Go structs.
        let isStatus = context == .top && o["kind"]?.stringValue == "Status"
        if order == .sorted && !isStatus && context != .details && context != .cause { return sortedKeys }
        let preferred: [String]
        switch context {
        case .top: preferred = isStatus ? statusOrder : topOrder
        case .metadata: preferred = metaOrder
        case .details: preferred = detailsOrder
        case .cause: preferred = causeOrder
        case .managed: preferred = managedOrder
        case .listMeta: preferred = listMetaOrder
        case .status, .other: return sortedKeys
        }
        var result = preferred.filter { o[$0] != nil }
        let known = Set(preferred)
        result.append(contentsOf: sortedKeys.filter { !known.contains($0) })
        return result
    }

    private static func newlineIndent(_ level: Int, _ out: inout [UInt8]) {
        out.append(0x0A)
        for _ in 0..<level { out.append(0x20); out.append(0x20) }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeInt(_ i: Int64, into out: inout [UInt8]) { JSONValue.writeInt(i, into: &out) }

    /// Writes a JSON string the way Go's encoding/json does (HTML-safe escaping); the output is
    /// exactly `writeStringScalars`'s (the reference, kept for tests).
    static func writeString(_ s: String, into out: inout [UInt8]) { JSONValue.writeString(s, htmlSafe: true, into: &out) }

    /// The scalar-by-scalar Go-compatible string writer `writeString` must match byte for byte.
    static func writeStringScalars(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        for scalar in s.unicodeScalars {
            let v = scalar.value
            switch v {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20, 0x3C, 0x3E, 0x26, 0x2028, 0x2029:
                out.append(contentsOf: [0x5C, UInt8(ascii: "u")])
                out.append(hex[Int((v >> 12) & 0xF)]); out.append(hex[Int((v >> 8) & 0xF)])
                out.append(hex[Int((v >> 4) & 0xF)]); out.append(hex[Int(v & 0xF)])
            default:
                if v < 0x80 { out.append(UInt8(v)) } else { out.append(contentsOf: String(scalar).utf8) }
            }
        }
        out.append(0x22)
    }

    // MARK: - YAML

    /// Parses a YAML (or JSON) document into a JSON value.
    static func parseYAML(_ bytes: [UInt8]) throws -> JSONValue {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let node = try Yams.compose(yaml: text) else { return .null }
        // Anchors can make a small document expand exponentially: bound the work.
        var budget = max(100_000, bytes.count * 4)
        return try jsonFromYAML(node, depth: 0, budget: &budget)
    }

    private static func jsonFromYAML(_ node: Node, depth: Int, budget: inout Int) throws -> JSONValue {
        if depth > 200 { throw WireError.tooDeep }
        budget -= 1
        if budget < 0 { throw WireError.tooLarge }
        switch node {
        case .scalar(let scalar):
            if scalar.style != .plain { return .string(scalar.string) }
            if node.null != nil { return .null }
            if let b = node.bool { return .bool(b) }
            if let i = Int64(scalar.string) { return .int(i) }
            if node.int != nil, let i = node.int { return .int(Int64(i)) }
            if let d = node.float, !scalar.string.isEmpty { return .double(d) }
            return .string(scalar.string)
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (k, v) in mapping {
                guard case .scalar(let ks) = k else { throw WireError.nonStringKey }
                object[ks.string] = try jsonFromYAML(v, depth: depth + 1, budget: &budget)
            }
            return .object(object)
        case .sequence(let seq):
            var items: [JSONValue] = []
            for element in seq { items.append(try jsonFromYAML(element, depth: depth + 1, budget: &budget)) }
            return .array(items)
        case .alias:
            throw WireError.alias
        }
    }

    /// Writes a value as YAML with sorted keys (what sigs.k8s.io/yaml produces).
    static func encodeYAML(_ value: JSONValue) -> [UInt8] {
        let node = yamlNode(value)
        let text = (try? Yams.serialize(node: node, sortKeys: true)) ?? "{}\n"
        return Array(text.utf8)
    }

    private static func yamlNode(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .int(let i): return Node(String(i), Tag(.int))
        case .double(let d): return Node(JSONValue.format(d), Tag(.float))
        case .string(let s): return Node(s, Tag(.str), .plain)
        case .array(let a): return Node(a.map(yamlNode))
        case .object(let o):
            return Node(o.keys.sorted().map { (Node($0, Tag(.str)), yamlNode(o[$0] ?? .null)) })
        }
    }
}

enum WireError: Error, CustomStringConvertible {
    case tooDeep, tooLarge, nonStringKey, alias
    var description: String {
        switch self {
        case .tooDeep: return "document nested too deeply"
        case .tooLarge: return "document expands to too many nodes (YAML aliases?)"
        case .nonStringKey: return "mapping keys must be strings"
        case .alias: return "YAML aliases are not supported"
        }
    }
}
