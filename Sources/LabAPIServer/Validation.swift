import Foundation
import JSON
import KubeCore

/// The path of a field being validated, rendered only when a cause names it
/// (`spec.devices[3].name`: keys joined with dots, list indexes in brackets).
struct FieldPath {
    enum Part { case key(String), index(Int) }
    var parts: [Part] = []

    var rendered: String {
        var out = ""
        for (n, part) in parts.enumerated() {
            switch part {
            case .key(let k): out += n == 0 ? k : ".\(k)"
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }
}

extension JSONValue {
    /// Moves the members out of an object value, leaving `.null`, so that they can be changed in place
    /// (no copy: this value no longer shares them). Nil (and unchanged) for other values.
    mutating func takeObject() -> [String: JSONValue]? {
        guard case .object(let o) = self else { return nil }
        self = .null
        return o
    }

    /// Moves the elements out of an array value, leaving `.null` (see `takeObject`).
    mutating func takeArray() -> [JSONValue]? {
        guard case .array(let a) = self else { return nil }
        self = .null
        return a
    }

    /// Whether this is an object or an array (a scalar needs no pruning).
    var isContainer: Bool {
        switch self {
        case .object, .array: return true
        default: return false
        }
    }
}

/// Structural-schema pruning and validation of custom resources, with the messages of
/// apiextensions-apiserver (kube-openapi validate errors converted to field errors).
enum SchemaValidation {
    static let objectMetaFields: Set<String> = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields",
    ]

    /// Removes fields the schema does not know (keeping apiVersion, kind and ObjectMeta fields at the root).
    static func prune(_ value: inout JSONValue, schema: CompiledSchema?) {
        guard case .object(var root) = value else { return }
        value = .null
        if case .object(var meta)? = root["metadata"] {
            for k in meta.keys where !objectMetaFields.contains(k) { meta.removeValue(forKey: k) }
            root["metadata"] = .object(meta)
        }
        let props = schema?.properties ?? [:]
        let preserve = schema?.preserveUnknown == true
        for k in Array(root.keys) where k != "apiVersion" && k != "kind" && k != "metadata" {
            if let childSchema = props[k] {
                if var child = root[k] { root[k] = .null; pruneNode(&child, schema: childSchema); root[k] = child }
            } else if !preserve {
                root.removeValue(forKey: k)
            }
        }
        value = .object(root)
    }

    /// `prune` followed by the null pruning of `SchemaDefaulting.apply` in one walk (what admission
    /// does before applying defaults): unknown fields go, and so do `null`s whose schema is neither
    /// nullable nor defaulted. Same result as the two passes (tested against them).
    static func pruneDroppingNulls(_ value: inout JSONValue, schema: CompiledSchema?) {
        guard case .object(var root) = value else { return }
        value = .null
        if case .object(var meta)? = root["metadata"] {
            var extra: [String] = []
            for k in meta.keys where !objectMetaFields.contains(k) { extra.append(k) }
            if !extra.isEmpty {
                root["metadata"] = .null
                for k in extra { meta.removeValue(forKey: k) }
                root["metadata"] = .object(meta)
            }
        }
        let preserve = schema?.preserveUnknown == true
        var drop: [String] = []
        var i = root.startIndex
        while i != root.endIndex {
            let k = root.keys[i]
            if k != "apiVersion" && k != "kind" && k != "metadata" {
                if let childSchema = schema?.property(k) {
                    if root.values[i].isNull {
                        if !childSchema.nullable && childSchema.defaultValue == nil { drop.append(k) }
                    } else if root.values[i].isContainer {
                        pruneNodeDroppingNulls(&root.values[i], schema: childSchema)
                    }
                } else if !preserve {
                    drop.append(k)
                } else if let schema, let additional = schema.additionalProperties {
                    // A preserved unknown field: only the null pruning applies (with additionalProperties).
                    if root.values[i].isNull {
                        if !additional.nullable && additional.defaultValue == nil { drop.append(k) }
                    } else {
                        SchemaDefaulting.pruneNulls(&root.values[i], schema: additional)
                    }
                }
            }
            root.formIndex(after: &i)
        }
        for k in drop { root.removeValue(forKey: k) }
        value = .object(root)
    }

    private static func pruneNodeDroppingNulls(_ value: inout JSONValue, schema: CompiledSchema) {
        if schema.preserveUnknown && schema.properties == nil && schema.items == nil && schema.additionalProperties == nil { return }
        if var o = value.takeObject() {
            if let props = schema.properties {
                var drop: [String] = []
                var i = o.startIndex
                while i != o.endIndex {
                    if let s = schema.property(o.keys[i]) {
                        if o.values[i].isNull {
                            if !s.nullable && s.defaultValue == nil { drop.append(o.keys[i]) }
                        } else if o.values[i].isContainer {
                            pruneNodeDroppingNulls(&o.values[i], schema: s)
                        }
                    } else if !schema.preserveUnknown {
                        drop.append(o.keys[i])
                    } else if let additional = schema.additionalProperties {
                        if o.values[i].isNull {
                            if !additional.nullable && additional.defaultValue == nil { drop.append(o.keys[i]) }
                        } else {
                            SchemaDefaulting.pruneNulls(&o.values[i], schema: additional)
                        }
                    }
                    o.formIndex(after: &i)
                }
                for k in drop { o.removeValue(forKey: k) }
            } else if let additional = schema.additionalProperties {
                var drop: [String] = []
                var i = o.startIndex
                while i != o.endIndex {
                    if o.values[i].isNull {
                        if !additional.nullable && additional.defaultValue == nil { drop.append(o.keys[i]) }
                    } else if o.values[i].isContainer {
                        pruneNodeDroppingNulls(&o.values[i], schema: additional)
                    }
                    o.formIndex(after: &i)
                }
                for k in drop { o.removeValue(forKey: k) }
            } else if !schema.embedded, !schema.preserveUnknown, !schema.additionalPropertiesTrue, schema.type == "object" {
                o = [:]
            }
            value = .object(o)
        } else if let items = schema.items, var a = value.takeArray() {
            for i in a.indices where a[i].isContainer { pruneNodeDroppingNulls(&a[i], schema: items) }
            value = .array(a)
        }
    }

    private static func pruneNode(_ value: inout JSONValue, schema: CompiledSchema) {
        if schema.preserveUnknown && schema.properties == nil && schema.items == nil && schema.additionalProperties == nil { return }
        if var o = value.takeObject() {
            if let props = schema.properties {
                var unknown: [String] = []
                var i = o.startIndex
                while i != o.endIndex {
                    if let s = schema.property(o.keys[i]) {
                        // Values are pruned in place (no re-hashing; scalars need nothing).
                        if o.values[i].isContainer { pruneNode(&o.values[i], schema: s) }
                    } else if !schema.preserveUnknown {
                        unknown.append(o.keys[i])
                    }
                    o.formIndex(after: &i)
                }
                for k in unknown { o.removeValue(forKey: k) }
            } else if let additional = schema.additionalProperties {
                var i = o.startIndex
                while i != o.endIndex {
                    if o.values[i].isContainer { pruneNode(&o.values[i], schema: additional) }
                    o.formIndex(after: &i)
                }
            } else if !schema.embedded, !schema.preserveUnknown, !schema.additionalPropertiesTrue, schema.type == "object" {
                // An object schema without properties keeps nothing.
                o = [:]
            }
            value = .object(o)
        } else if let items = schema.items, var a = value.takeArray() {
            for i in a.indices where a[i].isContainer { pruneNode(&a[i], schema: items) }
            value = .array(a)
        }
    }

    /// Validates a (pruned) object against the schema; the causes in the real server's shape.
    static func validate(_ value: JSONValue, schema: CompiledSchema?) -> [APICause] {
        // Most objects are valid: a first pass visits properties in storage order; only when it finds
        // something is the object walked again in the order the causes are reported in.
        let causes = validate(value, schema: schema, ordered: false)
        return causes.isEmpty ? causes : validate(value, schema: schema, ordered: true)
    }

    static func validate(_ value: JSONValue, schema: CompiledSchema?, ordered: Bool) -> [APICause] {
        guard let schema else { return [] }
        var causes: [APICause] = []
        guard case .object(let root) = value else { return causes }
        let props = schema.properties ?? [:]
        var path = FieldPath()
        for k in ordered ? orderedKeys(root, required: schema.required) : Array(root.keys) where k != "apiVersion" && k != "kind" {
            guard let s = props[k], let child = root[k] else { continue }
            if k == "metadata" {
                // A structural schema may restrict only metadata.name and metadata.generateName; the
                // OpenAPI validator checks those against the whole object like any other field.
                for field in ["generateName", "name"] {
                    if let fs = s.properties?[field], let v = child[field] {
                        path.parts = [.key("metadata"), .key(field)]
                        validateNode(v, schema: fs, path: &path, ordered: ordered, into: &causes)
                    }
                }
                continue
            }
            path.parts = [.key(k)]
            validateNode(child, schema: s, path: &path, ordered: ordered, into: &causes)
        }
        for req in schema.required where root[req] == nil {
            causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: req))
        }
        return causes
    }

    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return "\"\(s)\""
        case .int(let i): return String(i)
        case .double(let d): return JSONValue.format(d)
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

    static func number(_ v: JSONValue) -> Double? {
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

    static func validateNode(_ value: JSONValue, schema: CompiledSchema, path: inout FieldPath, ordered: Bool = true, into causes: inout [APICause]) {
        let type = schema.type
        if value.isNull {
            if schema.nullable { return }
            if let type {
                causes.append(APICause(reason: "FieldValueTypeInvalid",
                                       message: "Invalid value: \"null\": \(path.rendered) in body must be of type \(type): \"null\"", field: path.rendered))
            }
            return
        }
        if schema.intOrString {
            switch value {
            case .int, .string: break
            case .double(let d) where d == d.rounded(): break
            default:
                causes.append(APICause(reason: "FieldValueTypeInvalid",
                                       message: "Invalid value: \"\(jsonType(value))\": \(path.rendered) in body must be of type integer,string: \"\(jsonType(value))\"", field: path.rendered))
                return
            }
        } else if let type {
            let actual = jsonType(value)
            let ok = actual == type || (type == "number" && actual == "integer")
            if !ok {
                causes.append(APICause(reason: "FieldValueTypeInvalid",
                                       message: "Invalid value: \"\(actual)\": \(path.rendered) in body must be of type \(type): \"\(actual)\"", field: path.rendered))
                return
            }
        }
        if let allowed = schema.enumValues, !allowed.contains(value) {
            let list = allowed.map(describe).joined(separator: ", ")
            causes.append(APICause(reason: "FieldValueNotSupported",
                                   message: "Unsupported value: \(describe(value)): supported values: \(list)", field: path.rendered))
        }
        if let n = number(value) {
            if let minV = schema.minimum, let min = number(minV) {
                let exclusive = schema.exclusiveMinimum
                if exclusive ? n <= min : n < min {
                    causes.append(APICause(reason: "FieldValueInvalid",
                                           message: "Invalid value: \(describe(value)): \(path.rendered) in body should be greater than \(exclusive ? "" : "or equal to ")\(numberText(minV))", field: path.rendered))
                }
            }
            if let maxV = schema.maximum, let max = number(maxV) {
                let exclusive = schema.exclusiveMaximum
                if exclusive ? n >= max : n > max {
                    causes.append(APICause(reason: "FieldValueInvalid",
                                           message: "Invalid value: \(describe(value)): \(path.rendered) in body should be less than \(exclusive ? "" : "or equal to ")\(numberText(maxV))", field: path.rendered))
                }
            }
            if let mv = schema.multipleOf, let m = number(mv), m > 0, (n / m).rounded() != n / m {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(describe(value)): \(path.rendered) in body should be a multiple of \(numberText(mv))", field: path.rendered))
            }
        }
        switch value {
        case .string(let s):
            if schema.maxLength != nil || schema.minLength != nil {
                let length = Int64(s.unicodeScalars.count)
                if let maxL = schema.maxLength, length > maxL {
                    causes.append(APICause(reason: "FieldValueTooLong", message: "Too long: may not be longer than \(maxL)", field: path.rendered))
                }
                if let minL = schema.minLength, length < minL {
                    causes.append(APICause(reason: "FieldValueInvalid",
                                           message: "Invalid value: \(describe(value)): \(path.rendered) in body should be at least \(minL) chars long", field: path.rendered))
                }
            }
            if let pattern = schema.pattern, !matches(pattern, s) {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(describe(value)): \(path.rendered) in body should match '\(pattern)'", field: path.rendered))
            }
            if let format = schema.format, !formatOK(format, s) {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(describe(value)): \(path.rendered) in body must be of type \(format): \(describe(value))", field: path.rendered))
            }
        case .array(let a):
            if let maxI = schema.maxItems, a.count > maxI {
                causes.append(APICause(reason: "FieldValueTooMany", message: "Too many: \(a.count): must have at most \(maxI) items", field: path.rendered))
            }
            if let minI = schema.minItems, a.count < minI {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(a.count): \(path.rendered) in body should have at least \(minI) items", field: path.rendered))
            }
            if let items = schema.items {
                for (i, element) in a.enumerated() {
                    path.parts.append(.index(i))
                    validateNode(element, schema: items, path: &path, ordered: ordered, into: &causes)
                    path.parts.removeLast()
                }
            }
            if schema.listType == "map", !schema.listMapKeys.isEmpty {
                let keys = schema.listMapKeys
                var seen = Set<[JSONValue]>()
                for (i, element) in a.enumerated() {
                    let k = keys.map { element[$0] ?? .null }
                    if !seen.insert(k).inserted {
                        let desc = "map[string]interface {}{" + keys.map { "\"\($0)\":\(describe(element[$0] ?? .null))" }.joined(separator: ", ") + "}"
                        causes.append(APICause(reason: "FieldValueDuplicate", message: "Duplicate value: \(desc)", field: "\(path.rendered)[\(i)]"))
                    }
                }
            } else if schema.listType == "set" {
                var seen = Set<JSONValue>()
                for (i, element) in a.enumerated() where !seen.insert(element).inserted {
                    causes.append(APICause(reason: "FieldValueDuplicate", message: "Duplicate value: \(describe(element))", field: "\(path.rendered)[\(i)]"))
                }
            }
        case .object(let o):
            let required = schema.required
            defer {
                for req in required where o[req] == nil {
                    causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: "\(path.rendered).\(req)"))
                }
            }
            if let maxP = schema.maxProperties, o.count > maxP {
                causes.append(APICause(reason: "FieldValueTooMany", message: "Too many: \(o.count): must have at most \(maxP) items", field: path.rendered))
            }
            if let minP = schema.minProperties, o.count < minP {
                causes.append(APICause(reason: "FieldValueInvalid",
                                       message: "Invalid value: \(o.count): \(path.rendered) in body should have at least \(minP) properties", field: path.rendered))
            }
            if let props = schema.properties {
                if ordered {
                    for k in orderedKeys(o, required: required) {
                        if let s = props[k], let child = o[k] { validateChild(child, key: k, schema: s, path: &path, ordered: ordered, into: &causes) }
                    }
                } else {
                    for (k, child) in o { if let s = schema.property(k) { validateChild(child, key: k, schema: s, path: &path, ordered: ordered, into: &causes) } }
                }
            } else if let additional = schema.additionalProperties {
                if ordered {
                    for k in o.keys.sorted() { if let child = o[k] { validateChild(child, key: k, schema: additional, path: &path, ordered: ordered, into: &causes) } }
                } else {
                    for (k, child) in o { validateChild(child, key: k, schema: additional, path: &path, ordered: ordered, into: &causes) }
                }
            }
        default: break
        }
    }

    private static func validateChild(_ child: JSONValue, key: String, schema: CompiledSchema, path: inout FieldPath, ordered: Bool,
                                      into causes: inout [APICause]) {
        path.parts.append(.key(key))
        validateNode(child, schema: schema, path: &path, ordered: ordered, into: &causes)
        path.parts.removeLast()
    }

    /// Property order for error reporting: required properties in their declared order, then the rest sorted.
    static func orderedKeys(_ o: [String: JSONValue], required: [String]) -> [String] {
        if required.isEmpty { return o.count < 2 ? Array(o.keys) : o.keys.sorted() }
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

    static func parseRFC3339(_ s: String) -> Date? { KubeTime.parse(s) }
}

import Synchronization

/// A structural schema node with its keywords decoded once (validation and pruning run per write).
final class CompiledSchema: Sendable {
    let type: String?
    let nullable: Bool
    let intOrString: Bool
    let enumValues: [JSONValue]?
    let minimum: JSONValue?
    let exclusiveMinimum: Bool
    let maximum: JSONValue?
    let exclusiveMaximum: Bool
    let multipleOf: JSONValue?
    let maxLength: Int64?
    let minLength: Int64?
    let pattern: String?
    let format: String?
    let maxItems: Int?
    let minItems: Int?
    let maxProperties: Int?
    let minProperties: Int?
    let items: CompiledSchema?
    let properties: [String: CompiledSchema]?
    let additionalProperties: CompiledSchema?
    let additionalPropertiesTrue: Bool
    let preserveUnknown: Bool
    let embedded: Bool
    let required: [String]
    let listType: String?
    let listMapKeys: [String]
    /// The `default` keyword (structural defaulting).
    let defaultValue: JSONValue?
    /// Whether this node or any node below it has a default.
    let hasDefaults: Bool

    /// `properties` as parallel arrays: a schema node has few properties, and finding one by comparing
    /// names is cheaper than hashing the key (admission looks up every field of every object twice).
    let propertyNames: [String]
    let propertySchemas: [CompiledSchema]

    /// The schema of property `key` (nil when it is not one of `properties`).
    func property(_ key: String) -> CompiledSchema? {
        if propertyNames.count > 32 { return properties?[key] }
        let n = key.utf8.count
        for i in propertyNames.indices where propertyNames[i].utf8.count == n && propertyNames[i] == key { return propertySchemas[i] }
        return nil
    }

    init(_ s: JSONValue, depth: Int = 0) {
        type = s["type"]?.stringValue
        nullable = s["nullable"]?.boolValue == true
        intOrString = s["x-kubernetes-int-or-string"]?.boolValue == true
        enumValues = s["enum"]?.arrayValue
        minimum = s["minimum"]
        exclusiveMinimum = s["exclusiveMinimum"]?.boolValue == true
        maximum = s["maximum"]
        exclusiveMaximum = s["exclusiveMaximum"]?.boolValue == true
        multipleOf = s["multipleOf"]
        maxLength = s["maxLength"]?.intValue
        minLength = s["minLength"]?.intValue
        pattern = s["pattern"]?.stringValue
        let f = s["format"]?.stringValue
        format = (f == "date-time") ? f : nil
        maxItems = s["maxItems"]?.intValue.map { Int($0) }
        minItems = s["minItems"]?.intValue.map { Int($0) }
        maxProperties = s["maxProperties"]?.intValue.map { Int($0) }
        minProperties = s["minProperties"]?.intValue.map { Int($0) }
        let deeper = depth < 64
        items = deeper ? s["items"].flatMap { $0.objectValue != nil ? CompiledSchema($0, depth: depth + 1) : nil } : nil
        properties = deeper ? s["properties"]?.objectValue?.mapValues { CompiledSchema($0, depth: depth + 1) } : nil
        let sortedProperties = (properties ?? [:]).sorted { $0.key < $1.key }
        propertyNames = sortedProperties.map(\.key)
        propertySchemas = sortedProperties.map(\.value)
        additionalProperties = deeper ? s["additionalProperties"].flatMap { $0.objectValue != nil ? CompiledSchema($0, depth: depth + 1) : nil } : nil
        additionalPropertiesTrue = s["additionalProperties"]?.boolValue == true
        preserveUnknown = s["x-kubernetes-preserve-unknown-fields"]?.boolValue == true
        embedded = s["x-kubernetes-embedded-resource"]?.boolValue == true
        required = s["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        listType = s["x-kubernetes-list-type"]?.stringValue
        listMapKeys = s["x-kubernetes-list-map-keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
        defaultValue = s["default"].flatMap { $0.isNull ? nil : $0 }
        hasDefaults = defaultValue != nil || items?.hasDefaults == true || additionalProperties?.hasDefaults == true
            || properties?.values.contains { $0.hasDefaults } == true
    }
}
