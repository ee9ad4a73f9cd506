import Foundation
import JSON

/// Patch application: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a strategic-merge
/// approximation for built-ins (directives dropped, lists replaced).
enum Patching {
    static func mergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var t: [String: JSONValue] = target.objectValue ?? [:]
        for (k, v) in p {
            if v.isNull { t.removeValue(forKey: k) } else { t[k] = mergePatch(t[k] ?? .null, v) }
        }
        return .object(t)
    }

    /// Strategic merge patch without the schema's merge keys: `$`-directives are dropped.
    static func strategicPatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        mergePatch(target, stripDirectives(patch))
    }

    private static func stripDirectives(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            var r: [String: JSONValue] = [:]
            for (k, child) in o where !k.hasPrefix("$") { r[k] = stripDirectives(child) }
            return .object(r)
        case .array(let a): return .array(a.map(stripDirectives))
        default: return v
        }
    }

    struct PatchFailure: Error { var message: String }

    static func jsonPatch(_ target: JSONValue, _ ops: [JSONValue]) throws(PatchFailure) -> JSONValue {
        var doc = target
        for op in ops {
            guard let kind = op["op"]?.stringValue else { throw PatchFailure(message: "Unexpected kind: missing op") }
            guard let path = op["path"]?.stringValue else { throw PatchFailure(message: "missing path") }
            let tokens = try pointer(path)
            switch kind {
            case "add":
                guard let value = op["value"] else { throw PatchFailure(message: "missing value") }
                doc = try add(doc, tokens[...], value)
            case "remove":
                doc = try remove(doc, tokens[...]).0
            case "replace":
                guard let value = op["value"] else { throw PatchFailure(message: "missing value") }
                _ = try get(doc, tokens[...])
                doc = try remove(doc, tokens[...]).0
                doc = try add(doc, tokens[...], value)
            case "move":
                guard let from = op["from"]?.stringValue else { throw PatchFailure(message: "missing from") }
                let (d, moved) = try remove(doc, try pointer(from)[...])
                doc = try add(d, tokens[...], moved)
            case "copy":
                guard let from = op["from"]?.stringValue else { throw PatchFailure(message: "missing from") }
                doc = try add(doc, tokens[...], try get(doc, try pointer(from)[...]))
            case "test":
                let actual = try get(doc, tokens[...])
                if actual != op["value"] ?? .null { throw PatchFailure(message: "testing value \(path) failed") }
            default:
                throw PatchFailure(message: "Unexpected kind: \(kind)")
            }
        }
        return doc
    }

    private static func pointer(_ p: String) throws(PatchFailure) -> [String] {
        if p.isEmpty { return [] }
        guard p.hasPrefix("/") else { throw PatchFailure(message: "invalid path \(p)") }
        return p.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    private static func get(_ doc: JSONValue, _ t: ArraySlice<String>) throws(PatchFailure) -> JSONValue {
        guard let first = t.first else { return doc }
        switch doc {
        case .object(let o):
            guard let c = o[first] else { throw PatchFailure(message: "missing path") }
            return try get(c, t.dropFirst())
        case .array(let a):
            guard let i = Int(first), a.indices.contains(i) else { throw PatchFailure(message: "missing path") }
            return try get(a[i], t.dropFirst())
        default: throw PatchFailure(message: "missing path")
        }
    }

    private static func add(_ doc: JSONValue, _ t: ArraySlice<String>, _ value: JSONValue) throws(PatchFailure) -> JSONValue {
        guard let first = t.first else { return value }
        switch doc {
        case .object(var o):
            if t.count == 1 { o[first] = value; return .object(o) }
            guard let c = o[first] else { throw PatchFailure(message: "missing path") }
            o[first] = try add(c, t.dropFirst(), value)
            return .object(o)
        case .array(var a):
            if t.count == 1 {
                if first == "-" { a.append(value); return .array(a) }
                guard let i = Int(first), i >= 0, i <= a.count else { throw PatchFailure(message: "index out of bounds") }
                a.insert(value, at: i)
                return .array(a)
            }
            guard let i = Int(first), a.indices.contains(i) else { throw PatchFailure(message: "missing path") }
            a[i] = try add(a[i], t.dropFirst(), value)
            return .array(a)
        default: throw PatchFailure(message: "missing path")
        }
    }

    private static func remove(_ doc: JSONValue, _ t: ArraySlice<String>) throws(PatchFailure) -> (JSONValue, JSONValue) {
        guard let first = t.first else { throw PatchFailure(message: "cannot remove the root") }
        switch doc {
        case .object(var o):
            guard let c = o[first] else { throw PatchFailure(message: "missing path") }
            if t.count == 1 { o.removeValue(forKey: first); return (.object(o), c) }
            let (nc, removed) = try remove(c, t.dropFirst())
            o[first] = nc
            return (.object(o), removed)
        case .array(var a):
            guard let i = Int(first), a.indices.contains(i) else { throw PatchFailure(message: "missing path") }
            if t.count == 1 { let r = a.remove(at: i); return (.array(a), r) }
            let (nc, removed) = try remove(a[i], t.dropFirst())
            a[i] = nc
            return (.array(a), removed)
        default: throw PatchFailure(message: "missing path")
        }
    }
}

/// Managed-field sets (`fieldsV1`) and server-side apply.
enum FieldOwnership {
    typealias Path = [String]

    /// Where list-map keys come from for a path: the CRD schema's x-kubernetes-list-map-keys.
    static func listMapKeys(_ schema: JSONValue?) -> [String]? {
        guard let schema, schema["x-kubernetes-list-type"]?.stringValue == "map" else { return nil }
        let keys = schema["x-kubernetes-list-map-keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return keys.isEmpty ? nil : keys
    }

    static func childSchema(_ schema: JSONValue?, _ key: String) -> JSONValue? {
        guard let schema else { return nil }
        return schema["properties"]?[key] ?? (schema["additionalProperties"]?.objectValue != nil ? schema["additionalProperties"] : nil)
    }

    static func keyElement(_ element: JSONValue, keys: [String]) -> String {
        var o: [String: JSONValue] = [:]
        for k in keys { o[k] = element[k] ?? .null }
        return "k:" + String(decoding: Wire.encode(.object(o), order: .sorted), as: UTF8.self)
    }

    /// The field set of an object (what a create or an apply of it owns).
    static func paths(of object: JSONValue, schema: JSONValue?, isCustom: Bool) -> Set<Path> {
        var set = Set<Path>()
        guard case .object(let root) = object else { return set }
        if case .object(let meta)? = root["metadata"] {
            for key in ["labels", "annotations"] {
                guard case .object(let m)? = meta[key] else { continue }
                let p = ["f:metadata", "f:\(key)"]
                set.insert(p)
                for k in m.keys { set.insert(p + ["f:\(k)"]) }
            }
            if let fin = meta["finalizers"]?.arrayValue {
                let p = ["f:metadata", "f:finalizers"]
                set.insert(p)
                for f in fin { if let s = f.stringValue { set.insert(p + ["v:\"\(s)\""]) } }
            }
            if let owners = meta["ownerReferences"]?.arrayValue {
                let p = ["f:metadata", "f:ownerReferences"]
                set.insert(p)
                for o in owners { set.insert(p + [keyElement(o, keys: ["uid"])]) }
            }
        }
        for (k, v) in root where k != "apiVersion" && k != "kind" && k != "metadata" {
            let p = ["f:\(k)"]
            if isCustom { set.insert(p) } else if !(v.objectValue != nil) { set.insert(p) }
            walk(v, schema: schema?["properties"]?[k], prefix: p, into: &set)
        }
        return set
    }

    private static func walk(_ value: JSONValue, schema: JSONValue?, prefix: Path, into set: inout Set<Path>) {
        switch value {
        case .object(let o):
            for (k, v) in o {
                let p = prefix + ["f:\(k)"]
                set.insert(p)
                walk(v, schema: childSchema(schema, k), prefix: p, into: &set)
            }
        case .array(let a):
            if let keys = listMapKeys(schema) {
                for element in a {
                    let p = prefix + [keyElement(element, keys: keys)]
                    set.insert(p)
                    walk(element, schema: schema?["items"], prefix: p, into: &set)
                }
            }
        default: break
        }
    }

    /// The value at a field path, `nil` when absent.
    static func value(_ object: JSONValue, at path: Path) -> JSONValue? {
        var current: JSONValue? = object
        for element in path {
            guard let c = current else { return nil }
            if element.hasPrefix("f:") {
                current = c[String(element.dropFirst(2))]
            } else if element.hasPrefix("k:") {
                guard let a = c.arrayValue, let key = try? JSONValue.parse(String(element.dropFirst(2))),
                      case .object(let ko) = key else { return nil }
                current = a.first { e in ko.allSatisfy { e[$0.key] == $0.value } }
            } else if element.hasPrefix("v:") {
                guard let a = c.arrayValue, let v = try? JSONValue.parse(String(element.dropFirst(2))) else { return nil }
                current = a.contains(v) ? v : nil
            } else {
                return nil
            }
        }
        return current
    }

    private final class Tree {
        var children: [String: Tree] = [:]
        var member = false
    }

    static func toFieldsV1(_ set: Set<Path>) -> JSONValue {
        let root = Tree()
        for p in set {
            var node = root
            for e in p {
                if let c = node.children[e] { node = c } else { let c = Tree(); node.children[e] = c; node = c }
            }
            node.member = true
        }
        func convert(_ t: Tree) -> JSONValue {
            var o: [String: JSONValue] = [:]
            if t.member && !t.children.isEmpty { o["."] = .object([:]) }
            for (k, c) in t.children { o[k] = convert(c) }
            return .object(o)
        }
        return convert(root)
    }

    static func fromFieldsV1(_ v: JSONValue) -> Set<Path> {
        var set = Set<Path>()
        func visit(_ v: JSONValue, _ prefix: Path) {
            guard case .object(let o) = v else { return }
            for (k, c) in o {
                if k == "." { set.insert(prefix); continue }
                let p = prefix + [k]
                if c.objectValue?.isEmpty ?? true { set.insert(p) } else { visit(c, p) }
            }
        }
        visit(v, [])
        return set
    }

    /// A path as SSA conflict messages print it (`.spec.size`, `.status.conditions[type="Ready"]`).
    static func describe(_ path: Path) -> String {
        var s = ""
        for e in path {
            if e.hasPrefix("f:") { s += "." + e.dropFirst(2) }
            else if e.hasPrefix("k:"), let o = (try? JSONValue.parse(String(e.dropFirst(2))))?.objectValue {
                s += "[" + o.keys.sorted().map { "\($0)=\(SchemaValidation.describe(o[$0] ?? .null))" }.joined(separator: ",") + "]"
            } else if e.hasPrefix("v:") { s += "[=" + e.dropFirst(2) + "]" }
        }
        return s
    }

    struct Entry {
        var manager: String
        var operation: String
        var apiVersion: String
        var time: String
        var subresource: String?
        var set: Set<Path>

        init(manager: String, operation: String, apiVersion: String, time: String, subresource: String?, set: Set<Path>) {
            self.manager = manager; self.operation = operation; self.apiVersion = apiVersion
            self.time = time; self.subresource = subresource; self.set = set
        }

        init?(_ v: JSONValue) {
            guard let m = v["manager"]?.stringValue else { return nil }
            manager = m
            operation = v["operation"]?.stringValue ?? "Update"
            apiVersion = v["apiVersion"]?.stringValue ?? ""
            time = v["time"]?.stringValue ?? ""
            subresource = v["subresource"]?.stringValue
            set = fromFieldsV1(v["fieldsV1"] ?? .object([:]))
        }

        var json: JSONValue {
            var o: [String: JSONValue] = [
                "manager": .string(manager), "operation": .string(operation), "apiVersion": .string(apiVersion),
                "time": .string(time), "fieldsType": "FieldsV1", "fieldsV1": toFieldsV1(set),
            ]
            if let subresource { o["subresource"] = .string(subresource) }
            return .object(o)
        }

        func same(_ other: Entry) -> Bool {
            manager == other.manager && operation == other.operation && subresource == other.subresource
        }
    }

    static func entries(_ object: JSONValue) -> [Entry] {
        object[path: ["metadata", "managedFields"]]?.arrayValue?.compactMap(Entry.init) ?? []
    }

    /// Records an Update by `manager`: it takes the fields whose values it changed.
    static func recordUpdate(old: JSONValue?, new: JSONValue, manager: String, subresource: String?, apiVersion: String,
                             now: String, schema: JSONValue?, isCustom: Bool) -> JSONValue {
        var entries = old.map(entries) ?? []
        let newSet = paths(of: new, schema: schema, isCustom: isCustom)
        var changed = Set<Path>()
        var removed = Set<Path>()
        if let old {
            let oldSet = paths(of: old, schema: schema, isCustom: isCustom)
            removed = oldSet.subtracting(newSet)
            for p in newSet where value(new, at: p) != value(old, at: p) { changed.insert(p) }
        } else {
            changed = newSet
        }
        let me = Entry(manager: manager, operation: "Update", apiVersion: apiVersion, time: now, subresource: subresource, set: [])
        for i in entries.indices {
            entries[i].set.subtract(removed)
            if !entries[i].same(me) { entries[i].set.subtract(changed) }
        }
        if let i = entries.firstIndex(where: { $0.same(me) }) {
            let updated = entries[i].set.union(changed)
            if updated != entries[i].set { entries[i].set = updated; entries[i].time = now; entries[i].apiVersion = apiVersion }
        } else if !changed.isEmpty {
            var e = me
            e.set = changed
            entries.append(e)
        }
        entries.removeAll { $0.set.isEmpty }
        return .array(entries.map(\.json))
    }

    struct ApplyConflict: Error { var conflicts: [(manager: String, operation: String, apiVersion: String, path: Path)] }

    /// Server-side apply of `config` by `manager` onto `current` (nil: create).
    static func apply(current: JSONValue?, config: JSONValue, manager: String, subresource: String?, force: Bool,
                      apiVersion: String, now: String, schema: JSONValue?, isCustom: Bool) throws(ApplyConflict) -> JSONValue {
        // An applied configuration owns its leaves (and list-map entries), not the maps around them.
        let all = paths(of: config, schema: schema, isCustom: isCustom)
        var parents = Set<Path>()
        for p in all where p.count > 1 { for n in 1..<p.count { parents.insert(Array(p.prefix(n))) } }
        let applied = all.filter { !parents.contains($0) || $0.last?.hasPrefix("k:") == true }
        var entries = current.map(entries) ?? []
        let me = Entry(manager: manager, operation: "Apply", apiVersion: apiVersion, time: now, subresource: subresource, set: applied)
        var result = current ?? .object([:])
        if let current {
            // Conflicts: leaf fields another manager owns whose value this apply changes.
            var conflicts: [(String, String, String, Path)] = []
            for i in entries.indices where !entries[i].same(me) {
                for p in entries[i].set.intersection(applied).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                    guard let mine = value(config, at: p), let theirs = value(current, at: p) else { continue }
                    if mine.objectValue != nil || mine.arrayValue != nil && listMapKeys(nil) != nil { continue }
                    if mine != theirs { conflicts.append((entries[i].manager, entries[i].operation, entries[i].apiVersion, p)) }
                }
            }
            if !conflicts.isEmpty && !force { throw ApplyConflict(conflicts: conflicts) }
            let conflicting = Set(conflicts.map(\.3))
            for i in entries.indices where !entries[i].same(me) { entries[i].set.subtract(conflicting) }
            // Fields this manager applied before and no longer applies (and nobody else owns) are removed.
            if let previous = entries.first(where: { $0.same(me) }) {
                let others = entries.filter { !$0.same(me) }.reduce(into: Set<Path>()) { $0.formUnion($1.set) }
                let dropped = previous.set.subtracting(applied).subtracting(others)
                for p in dropped.sorted(by: { $0.count > $1.count }) { result = removing(result, at: p) }
            }
        }
        result = merge(result, config, schema: schema)
        if let i = entries.firstIndex(where: { $0.same(me) }) {
            if entries[i].set != applied { entries[i].time = now }
            entries[i].set = applied
            entries[i].apiVersion = apiVersion
        } else {
            entries.append(me)
        }
        entries.removeAll { $0.set.isEmpty }
        result[path: ["metadata", "managedFields"]] = .array(entries.map(\.json))
        return result
    }

    static func removing(_ object: JSONValue, at path: Path) -> JSONValue {
        guard let first = path.first else { return object }
        let rest = Array(path.dropFirst())
        if first.hasPrefix("f:") {
            let key = String(first.dropFirst(2))
            guard case .object(var o) = object else { return object }
            if rest.isEmpty { o.removeValue(forKey: key) } else if let c = o[key] {
                let pruned = removing(c, at: rest)
                // A map left empty by the removal goes too (as structured-merge-diff does).
                if pruned.objectValue?.isEmpty == true && c.objectValue?.isEmpty == false { o.removeValue(forKey: key) } else { o[key] = pruned }
            }
            return .object(o)
        }
        if first.hasPrefix("k:"), case .array(var a) = object,
           let ko = (try? JSONValue.parse(String(first.dropFirst(2))))?.objectValue,
           let i = a.firstIndex(where: { e in ko.allSatisfy { e[$0.key] == $0.value } }) {
            if rest.isEmpty { a.remove(at: i) } else { a[i] = removing(a[i], at: rest) }
            return .array(a)
        }
        if first.hasPrefix("v:"), case .array(var a) = object, let v = try? JSONValue.parse(String(first.dropFirst(2))) {
            a.removeAll { $0 == v }
            return .array(a)
        }
        return object
    }

    /// Deep merge of an applied configuration: maps merge, list-maps merge by key, other lists replace.
    static func merge(_ base: JSONValue, _ config: JSONValue, schema: JSONValue?) -> JSONValue {
        switch (base, config) {
        case (.object(var b), .object(let c)):
            for (k, v) in c {
                if let existing = b[k] { b[k] = merge(existing, v, schema: childSchema(schema, k)) } else { b[k] = v }
            }
            return .object(b)
        case (.array(var b), .array(let c)):
            guard let keys = listMapKeys(schema) else { return config }
            for element in c {
                if let i = b.firstIndex(where: { e in keys.allSatisfy { e[$0] == element[$0] } }) {
                    b[i] = merge(b[i], element, schema: schema?["items"])
                } else {
                    b.append(element)
                }
            }
            return .array(b)
        default:
            return config
        }
    }
}
