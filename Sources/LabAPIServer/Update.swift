import Foundation
import JSON
import KubeCore

/// PUT, and the read-transform-admit-store tail that update, patch and apply share.
extension LabAPI {
    func updateObject(_ ctx: RequestContext) throws(APIError) {
        try checkOptions(ctx.request, type: "UpdateOptions")
        let incoming = try decodeObject(ctx)
        let name = ctx.route.name ?? ""
        let bodyName = incoming[path: ["metadata", "name"]]?.stringValue ?? ""
        if bodyName != name {
            throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        if ctx.def.namespaced, let ns = incoming[path: ["metadata", "namespace"]]?.stringValue, !ns.isEmpty, ns != ctx.route.namespace {
            throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        let existing = store.locked { s in s.get(ctx.def.storageKey, namespace: ctx.route.namespace, name: name) }
        guard existing != nil else {
            if !ctx.def.isCustom && ["events", "leases"].contains(ctx.def.plural) && ctx.route.subresource == nil {
                var obj = incoming
                if var meta = obj["metadata"]?.objectValue { meta.removeValue(forKey: "resourceVersion"); obj["metadata"] = .object(meta) }
                let created = try create(&obj, ctx: ctx, manager: fieldManager(ctx.request), operationApply: false)
                if let created { writeObject(created, def: ctx.def, status: 201, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format) }
                else { writeFormatted(obj, def: ctx.def, status: 201, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format) }
                return
            }
            throw APIError.notFound(ctx.def.plural, group: ctx.def.group, name: name)
        }
        let rv = incoming[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        if rv.isEmpty && ctx.def.isCustom {
            throw APIError(code: 422, reason: "Invalid",
                           message: "\(ctx.def.qualifiedPlural) \"\(name)\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                           details: APIError.details(name: name, group: ctx.def.group, kind: ctx.def.plural, causes: [
                               APICause(reason: "FieldValueInvalid", message: "Invalid value: 0x0: must be specified for an update", field: "metadata.resourceVersion")]))
        }
        let result = try writeUpdate(ctx: ctx, expectedRV: rv.isEmpty ? nil : rv, manager: fieldManager(ctx.request)) { (_: JSONValue) throws(APIError) -> JSONValue in incoming }
        respondWrite(result, ctx: ctx)
    }

    enum WriteResult { case stored(StoredObject, created: Bool), dryRun(JSONValue, created: Bool), deleted(StoredObject) }

    func respondWrite(_ result: WriteResult, ctx: RequestContext) {
        switch result {
        case .stored(let s, let created):
            writeObject(s, def: ctx.def, status: created ? 201 : 200, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format)
        case .dryRun(let v, let created):
            writeFormatted(v, def: ctx.def, status: created ? 201 : 200, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format)
        case .deleted(let s):
            writeObject(s, def: ctx.def, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format)
        }
    }

    /// Merges an incoming full object into the stored one, following main-resource/status rules.
    func merged(old: JSONValue, incoming: JSONValue, def: ResourceDef, subresource: String?) -> JSONValue {
        var new: JSONValue
        if subresource == "status" {
            new = old
            new["status"] = incoming["status"]
            return new
        }
        new = incoming
        if def.hasStatus { new["status"] = old["status"] }
        var meta = incoming["metadata"]?.objectValue ?? [:]
        let oldMeta = old["metadata"]?.objectValue ?? [:]
        for k in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "selfLink"] {
            meta[k] = oldMeta[k]
        }
        meta["managedFields"] = oldMeta["managedFields"]
        new["metadata"] = .object(meta)
        new["apiVersion"] = old["apiVersion"]
        return new
    }

    static func specPart(_ v: JSONValue) -> JSONValue {
        guard case .object(var o) = v else { return v }
        o.removeValue(forKey: "metadata"); o.removeValue(forKey: "status")
        o.removeValue(forKey: "apiVersion"); o.removeValue(forKey: "kind")
        return .object(o)
    }

    static func withoutVolatile(_ v: JSONValue) -> JSONValue {
        var c = v
        c[path: ["metadata", "managedFields"]] = nil
        c[path: ["metadata", "resourceVersion"]] = nil
        return c
    }

    /// The shared tail of update, patch and apply: read, transform, admit, detect no-ops, store.
    func writeUpdate(ctx: RequestContext, expectedRV: String?, manager: String,
                     apply: Bool = false, transform: (JSONValue) throws(APIError) -> JSONValue) throws(APIError) -> WriteResult {
        let def = ctx.def
        let name = ctx.route.name ?? ""
        let sub = ctx.route.subresource
        let dry = isDryRun(ctx.request)
        return try store.with { (s: inout StoreState) throws(APIError) -> WriteResult in
            guard let existing = s.get(def.storageKey, namespace: ctx.route.namespace, name: name) else {
                throw APIError.notFound(def.plural, group: def.group, name: name)
            }
            if let expectedRV, expectedRV != String(existing.rv) {
                throw APIError.conflict(def.plural, group: def.group, name: name)
            }
            let old = EventConversion.present(existing.value, def)
            let incoming = try transform(old)
            var new = apply ? incoming : merged(old: old, incoming: incoming, def: def, subresource: sub)
            if sub != "status", apply {
                // Apply results are computed on the whole object; server-owned metadata stays.
                var meta = new["metadata"]?.objectValue ?? [:]
                let oldMeta = old["metadata"]?.objectValue ?? [:]
                for k in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "selfLink"] {
                    meta[k] = oldMeta[k]
                }
                new["metadata"] = .object(meta)
                if def.hasStatus { new["status"] = old["status"] }
            }
            if def.plural == "customresourcedefinitions" && sub != "status" {
                try CRDLifecycle.prepare(&new)
                new["status"] = old["status"]
            }
            try admit(&new, def: def, old: old)
            if def.usesGeneration, LabAPI.specPart(new) != LabAPI.specPart(old) {
                let g = old[path: ["metadata", "generation"]]?.intValue ?? 1
                new[path: ["metadata", "generation"]] = .int(g + 1)
            }
            if !apply {
                new[path: ["metadata", "managedFields"]] = FieldOwnership.recordUpdate(
                    old: old, new: new, manager: manager, subresource: sub, apiVersion: def.apiVersion,
                    now: LabAPI.timestamp(), schema: def.schema, isCustom: def.isCustom)
            }
            if LabAPI.withoutVolatile(new) == LabAPI.withoutVolatile(old) {
                // No-op write: same resourceVersion, no event (managedFields kept as stored).
                if new[path: ["metadata", "managedFields"]] == old[path: ["metadata", "managedFields"]] || !apply {
                    return .stored(existing, created: false)
                }
            }
            if dry {
                return .dryRun(new, created: false)
            }
            let finalizers = new[path: ["metadata", "finalizers"]]?.arrayValue ?? []
            if new[path: ["metadata", "deletionTimestamp"]] != nil && finalizers.isEmpty {
                s.put(def, EventConversion.storage(new, def), type: .modified, previous: existing.value)
                let gone = s.remove(def, namespace: ctx.route.namespace, name: name)
                if let gone { GarbageCollector.collect(&s, deleted: gone.value, policy: "Background") }
                return .deleted(gone ?? existing)
            }
            let stored = s.put(def, EventConversion.storage(new, def), type: .modified, previous: existing.value)
            if def.plural == "customresourcedefinitions" { CRDLifecycle.refresh(&s) }
            return .stored(stored, created: false)
        }
    }
}
