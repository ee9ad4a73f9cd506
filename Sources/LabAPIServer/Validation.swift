import Foundation
import JSON

/// Structural-schema pruning and validation of custom resources, with the messages of
/// apiextensions-apiserver (kube-openapi validate errors converted to field errors).
enum SchemaValidation {
    static let objectMetaFields: Set<String> = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields",
    ]

    /// Removes fields the schema does not know (keeping apiVersion, kind and ObjectMeta fields at the root).
    static func prune(_ value: inout JSONValue, schema: JSONValue?) {
        guard case .object(var root) = value else { return }
        value = .null
        if case .object(var meta)? = root["metadata"] {
            for k in meta.keys where !objectMetaFields.contains(k) { meta.removeValue(forKey: k) }
            root["metadata"] = .object(meta)
        }
        let props = schema?["properties"]?.objectValue ?? [:]
        let preserve = schema?["x-kubernetes-preserve-unknown-fields"]?.boolValue == true
        for k in Array(root.keys) where k != "apiVersion" && k != "kind" && k != "metadata" {
            if let childSchema = props[k] {
                if var child = root[k] { pruneNode(&child, schema: childSchema); root[k] = child }
            } else if !preserve {
                root.removeValue(forKey: k)
            }
        }
        value = .object(root)
    }

    private static func pruneNode(_ value: inout JSONValue, schema: JSONValue) {
        if schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true && schema["properties"] == nil
            && schema["items"] == nil && schema["additionalProperties"] == nil { return }
        switch value {
        case .object(var o):
            value = .null
            if let props = schema["properties"]?.objectValue {
                let preserve = schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true
                for k in Array(o.keys) {
                    if let s = props[k] {
                        if var child = o[k] { pruneNode(&child, schema: s); o[k] = child }
                    } else if !preserve {
                        o.removeValue(forKey: k)
                    }
                }
            } else if let additional = schema["additionalProperties"], additional.objectValue != nil {
                for k in Array(o.keys) { if var child = o[k] { pruneNode(&child, schema: additional); o[k] = child } }
            } else if schema["x-kubernetes-embedded-resource"]?.boolValue != true,
                      schema["x-kubernetes-preserve-unknown-fields"]?.boolValue != true,
                      schema["additionalProperties"]?.boolValue != true {
                // An object schema without properties keeps nothing.
                if schema["type"]?.stringValue == "object" && schema["additionalProperties"] == nil { o = [:] }
            }
            value = .object(o)
        case .array(var a):
            value = .null
            if let items = schema["items"] {
                for i in a.indices { pruneNode(&a[i], schema: items) }
            }
            value = .array(a)
        default: break
        }
    }

    /// Validates a (pruned) object against the schema; the causes in the real server's shape.
    static func validate(_ value: JSONValue, schema: JSONValue?) -> [APICause] {
        guard let schema else { return [] }
        var causes: [APICause] = []
        guard case .object(let root) = value else { return causes }
        let props = schema["properties"]?.objectValue ?? [:]
        let required = schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        for k in orderedKeys(root, required: required) where k != "apiVersion" && k != "kind" && k != "metadata" {
            if let s = props[k], let child = root[k] { validateNode(child, schema: s, path: k, into: &causes) }
        }
        for req in required where root[req] == nil {
            causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: req))
        }
        return causes
    }

    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return "\"\(s)\""
        case .int(let i): return String(i)
        case .double(let d): return Wire.formatDouble(d)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array, .object: return String(decoding: Wire.encode(v, order: .sorted), as: UTF8.self)
        }
    }

    static func jsonType(_ v: JSONValue) -> String {
        switch v {
        case .string: return "string"
        case .int: return "integer"
        case .double(let d): return d == d.rounded() ? "integer" : "number"
        case .bool: return "boolean"
        case .null: return "null"
        case .array: return "array"
        case .object: return "object"
        }
    }

    private static func number(_ v: JSONValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    private static func numberText(_ s: JSONValue?) -> String {
        guard let s else { return "" }
        return describe(s)
    }

    static func validateNode(_ value: JSONValue, schema: JSONValue, path: String, into causes: inout [APICause]) {
        let type = schema["type"]?.stringValue
        if value.isNull {
            if schema["nullable"]?.boolValue == true { return }
            if let type {
                causes.append(APICause(reason: "FieldValueTypeInvalid",
                                       message: "Invalid value: \"null\": \(path) in body must be of type \(type): \"null\"", field: path))
            }
            return
        }
        if schema["x-kubernetes-int-or-string"]?.boolValue == true {
            switch value {
            case .int, .string: break
            case .double(let d) where d == d.rounded(): break
            default:
                causes.append(APICause(reason: "FieldValueTypeInvalid",
                                       message: "Invalid value: \"\(jsonType(value))\": \(path) in body must be of type integer,string: \"\(jsonType(value))\"", field: path))
                return
            }
        } else if let type {
            let actual = jsonType(value)
            let ok = actual == type || (type == "number" && actual == "integer")
            if !ok {
                causes.append(APICause(reason: "FieldValueTypeInvalid",
                                       message: "Invalid value: \"\(actual)\": \(path) in body must be of type \(type): \"\(actual)\"", field: path))
                return
            }
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(value) {
            let list = allowed.map(describe).joined(separator: ", ")
            causes.append(APICause(reason: "FieldValueNotSupported",
                                   message: "Unsupported value: \(describe(value)): supported values: \(list)", field: path))
        }
        if let n = number(value) {
            if let min = schema["minimum"].flatMap(number) {
                let exclusive = schema["exclusiveMinimum"]?.boolValue == true
                if exclusive ? n <= min : n < min {
                    causes.append(APICause(reason: "FieldValueInvalid",
                                           message: "Invalid value: \(describe(value)): \(path) in body should be greater than \(exclusive ? "" : "or equal to ")\(numberText(schema["minimum"]))", field: path))
                }
            }
            if let max = schema["maximum"].flatMap(number) {
                let exclusive = schema["exclusiveMaximum"]?.boolValue == true
                if exclusive ? n >= max : n > max {
                    causes.append(APICause(reason: "FieldValueInvalid",
                                           message: "Invalid value: \(describe(value)): \(path) in body should be less than \(exclusive ? "" : "or equal to ")\(numberText(schema["maximum"]))", field: path))
                }
            }
            if let m = schema["multipleOf"].flatMap(number), m > 0, (n / m).rounded() != n / m {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(describe(value)): \(path) in body should be a multiple of \(numberText(schema["multipleOf"]))", field: path))
            }
        }
        switch value {
        case .string(let s):
            let length = s.unicodeScalars.count
            if let maxL = schema["maxLength"]?.intValue, length > maxL {
                causes.append(APICause(reason: "FieldValueTooLong", message: "Too long: may not be longer than \(maxL)", field: path))
            }
            if let minL = schema["minLength"]?.intValue, length < minL {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(describe(value)): \(path) in body should be at least \(minL) chars long", field: path))
            }
            if let pattern = schema["pattern"]?.stringValue, !matches(pattern, s) {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(describe(value)): \(path) in body should match '\(pattern)'", field: path))
            }
            if let format = schema["format"]?.stringValue, !formatOK(format, s) {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(describe(value)): \(path) in body must be of type \(format): \(describe(value))", field: path))
            }
        case .array(let a):
            if let maxI = schema["maxItems"]?.intValue, a.count > maxI {
                causes.append(APICause(reason: "FieldValueTooMany", message: "Too many: \(a.count): must have at most \(maxI) items", field: path))
            }
            if let minI = schema["minItems"]?.intValue, a.count < minI {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(a.count): \(path) in body should have at least \(minI) items", field: path))
            }
            if let items = schema["items"] {
                for (i, element) in a.enumerated() { validateNode(element, schema: items, path: "\(path)[\(i)]", into: &causes) }
            }
            if schema["x-kubernetes-list-type"]?.stringValue == "map",
               let keys = schema["x-kubernetes-list-map-keys"]?.arrayValue?.compactMap(\.stringValue), !keys.isEmpty {
                var seen = Set<[JSONValue]>()
                for (i, element) in a.enumerated() {
                    let k = keys.map { element[$0] ?? .null }
                    if !seen.insert(k).inserted {
                        let desc = "map[string]interface {}{" + keys.map { "\"\($0)\":\(describe(element[$0] ?? .null))" }.joined(separator: ", ") + "}"
                        causes.append(APICause(reason: "FieldValueDuplicate", message: "Duplicate value: \(desc)", field: "\(path)[\(i)]"))
                    }
                }
            } else if schema["x-kubernetes-list-type"]?.stringValue == "set" {
                var seen = Set<JSONValue>()
                for (i, element) in a.enumerated() where !seen.insert(element).inserted {
                    causes.append(APICause(reason: "FieldValueDuplicate", message: "Duplicate value: \(describe(element))", field: "\(path)[\(i)]"))
                }
            }
        case .object(let o):
            let required = schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
            defer {
                for req in required where o[req] == nil {
                    causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: "\(path).\(req)"))
                }
            }
            if let maxP = schema["maxProperties"]?.intValue, o.count > maxP {
                causes.append(APICause(reason: "FieldValueTooMany", message: "Too many: \(o.count): must have at most \(maxP) items", field: path))
            }
            if let minP = schema["minProperties"]?.intValue, o.count < minP {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(o.count): \(path) in body should have at least \(minP) properties", field: path))
            }
            if let props = schema["properties"]?.objectValue {
                for k in orderedKeys(o, required: required) { if let s = props[k], let child = o[k] { validateNode(child, schema: s, path: "\(path).\(k)", into: &causes) } }
            } else if let additional = schema["additionalProperties"], additional.objectValue != nil {
                for k in o.keys.sorted() { if let child = o[k] { validateNode(child, schema: additional, path: "\(path).\(k)", into: &causes) } }
            }
        default: break
        }
    }

    /// Property order for error reporting: required properties in their declared order, then the rest sorted.
    static func orderedKeys(_ o: [String: JSONValue], required: [String]) -> [String] {
        let req = required.filter { o[$0] != nil }
        return req + o.keys.filter { !required.contains($0) }.sorted()
    }

    private static let regexCache = Mutex<[String: NSRegularExpression]>([:])

    static func matches(_ pattern: String, _ s: String) -> Bool {
        let regex: NSRegularExpression? = regexCache.withLock { cache in
            if let r = cache[pattern] { return r }
            let r = try? NSRegularExpression(pattern: pattern)
            if let r { cache[pattern] = r }
            return r
        }
        guard let regex else { return true }
        return regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    private static func formatOK(_ format: String, _ s: String) -> Bool {
        switch format {
        case "date-time": return s.isEmpty || parseRFC3339(s) != nil
        case "int32", "int64", "byte", "password", "": return true
        default: return true
        }
    }

    static func parseRFC3339(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }
}

import Synchronization
