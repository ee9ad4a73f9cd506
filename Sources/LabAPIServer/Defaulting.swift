import JSON

/// Structural-schema defaulting of custom resources, as apiextensions-apiserver does it (1.17+):
/// after pruning, `null` values the schema neither allows (`nullable`) nor defaults are dropped,
/// then every property missing from an object that is present (or `null` where not nullable)
/// gets a copy of its schema `default`, recursively (defaults inside defaults too), before validation.
/// apiVersion, kind and metadata at the root are never defaulted.
enum SchemaDefaulting {
    static let rootMetaKeys: Set<String> = ["apiVersion", "kind", "metadata"]

    /// Prunes non-nullable nulls without defaults, then applies defaults (the decode-time pass).
    static func apply(_ value: inout JSONValue, schema: CompiledSchema?) {
        guard let schema, case .object(var root) = value else { return }
        var kept: [String: JSONValue] = [:]
        for key in rootMetaKeys { if let v = root.removeValue(forKey: key) { kept[key] = v } }
        value = .object(root)
        root = [:]
        pruneNulls(&value, schema: schema)
        applyDefaults(&value, schema: schema)
        guard case .object(var result) = value else { return }
        for key in rootMetaKeys { result[key] = kept[key] }
        value = .object(result)
    }

    /// The defaulting half of `apply` (after `SchemaValidation.pruneDroppingNulls` did the null pruning).
    static func applyDefaultsOnly(_ value: inout JSONValue, schema: CompiledSchema?) {
        guard let schema, schema.hasDefaults, case .object(var root) = value else { return }
        var kept: [String: JSONValue] = [:]
        for key in rootMetaKeys { if let v = root.removeValue(forKey: key) { kept[key] = v } }
        value = .object(root)
        root = [:]
        applyDefaults(&value, schema: schema)
        guard case .object(var result) = value else { return }
        for key in rootMetaKeys { result[key] = kept[key] }
        value = .object(result)
    }

    /// Removes `null` values whose schema is not nullable and has no default (arrays keep their elements).
    static func pruneNulls(_ value: inout JSONValue, schema: CompiledSchema) {
        if var o = value.takeObject() {
            var drop: [String] = []
            var i = o.startIndex
            while i != o.endIndex {
                // Scalars other than null need nothing: no schema lookup, values changed in place.
                let isNull = o.values[i].isNull
                if isNull || o.values[i].isContainer, let child = schema.property(o.keys[i]) ?? schema.additionalProperties {
                    if isNull {
                        if !child.nullable && child.defaultValue == nil { drop.append(o.keys[i]) }
                    } else {
                        pruneNulls(&o.values[i], schema: child)
                    }
                }
                o.formIndex(after: &i)
            }
            for key in drop { o.removeValue(forKey: key) }
            value = .object(o)
        } else if let items = schema.items, var a = value.takeArray() {
            for i in a.indices where a[i].isContainer { pruneNulls(&a[i], schema: items) }
            value = .array(a)
        }
    }

    /// Fills in defaults below a value that is present.
    static func applyDefaults(_ value: inout JSONValue, schema: CompiledSchema) {
        guard schema.hasDefaults else { return }
        switch value {
        case .object(var o):
            value = .null
            if let props = schema.properties {
                for (key, child) in props {
                    guard let d = child.defaultValue else { continue }
                    if o[key] == nil || (o[key]?.isNull == true && !child.nullable) { o[key] = d }
                }
            }
            for key in Array(o.keys) {
                if let child = schema.properties?[key] {
                    if child.hasDefaults, var v = o[key] { o[key] = .null; applyDefaults(&v, schema: child); o[key] = v }
                } else if let additional = schema.additionalProperties {
                    if o[key]?.isNull == true, !additional.nullable, let d = additional.defaultValue { o[key] = d }
                    if additional.hasDefaults, var v = o[key] { o[key] = .null; applyDefaults(&v, schema: additional); o[key] = v }
                }
            }
            value = .object(o)
        case .array(var a):
            guard let items = schema.items else { return }
            value = .null
            for i in a.indices {
                if a[i].isNull, !items.nullable, let d = items.defaultValue { a[i] = d }
                applyDefaults(&a[i], schema: items)
            }
            value = .array(a)
        default:
            break
        }
    }

    /// Read-time defaulting: kube-apiserver defaults what it decodes from etcd with the storage version's
    /// schema, so objects stored before a default was added read back with it. The lab keeps decoded
    /// objects, so it applies the defaults of the served storage version to stored objects (same
    /// resourceVersion, no watch event) whenever the served CRDs change.
    static func defaultStored(_ s: inout StoreState) {
        var byKey: [String: ResourceDef] = [:]
        for def in s.customResources.values where def.isStorageVersion && def.compiledSchema?.hasDefaults == true {
            byKey[def.storageKey] = def
        }
        for (key, def) in byKey {
            guard let objects = s.objects[key] else { continue }
            for (k, stored) in objects {
                var v = stored.value
                apply(&v, schema: def.compiledSchema)
                if v != stored.value {
                    s.objects[key]?[k] = StoredObject(value: v, rv: stored.rv, order: def.keyOrder)
                }
            }
        }
    }
}
