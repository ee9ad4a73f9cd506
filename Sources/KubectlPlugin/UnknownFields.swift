import JSON

/// A field of a NetworkDeviceMap that its CRD does not define. A Kubernetes 1.24 API server (and the lab,
/// which behaves as one) drops such a field without a word; `preview` names it instead.
public struct UnknownField: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Where it is, e.g. `spec.rules[1].selct`.
    public var path: String
    /// The nearest defined field at the same place, with its path (`spec.rules[1].select`); nil when none is close.
    public var suggestion: String?

    public var description: String {
        "\(path): unknown field" + (suggestion.map { "; did you mean \($0)?" } ?? "")
    }
}

/// Finds the unknown fields of a NetworkDeviceMap object against the CRD schema embedded at build time
/// (``NetworkDeviceMapSchema``, generated from crds/ by hack/gen-crd-schema.py).
enum UnknownFields {
    /// The embedded schema, parsed once. `.null` only if the generated file were corrupt (a test checks it is not).
    static let schema: JSONValue = (try? JSONValue.parse(NetworkDeviceMapSchema.json)) ?? .null

    /// The fields of ObjectMeta a client may send (the API server validates `metadata` itself, not by the CRD schema).
    static let objectMeta: Set<String> = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
        "managedFields",
    ]

    /// Every unknown field of `object` (a whole NetworkDeviceMap), in document order of the schema's walk
    /// (paths sorted within each object).
    static func find(in object: JSONValue) -> [UnknownField] {
        var out: [UnknownField] = []
        walk(object, schema: schema, path: "", into: &out)
        return out
    }

    private static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    private static func walk(_ value: JSONValue, schema: JSONValue, path: String, into out: inout [UnknownField]) {
        if schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true { return }
        switch value {
        case .object(let members):
            var known = Set(schema["properties"]?.objectValue?.keys.map { $0 } ?? [])
            let isMetadata = path == "metadata"
            if isMetadata { known.formUnion(objectMeta) }
            let additional = schema["additionalProperties"]
            for key in members.keys.sorted() {
                let child = members[key] ?? .null
                if let property = schema["properties"]?[key] {
                    // ObjectMeta's own maps (labels, annotations) are free-form: only its top level is checked.
                    if !isMetadata { walk(child, schema: property, path: join(path, key), into: &out) }
                } else if isMetadata && known.contains(key) {
                    continue
                } else if let additional, case .object = additional {
                    walk(child, schema: additional, path: join(path, key), into: &out)
                } else if additional?.boolValue == true {
                    continue
                } else {
                    out.append(UnknownField(path: join(path, key), suggestion: nearest(key, in: known).map { join(path, $0) }))
                }
            }
        case .array(let items):
            guard let itemSchema = schema["items"] else { return }
            for (i, item) in items.enumerated() { walk(item, schema: itemSchema, path: "\(path)[\(i)]", into: &out) }
        default:
            return
        }
    }

    /// The known name closest to `name` when it is close enough to be a likely typo: the same letters
    /// in another case, or an edit distance within about a third of the name's length.
    static func nearest(_ name: String, in known: Set<String>) -> String? {
        if let same = known.sorted().first(where: { $0.lowercased() == name.lowercased() }) { return same }
        let limit = name.count <= 4 ? 1 : name.count <= 8 ? 2 : 3
        var best: (String, Int)?
        for candidate in known.sorted() {
            let d = editDistance(Array(name.lowercased()), Array(candidate.lowercased()))
            if d <= limit, d < best?.1 ?? Int.max { best = (candidate, d) }
        }
        return best?.0
    }

    /// Levenshtein distance (insertions, deletions, substitutions; an adjacent swap counts as one).
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev2 = [Int](repeating: 0, count: b.count + 1)
        var prev = Array(0...b.count)
        var row = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            row[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { row[j] = min(row[j], prev2[j - 2] + 1) }
            }
            (prev2, prev, row) = (prev, row, prev2)
        }
        return prev[b.count]
    }
}
