import AutomagicAPI
import Foundation
import JSON
import Yams

/// Reads NetworkDeviceMaps from a YAML or JSON file (several YAML documents, or a `List`, allowed).
enum MapFile {
    struct ShapeError: Error { var message: String }

    /// One map of a file with the fields its CRD does not define (which an API server may drop silently).
    struct Entry: Sendable {
        var map: NetworkDeviceMap
        var unknownFields: [UnknownField]
    }

    /// The maps in `bytes`; `path` names the source in errors.
    static func parse(_ bytes: [UInt8], path: String) throws(PluginError) -> [NetworkDeviceMap] {
        try parseEntries(bytes, path: path).map(\.map)
    }

    /// The maps in `bytes` with their unknown fields; `path` names the source in errors.
    static func parseEntries(_ bytes: [UInt8], path: String) throws(PluginError) -> [Entry] {
        let text = String(decoding: bytes, as: UTF8.self)
        var documents: [JSONValue] = []
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        if trimmed.first == "{" || trimmed.first == "[" {
            do { documents = [try JSONValue.parse(text)] } catch {
                throw .parseFile(path: path, cause: "invalid JSON: \(error)")
            }
        } else {
            do {
                let parser = try Yams.Parser(yaml: text)
                while let node = try parser.nextRoot() {
                    documents.append(try json(node, path: "$"))
                }
            } catch let e as ShapeError {
                throw .parseFile(path: path, cause: e.message)
            } catch {
                throw .parseFile(path: path, cause: "invalid YAML: \(error)")
            }
        }
        var flat: [(String, JSONValue)] = []
        for (i, doc) in documents.enumerated() {
            let label = documents.count == 1 ? "" : "document \(i + 1): "
            if doc.isNull { continue }
            if doc["kind"]?.stringValue == "List" || doc["kind"]?.stringValue == "NetworkDeviceMapList", let items = doc["items"]?.arrayValue {
                for (j, item) in items.enumerated() { flat.append(("\(label)items[\(j)]: ", item)) }
            } else {
                flat.append((label, doc))
            }
        }
        if flat.isEmpty { throw .parseFile(path: path, cause: "no NetworkDeviceMap in the file (it is empty)") }
        var maps: [Entry] = []
        for (label, doc) in flat {
            guard case .object = doc else { throw .parseFile(path: path, cause: "\(label)expected an object, found \(doc.typeName)") }
            let kind = doc["kind"]?.stringValue
            guard kind == NetworkDeviceMap.kind else {
                throw .parseFile(path: path, cause: "\(label)kind is \(kind.map { "'\($0)'" } ?? "missing"), expected NetworkDeviceMap")
            }
            let apiVersion = doc["apiVersion"]?.stringValue
            guard apiVersion == Automagic.apiVersion else {
                throw .parseFile(path: path, cause: "\(label)apiVersion is \(apiVersion.map { "'\($0)'" } ?? "missing"), expected \(Automagic.apiVersion)")
            }
            guard doc["spec"] != nil else { throw .parseFile(path: path, cause: "\(label)spec is missing") }
            do {
                maps.append(Entry(map: try doc.decode(NetworkDeviceMap.self), unknownFields: UnknownFields.find(in: doc)))
            } catch {
                // A misspelled required field shows up as "required field missing": name the typo too.
                let unknown = UnknownFields.find(in: doc)
                let hint = unknown.isEmpty ? "" : " (\(unknown.map(\.description).joined(separator: "; ")))"
                throw .parseFile(path: path, cause: "\(label)\(describe(error))\(hint)")
            }
        }
        return maps
    }

    static func describe(_ error: any Error) -> String {
        func where_(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().drop { $0 == "." }.description
        }
        switch error {
        case DecodingError.typeMismatch(let type, let c): return "\(where_(c.codingPath)): expected \(type)"
        case DecodingError.valueNotFound(let type, let c): return "\(where_(c.codingPath)): null where \(type) was expected"
        case DecodingError.keyNotFound(let key, let c):
            let path = where_(c.codingPath)
            return "\(path.isEmpty ? "" : path + ".")\(key.stringValue): required field missing"
        case DecodingError.dataCorrupted(let c): return "\(where_(c.codingPath)): \(c.debugDescription)"
        default: return "\(error)"
        }
    }

    /// A JSON value from a YAML node (core-schema tags: ints, floats, bools, nulls; everything else a string).
    static func json(_ node: Yams.Node, path: String) throws -> JSONValue {
        switch node {
        case .scalar(let s):
            let tag = Yams.Resolver.default.resolveTag(of: node)
            if s.style != .plain && s.style != .any { return .string(s.string) }
            switch tag {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(s.string)
            case .int: return node.int.map { .int(Int64($0)) } ?? .string(s.string)
            case .float: return node.float.map(JSONValue.double) ?? .string(s.string)
            default: return .string(s.string)
            }
        case .sequence(let seq):
            return .array(try seq.enumerated().map { try json($1, path: "\(path)[\($0)]") })
        case .mapping(let m):
            var out: [String: JSONValue] = [:]
            for (k, v) in m {
                guard let key = k.string else { throw ShapeError(message: "\(path): non-string key in a mapping") }
                out[key] = try json(v, path: "\(path).\(key)")
            }
            return .object(out)
        case .alias:
            throw ShapeError(message: "\(path): YAML aliases are not supported")
        }
    }
}
