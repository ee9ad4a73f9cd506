import Foundation
import JSON
import KubeCore

/// POST: create (also used by update's create-on-update for events and leases).
extension LabAPI {
    func createObject(_ ctx: RequestContext) throws(APIError) {
        try checkOptions(ctx.request, type: "CreateOptions")
        var obj = try decodeObject(ctx)
        let created = try create(&obj, ctx: ctx, manager: fieldManager(ctx.request), operationApply: false)
        if let created {
            writeObject(created, def: ctx.def, status: 201, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format)
        } else {
            writeFormatted(obj, def: ctx.def, status: 201, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format)
        }
    }

    /// Creates an object; nil for a dry run (then `obj` holds what would have been stored).
    func create(_ obj: inout JSONValue, ctx: RequestContext, manager: String, operationApply: Bool,
                applySubresource: String? = nil) throws(APIError) -> StoredObject? {
        let def = ctx.def
        var meta = obj["metadata"]?.objectValue ?? [:]
        if let rv = meta["resourceVersion"]?.stringValue, !rv.isEmpty {
            throw APIError.internalError("resourceVersion should not be set on objects to be created")
        }
        if def.namespaced {
            let bodyNS = meta["namespace"]?.stringValue ?? ""
            if !bodyNS.isEmpty && bodyNS != ctx.route.namespace {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            meta["namespace"] = .string(ctx.route.namespace)
        } else {
            meta.removeValue(forKey: "namespace")
        }
        var name = meta["name"]?.stringValue ?? ""
        if name.isEmpty {
            if let gen = meta["generateName"]?.stringValue, !gen.isEmpty {
                name = gen + LabAPI.randomSuffix()
                meta["name"] = .string(name)
            } else {
                throw APIError.invalid(kind: def.kind, group: def.group, name: "", causes: [APICause(
                    reason: "FieldValueRequired", message: "Required value: name or generateName is required", field: "metadata.name")])
            }
        }
        if let routeName = ctx.route.name, routeName != name {
            throw APIError.badRequest("the name of the object (\(name)) does not match the name on the URL (\(routeName))")
        }
        for k in ["uid", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "managedFields"] {
            meta.removeValue(forKey: k)
        }
        let now = LabAPI.timestamp()
        meta["uid"] = .string(UUID().uuidString.lowercased())
        meta["creationTimestamp"] = .string(now)
        if def.usesGeneration { meta["generation"] = .int(1) } else { meta.removeValue(forKey: "generation") }
        obj["metadata"] = .object(meta)
        if def.hasStatus && applySubresource != "status" { obj["status"] = nil }
        if def.plural == "customresourcedefinitions" { try CRDLifecycle.prepare(&obj) }
        try admit(&obj, def: def, old: nil)
        if !operationApply {
            obj[path: ["metadata", "managedFields"]] = FieldOwnership.recordUpdate(
                old: nil, new: obj, manager: manager, subresource: nil, apiVersion: def.apiVersion, now: now,
                schema: def.schema, isCustom: def.isCustom)
        }
        if isDryRun(ctx.request) { return nil }
        return try storeCreated(obj, name: name, ctx: ctx)
    }

    /// Stores a validated new object under a fresh resourceVersion: 404 when its namespace does not
    /// exist, 409 AlreadyExists when the name is taken (checked under the store lock).
    func storeCreated(_ obj: JSONValue, name: String, ctx: RequestContext) throws(APIError) -> StoredObject {
        let def = ctx.def
        let value = EventConversion.storage(obj, def)
        // Encoded here, outside the store lock; under it only the resourceVersion digits are spliced in.
        let prepared = PreparedObject(value, order: def.keyOrder, sizeHint: ctx.request.body.count + 1024)
        let ns = ctx.route.namespace
        return try store.with { (s: inout StoreState) throws(APIError) -> StoredObject in
            if def.namespaced, s.get(BuiltinResources.namespaces.storageKey, namespace: "", name: ns) == nil {
                throw APIError.notFound("namespaces", group: "", name: ns)
            }
            if s.get(def.storageKey, namespace: ns, name: name) != nil {
                throw APIError.alreadyExists(def.plural, group: def.group, name: name)
            }
            let stored = prepared.map { s.put(def, prepared: $0, type: .added, previous: nil) } ?? s.put(def, value, type: .added, previous: nil)
            if def.plural == "customresourcedefinitions" { CRDLifecycle.establish(&s, crd: stored) }
            return stored
        }
    }
}
