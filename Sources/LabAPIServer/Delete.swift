import Foundation
import JSON

extension LabAPI {
    struct DeleteOptions {
        var uid: String?
        var resourceVersion: String?
        var propagationPolicy: String?
        var dryRun = false
    }

    func deleteOptions(_ ctx: RequestContext) throws(APIError) -> DeleteOptions {
        var o = DeleteOptions()
        if ctx.request.body.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) {
            let v: JSONValue
            do { v = try JSONValue.parse(ctx.request.body) } catch {
                throw APIError.badRequest("the object provided is unrecognized (must be of type DeleteOptions): couldn't get version/kind; json parse error: \(error.message) (\(LabAPI.bodySnippet(ctx.request.body)))")
            }
            o.uid = v[path: ["preconditions", "uid"]]?.stringValue
            o.resourceVersion = v[path: ["preconditions", "resourceVersion"]]?.stringValue
            o.propagationPolicy = v["propagationPolicy"]?.stringValue
            if let d = v["dryRun"]?.arrayValue, d.contains("All") { o.dryRun = true }
        }
        if let p = ctx.request.queryValue("propagationPolicy") { o.propagationPolicy = p }
        if isDryRun(ctx.request) { o.dryRun = true }
        if let p = o.propagationPolicy, !["Orphan", "Background", "Foreground"].contains(p) {
            throw APIError.invalid(kind: "DeleteOptions", group: "meta.k8s.io", name: "", causes: [APICause(
                reason: "FieldValueNotSupported", message: "Unsupported value: \"\(p)\": supported values: \"Foreground\", \"Background\", \"Orphan\"",
                field: "propagationPolicy")])
        }
        return o
    }

    enum DeleteResult { case gone(StoredObject), terminating(StoredObject), unchanged(StoredObject) }

    /// Deletes one object under the lock (finalizers, propagation, garbage collection, CRD clean-up).
    static func delete(_ s: inout StoreState, def: ResourceDef, namespace: String, name: String, options: DeleteOptions) throws(APIError) -> DeleteResult {
        guard let existing = s.get(def.storageKey, namespace: namespace, name: name) else {
            throw APIError.notFound(def.plural, group: def.group, name: name)
        }
        let uid = existing.value[path: ["metadata", "uid"]]?.stringValue ?? ""
        if let pu = options.uid, pu != uid {
            throw APIError.conflict(kindOrPlural: def.kind, group: def.group, name: name,
                                    reason: "the UID in the precondition (\(pu)) does not match the UID in record (\(uid)). The object might have been deleted and then recreated")
        }
        if let prv = options.resourceVersion, prv != String(existing.rv) {
            throw APIError.conflict(kindOrPlural: def.kind, group: def.group, name: name,
                                    reason: "the ResourceVersion in the precondition (\(prv)) does not match the ResourceVersion in record (\(existing.rv)). The object might have been modified")
        }
        var value = existing.value
        var finalizers = value[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []
        if def.plural == "customresourcedefinitions" && !finalizers.contains(CRDLifecycle.finalizer) {
            finalizers.append(CRDLifecycle.finalizer)
        }
        switch options.propagationPolicy {
        case "Foreground": if !finalizers.contains("foregroundDeletion") { finalizers.append("foregroundDeletion") }
        case "Orphan": if !finalizers.contains("orphan") { finalizers.append("orphan") }
        default: break
        }
        if finalizers.isEmpty {
            if options.dryRun { return .gone(existing) }
            if def.plural == "namespaces" && def.group.isEmpty && s.garbageCollection {
                // The namespace controller: everything in the namespace goes first.
                NamespaceCleanup.deleteContents(&s, namespace: name)
            }
            guard let gone = s.remove(def, namespace: namespace, name: name) else { throw APIError.notFound(def.plural, group: def.group, name: name) }
            GarbageCollector.collect(&s, deleted: gone.value, policy: options.propagationPolicy ?? "Background")
            return .gone(gone)
        }
        if value[path: ["metadata", "deletionTimestamp"]] != nil {
            return .unchanged(existing)
        }
        if options.dryRun { return .unchanged(existing) }
        let previous = value
        value[path: ["metadata", "finalizers"]] = .array(finalizers.map { .string($0) })
        value[path: ["metadata", "deletionTimestamp"]] = .string(LabAPI.timestamp())
        value[path: ["metadata", "deletionGracePeriodSeconds"]] = .int(0)
        if def.isCustom {
            let g = value[path: ["metadata", "generation"]]?.intValue ?? 1
            value[path: ["metadata", "generation"]] = .int(g + 1)
        }
        if def.plural == "customresourcedefinitions" {
            return .terminating(CRDLifecycle.terminate(&s, crd: value, previous: previous))
        }
        let stored = s.put(def, value, type: .modified, previous: previous)
        // The emulated garbage collector acts on its own finalizers at once.
        if s.garbageCollection && (finalizers.contains("orphan") || finalizers.contains("foregroundDeletion")) {
            let policy = finalizers.contains("orphan") ? "Orphan" : "Foreground"
            GarbageCollector.processDependents(&s, owner: stored.value, policy: policy)
            var cleaned = stored.value
            let remaining = finalizers.filter { $0 != "orphan" && $0 != "foregroundDeletion" }
            cleaned[path: ["metadata", "finalizers"]] = remaining.isEmpty ? nil : .array(remaining.map { .string($0) })
            if remaining.isEmpty {
                if let gone = s.remove(def, namespace: namespace, name: name) { return .gone(gone) }
            } else {
                return .terminating(s.put(def, cleaned, type: .modified, previous: stored.value))
            }
        }
        return .terminating(stored)
    }

    func deleteObject(_ ctx: RequestContext) throws(APIError) {
        let options = try deleteOptions(ctx)
        let def = ctx.def
        let name = ctx.route.name ?? ""
        let result = try store.with { (s: inout StoreState) throws(APIError) -> DeleteResult in
            try LabAPI.delete(&s, def: def, namespace: ctx.route.namespace, name: name, options: options)
        }
        switch result {
        case .gone(let obj):
            let uid = obj.value[path: ["metadata", "uid"]]?.stringValue
            var details: [String: JSONValue] = ["name": .string(name), "kind": .string(def.plural)]
            if !def.group.isEmpty { details["group"] = .string(def.group) }
            if let uid { details["uid"] = .string(uid) }
            let status: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "details": .object(details)]
            writeJSON(status, order: .goStruct, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID)
        case .terminating(let obj), .unchanged(let obj):
            writeObject(obj, def: def, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format)
        }
    }

    func deleteCollection(_ ctx: RequestContext) throws(APIError) {
        let options = try deleteOptions(ctx)
        let selection = try Selection.parse(ctx.request, def: ctx.def)
        let def = ctx.def
        let namespace = ctx.route.namespace
        let (deleted, rv) = try store.with { (s: inout StoreState) throws(APIError) -> ([StoredObject], Int64) in
            let targets = s.list(def.storageKey, namespace: namespace.isEmpty ? nil : namespace).filter { selection.matches($0.value) }
            var out: [StoredObject] = []
            for t in targets {
                switch try LabAPI.delete(&s, def: def, namespace: t.namespace, name: t.name, options: options) {
                case .gone(let o), .terminating(let o), .unchanged(let o): out.append(o)
                }
            }
            return (out, s.rv)
        }
        var meta: [String: JSONValue] = ["resourceVersion": .string(String(rv))]
        if def.isCustom { meta["continue"] = "" }
        writeJSON(listValue(deleted, def: def, meta: meta), order: def.keyOrder, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID)
    }
}

/// What kube-controller-manager's garbage collector would do, done synchronously inside the store.
enum GarbageCollector {
    /// After `deleted` is gone: dependents whose only owner it was are deleted (background), or orphaned.
    static func collect(_ s: inout StoreState, deleted: JSONValue, policy: String) {
        guard s.garbageCollection else { return }
        processDependents(&s, owner: deleted, policy: policy == "Orphan" ? "Orphan" : "Background")
    }

    static func processDependents(_ s: inout StoreState, owner: JSONValue, policy: String) {
        guard let uid = owner[path: ["metadata", "uid"]]?.stringValue else { return }
        var work: [(ResourceDef, StoredObject)] = []
        let defs = resourceDefs(s)
        for (key, objects) in s.objects {
            guard let def = defs[key] else { continue }
            for obj in objects.values {
                guard let refs = obj.value[path: ["metadata", "ownerReferences"]]?.arrayValue,
                      refs.contains(where: { $0["uid"]?.stringValue == uid }) else { continue }
                work.append((def, obj))
            }
        }
        for (def, obj) in work {
            guard let current = s.get(def.storageKey, namespace: obj.namespace, name: obj.name) else { continue }
            let refs = current.value[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
            let remaining = refs.filter { $0["uid"]?.stringValue != uid }
            if policy == "Orphan" || !remaining.isEmpty {
                var v = current.value
                v[path: ["metadata", "ownerReferences"]] = remaining.isEmpty ? nil : .array(remaining)
                s.put(def, v, type: .modified, previous: current.value)
            } else {
                _ = try? LabAPI.delete(&s, def: def, namespace: obj.namespace, name: obj.name, options: LabAPI.DeleteOptions())
            }
        }
    }

    static func resourceDefs(_ s: StoreState) -> [String: ResourceDef] {
        var defs: [String: ResourceDef] = [:]
        for d in BuiltinResources.all { defs[d.storageKey] = d }
        for d in s.customResources.values { defs[d.storageKey] = d }
        return defs
    }
}

/// What kube-controller-manager's namespace controller does when a namespace is deleted.
enum NamespaceCleanup {
    static func deleteContents(_ s: inout StoreState, namespace: String) {
        let defs = GarbageCollector.resourceDefs(s)
        for (key, objects) in s.objects {
            guard let def = defs[key], def.namespaced else { continue }
            for obj in objects.values where obj.namespace == namespace {
                s.remove(def, namespace: namespace, name: obj.name)
            }
        }
    }
}

/// The apiextensions-apiserver controllers: naming, establishing and clean-up of CRDs.
enum CRDLifecycle {
    static let finalizer = "customresourcecleanup.apiextensions.k8s.io"

    /// Defaults and checks the spec of a CRD being written.
    static func prepare(_ crd: inout JSONValue) throws(APIError) {
        let name = crd[path: ["metadata", "name"]]?.stringValue ?? ""
        var causes: [APICause] = []
        let group = crd[path: ["spec", "group"]]?.stringValue ?? ""
        let plural = crd[path: ["spec", "names", "plural"]]?.stringValue ?? ""
        let kind = crd[path: ["spec", "names", "kind"]]?.stringValue ?? ""
        if group.isEmpty { causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: "spec.group")) }
        if plural.isEmpty { causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: "spec.names.plural")) }
        if kind.isEmpty { causes.append(APICause(reason: "FieldValueRequired", message: "Required value", field: "spec.names.kind")) }
        if !group.isEmpty && !plural.isEmpty && name != "\(plural).\(group)" {
            causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(name)\": must be spec.names.plural+\".\"+spec.group", field: "metadata.name"))
        }
        let scope = crd[path: ["spec", "scope"]]?.stringValue ?? ""
        if scope != "Cluster" && scope != "Namespaced" {
            causes.append(APICause(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(scope)\": supported values: \"Cluster\", \"Namespaced\"", field: "spec.scope"))
        }
        var versions = crd[path: ["spec", "versions"]]?.arrayValue ?? []
        if versions.isEmpty {
            causes.append(APICause(reason: "FieldValueRequired", message: "Required value: must have exactly one version marked as storage version", field: "spec.versions"))
        } else if versions.filter({ $0["storage"]?.boolValue == true }).count != 1 {
            causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: must have exactly one version marked as storage version", field: "spec.versions"))
        }
        if !causes.isEmpty {
            throw APIError.invalid(kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", name: name, causes: causes)
        }
        for i in versions.indices {
            if var schema = versions[i][path: ["schema", "openAPIV3Schema"]] {
                stripValidations(&schema)
                versions[i][path: ["schema", "openAPIV3Schema"]] = schema
            }
        }
        crd[path: ["spec", "versions"]] = .array(versions)
        if crd[path: ["spec", "names", "singular"]] == nil { crd[path: ["spec", "names", "singular"]] = .string(kind.lowercased()) }
        if crd[path: ["spec", "names", "listKind"]] == nil { crd[path: ["spec", "names", "listKind"]] = .string(kind + "List") }
        if crd[path: ["spec", "conversion"]] == nil { crd[path: ["spec", "conversion"]] = ["strategy": "None"] }
        if crd["status"] == nil || crd["status"]?.isNull == true {
            let storage = versions.first { $0["storage"]?.boolValue == true }?["name"] ?? .null
            crd["status"] = ["conditions": .null, "acceptedNames": ["plural": "", "kind": ""], "storedVersions": [storage]]
        }
    }

    /// Kubernetes 1.24 drops `x-kubernetes-validations` (CEL) from stored schemas.
    static func stripValidations(_ v: inout JSONValue) {
        switch v {
        case .object(var o):
            v = .null
            o.removeValue(forKey: "x-kubernetes-validations")
            for k in Array(o.keys) { if var c = o[k] { stripValidations(&c); o[k] = c } }
            v = .object(o)
        case .array(var a):
            v = .null
            for i in a.indices { stripValidations(&a[i]) }
            v = .array(a)
        default: break
        }
    }

    static func condition(_ type: String, _ status: String, _ reason: String, _ message: String) -> JSONValue {
        ["type": .string(type), "status": .string(status), "lastTransitionTime": .string(LabAPI.timestamp()),
         "reason": .string(reason), "message": .string(message)]
    }

    /// NamesAccepted + Established, the clean-up finalizer, and serving of its resources.
    static func establish(_ s: inout StoreState, crd: StoredObject) {
        var v = crd.value
        v[path: ["status", "acceptedNames"]] = v[path: ["spec", "names"]]
        v[path: ["status", "conditions"]] = [
            condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
        ]
        s.put(BuiltinResources.crds, v, type: .modified, previous: crd.value)
        refresh(&s)
    }

    /// Recomputes the served custom resources from the stored, established CRDs.
    static func refresh(_ s: inout StoreState) {
        var served: [String: ResourceDef] = [:]
        for crd in s.list(BuiltinResources.crds.storageKey, namespace: nil) {
            let established = crd.value[path: ["status", "conditions"]]?.arrayValue?.contains {
                $0["type"]?.stringValue == "Established" && $0["status"]?.stringValue == "True"
            } ?? false
            guard established, crd.value[path: ["metadata", "deletionTimestamp"]] == nil else { continue }
            for d in ResourceDef.fromCRD(crd.value) { served["\(d.group)/\(d.version)/\(d.plural)"] = d }
        }
        s.customResources = served
    }

    /// CRD deletion: Terminating, instances deleted, then the CRD itself.
    static func terminate(_ s: inout StoreState, crd: JSONValue, previous: JSONValue) -> StoredObject {
        var v = crd
        var conditions = v[path: ["status", "conditions"]]?.arrayValue ?? []
        conditions.removeAll { $0["type"]?.stringValue == "Terminating" }
        conditions.append(condition("Terminating", "True", "InstanceDeletionPending", "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"))
        v[path: ["status", "conditions"]] = .array(conditions)
        let pending = s.put(BuiltinResources.crds, v, type: .modified, previous: previous)
        conditions.removeLast()
        conditions.append(condition("Terminating", "True", "InstanceDeletionInProgress", "CustomResource deletion is in progress"))
        v[path: ["status", "conditions"]] = .array(conditions)
        let terminating = s.put(BuiltinResources.crds, v, type: .modified, previous: pending.value)
        let defs = ResourceDef.fromCRD(v)
        if let def = defs.first {
            for obj in s.list(def.storageKey, namespace: nil) {
                s.remove(def, namespace: obj.namespace, name: obj.name)
            }
            s.objects.removeValue(forKey: def.storageKey)
            for q in s.watchers.values where q.storageKey == def.storageKey { q.close() }
        }
        var final = terminating.value
        let fin = (final[path: ["metadata", "finalizers"]]?.arrayValue ?? []).filter { $0.stringValue != finalizer }
        final[path: ["metadata", "finalizers"]] = fin.isEmpty ? nil : .array(fin)
        if fin.isEmpty {
            s.remove(BuiltinResources.crds, namespace: "", name: final[path: ["metadata", "name"]]?.stringValue ?? "")
        } else {
            s.put(BuiltinResources.crds, final, type: .modified, previous: terminating.value)
        }
        refresh(&s)
        return pending
    }
}
