import Foundation
import JSON
import KubeCore

/// Server-side apply (PATCH with application/apply-patch+yaml).
extension LabAPI {
    func applyPatch(_ ctx: RequestContext) throws(APIError) {
        let def = ctx.def
        guard let manager = ctx.request.queryValue("fieldManager"), !manager.isEmpty else {
            throw APIError.invalid(kind: "PatchOptions", group: "meta.k8s.io", name: "", causes: [APICause(
                reason: "FieldValueRequired", message: "Required value: is required for apply patch", field: "fieldManager")])
        }
        let force = ctx.request.queryValue("force") == "true"
        var config: JSONValue
        do { config = try Wire.parseYAML(ctx.request.body) } catch {
            throw APIError.badRequest("error decoding YAML: \(error)")
        }
        guard config.objectValue != nil else { throw APIError.badRequest("error decoding YAML: the applied configuration is not an object") }
        let apiVersion = config["apiVersion"]?.stringValue ?? ""
        if apiVersion != def.apiVersion {
            throw APIError.badRequest("Incorrect version specified in apply patch. Specified patch version: \(apiVersion), expected: \(def.apiVersion)")
        }
        if config["kind"]?.stringValue != def.kind {
            let k = config["kind"]?.stringValue ?? ""
            throw APIError.badRequest("Incorrect kind specified in apply patch. Specified patch kind: \(k), expected: \(def.kind)")
        }
        if let n = config[path: ["metadata", "name"]]?.stringValue, !n.isEmpty, n != ctx.route.name {
            throw APIError.badRequest("the name of the object (\(n)) does not match the name on the URL (\(ctx.route.name ?? ""))")
        }
        // What the manager may set through this endpoint.
        if ctx.route.subresource == "status" {
            var c: JSONValue = ["apiVersion": config["apiVersion"] ?? .null, "kind": config["kind"] ?? .null]
            c["status"] = config["status"]
            c["metadata"] = config["metadata"]
            config = c
        } else if def.hasStatus {
            config["status"] = nil
        }
        if def.isCustom { SchemaValidation.prune(&config, schema: def.compiledSchema) }
        var cmeta = config["metadata"]?.objectValue ?? [:]
        for k in ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp", "namespace"] {
            cmeta.removeValue(forKey: k)
        }
        cmeta["name"] = .string(ctx.route.name ?? "")
        config["metadata"] = .object(cmeta)
        let now = LabAPI.timestamp()
        let sub = ctx.route.subresource
        let exists = store.locked { s in s.get(def.storageKey, namespace: ctx.route.namespace, name: ctx.route.name ?? "") != nil }
        if !exists {
            if sub != nil { throw APIError.notFound(def.plural, group: def.group, name: ctx.route.name ?? "") }
            var obj: JSONValue
            do throws(FieldOwnership.ApplyConflict) {
                obj = try FieldOwnership.apply(current: nil, config: config, manager: manager, subresource: nil, force: force,
                                               apiVersion: def.apiVersion, now: now, schema: def.schema, isCustom: def.isCustom)
            } catch { throw conflictError(error) }
            obj["apiVersion"] = .string(def.apiVersion)
            obj["kind"] = .string(def.kind)
            let managed = obj[path: ["metadata", "managedFields"]]
            obj[path: ["metadata", "managedFields"]] = nil
            var created: StoredObject?
            do {
                var o = obj
                o[path: ["metadata", "managedFields"]] = managed
                var meta = o["metadata"]?.objectValue ?? [:]
                meta.removeValue(forKey: "managedFields")
                o["metadata"] = .object(meta)
                // create() strips managedFields, so re-add the Apply entry after admission.
                created = try createApplied(&o, managed: managed, ctx: ctx)
                obj = o
            }
            if let created { writeObject(created, def: def, status: 201, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format) }
            else { writeFormatted(obj, def: def, status: 201, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format) }
            return
        }
        let result = try writeUpdate(ctx: ctx, expectedRV: nil, manager: manager, apply: true) { (old: JSONValue) throws(APIError) -> JSONValue in
            do throws(FieldOwnership.ApplyConflict) {
                return try FieldOwnership.apply(current: old, config: config, manager: manager, subresource: sub, force: force,
                                                apiVersion: def.apiVersion, now: now, schema: def.schema, isCustom: def.isCustom)
            } catch { throw self.conflictError(error) }
        }
        respondWrite(result, ctx: ctx)
    }

    func createApplied(_ obj: inout JSONValue, managed: JSONValue?, ctx: RequestContext) throws(APIError) -> StoredObject? {
        // Validate and fill server fields like a create, then store with the Apply managedFields entry.
        var copy = obj
        let def = ctx.def
        var meta = copy["metadata"]?.objectValue ?? [:]
        if def.namespaced { meta["namespace"] = .string(ctx.route.namespace) } else { meta.removeValue(forKey: "namespace") }
        meta["uid"] = .string(UUID().uuidString.lowercased())
        meta["creationTimestamp"] = .string(LabAPI.timestamp())
        if def.usesGeneration { meta["generation"] = .int(1) } else { meta.removeValue(forKey: "generation") }
        copy["metadata"] = .object(meta)
        if def.plural == "customresourcedefinitions" { try CRDLifecycle.prepare(&copy) }
        try admit(&copy, def: def, old: nil)
        copy[path: ["metadata", "managedFields"]] = managed
        obj = copy
        if isDryRun(ctx.request) { return nil }
        return try storeCreated(copy, name: ctx.route.name ?? "", ctx: ctx)
    }

    func conflictError(_ error: FieldOwnership.ApplyConflict) -> APIError {
        let c = error.conflicts
        func who(_ x: (manager: String, operation: String, apiVersion: String, path: [String])) -> String {
            x.operation == "Apply" ? "\"\(x.manager)\"" : "\"\(x.manager)\" using \(x.apiVersion)"
        }
        let message: String
        if c.count == 1 {
            message = "Apply failed with 1 conflict: conflict with \(who(c[0])): \(FieldOwnership.describe(c[0].path))"
        } else {
            var byManager: [String: [String]] = [:]
            var order: [String] = []
            for x in c {
                let w = who(x)
                if byManager[w] == nil { order.append(w) }
                byManager[w, default: []].append(FieldOwnership.describe(x.path))
            }
            let parts = order.map { w in "conflicts with \(w):\n" + (byManager[w] ?? []).map { "- \($0)" }.joined(separator: "\n") }
            message = "Apply failed with \(c.count) conflicts: " + parts.joined(separator: "\n")
        }
        let causes: [JSONValue] = c.map { x in
            ["reason": "FieldManagerConflict", "message": .string("conflict with \(who(x))"), "field": .string(FieldOwnership.describe(x.path))]
        }
        return APIError(code: 409, reason: "Conflict", message: message, details: ["causes": .array(causes)])
    }
}
