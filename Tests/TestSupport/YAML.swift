// YAML fixtures (examples, CRDs, manifests) to JSONValue, for tests only (Yams is a test
// dependency). Kept in its own file: Yams declares a type named `Resolver`, which would shadow the
// module of that name in a file that imports both.
import JSON
import Yams

/// A YAML fixture that has no JSON form.
public enum YAMLFixtureError: Error, CustomStringConvertible {
    case unsupported(String)
    public var description: String {
        switch self { case .unsupported(let m): "failed to convert YAML fixture: \(m)" }
    }
}

/// Every document of a YAML stream as JSON values, with YAML 1.2 core-schema scalars.
public func yamlDocuments(_ text: String) throws -> [JSONValue] {
    var out: [JSONValue] = []
    for node in try Yams.compose_all(yaml: text) {
        out.append(try json(node))
    }
    return out
}

private func json(_ node: Node) throws -> JSONValue {
    switch node {
    case .scalar(let s):
        if s.style == .singleQuoted || s.style == .doubleQuoted || s.style == .literal || s.style == .folded {
            return .string(s.string)
        }
        switch node.tag.rawValue {
        case "tag:yaml.org,2002:null": return .null
        case "tag:yaml.org,2002:bool": if let b = node.bool { return .bool(b) }
        case "tag:yaml.org,2002:int": if let i = node.int { return .int(Int64(i)) }
        case "tag:yaml.org,2002:float": if let d = node.float { return .double(d) }
        default: break
        }
        return .string(s.string)
    case .mapping(let m):
        var o: [String: JSONValue] = [:]
        for (k, v) in m {
            guard let key = k.string else { throw YAMLFixtureError.unsupported("non-string key") }
            o[key] = try json(v)
        }
        return .object(o)
    case .sequence(let seq):
        return .array(try seq.map(json))
    case .alias:
        throw YAMLFixtureError.unsupported("alias")
    }
}
