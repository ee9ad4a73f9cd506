import Foundation
import JSON
import Yams

/// `-o` values: a human table (the default), or machine-readable JSON or YAML.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// Aligned columns and notes for people.
    case table
    /// Pretty-printed JSON with sorted keys.
    case json
    /// YAML with sorted keys.
    case yaml
}

enum Machine {
    /// `value` encoded as JSON or YAML text, ending with a newline.
    static func render(_ value: some Encodable, format: OutputFormat, what: String) throws(PluginError) -> String {
        let json: JSONValue
        do { json = try JSONValue(encoding: value) } catch {
            throw .render(what: what, cause: "\(error)")
        }
        switch format {
        case .json, .table:
            return json.jsonString(pretty: true) + "\n"
        case .yaml:
            do { return try Yams.serialize(node: yamlNode(json), allowUnicode: true, sortKeys: true) } catch {
                throw .render(what: what, cause: "\(error)")
            }
        }
    }

    /// A YAML node for a JSON value; strings that would read back as another type are quoted.
    static func yamlNode(_ value: JSONValue) -> Yams.Node {
        switch value {
        case .null: return Node("null")
        case .bool(let b): return Node(b ? "true" : "false")
        case .int(let i): return Node(String(i))
        case .double(let d): return Node(d.isFinite ? "\(d)" : (d.isNaN ? ".nan" : (d < 0 ? "-.inf" : ".inf")))
        case .string(let s): return stringNode(s)
        case .array(let items):
            return Node(items.map(yamlNode), .implicit, .block)
        case .object(let members):
            let pairs = members.keys.sorted().map { (stringNode($0), yamlNode(members[$0] ?? .null)) }
            return Node(pairs, .implicit, .block)
        }
    }

    static func stringNode(_ s: String) -> Yams.Node {
        let plain = !s.isEmpty && Yams.Resolver.default.resolveTag(of: Node(s)) == .str
        return Node(s, .implicit, plain ? .any : .doubleQuoted)
    }
}
