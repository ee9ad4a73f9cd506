import Foundation
import JSON
import KubeCore

extension LabAPI {
    // MARK: - Body decoding

    static func mediaType(_ request: LabRequest) -> String {
        let ct = request.header("Content-Type") ?? ""
        return ct.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }

    /// How apimachinery quotes a body it could not decode: a JSON-looking prefix as text, anything else in hex.
    static func bodySnippet(_ body: [UInt8]) -> String {
        if body.isEmpty { return "<empty>" }
        let trimmed = body.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if let first = trimmed.first, first == UInt8(ascii: "{") || first == UInt8(ascii: "["),
           let s = String(validating: body, as: UTF8.self) {
            return s.count > 30 ? String(s.prefix(30)) + " ..." : s
        }
        return body.prefix(64).map { String(format: "%02x", $0) }.joined()
    }

    /// The message Go's encoding/json gives for the same syntax error.
    static func goJSONError(_ error: JSONError, _ body: [UInt8]) -> String {
        let i = error.offset
        if i >= body.count || body[i...].allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return "unexpected end of JSON input"
        }
        let c = Character(Unicode.Scalar(body[i]))
        // Inside a literal (true/false/null): name the literal and the expected character.
        var start = i
        while start > 0, (body[start - 1] >= 0x61 && body[start - 1] <= 0x7A) { start -= 1 }
        for literal in ["true", "false", "null"] where start < i {
            let typed = Array(body[start..<i])
            let lit = Array(literal.utf8)
            if typed.count < lit.count, Array(lit.prefix(typed.count)) == typed {
                return "invalid character '\(c)' in literal \(literal) (expecting '\(Character(Unicode.Scalar(lit[typed.count])))')"
            }
        }
        if start == i, let lit = ["t": "true", "f": "false", "n": "null"][String(c)], i + 1 < body.count {
            let next = Character(Unicode.Scalar(body[i + 1]))
            let expected = Array(lit)[1]
            if next != expected { return "invalid character '\(next)' in literal \(lit) (expecting '\(expected)')" }
        }
        return "invalid character '\(c)' looking for beginning of value"
    }

    /// Decodes a create/update body (JSON or YAML) into an object.
    func decodeObject(_ ctx: RequestContext) throws(APIError) -> JSONValue {
        let media = LabAPI.mediaType(ctx.request)
        let body = ctx.request.body
        let value: JSONValue
        switch media {
        case "application/json", "":
            do { value = try JSONValue.parse(body) } catch {
                throw APIError.badRequest("the object provided is unrecognized (must be of type \(ctx.def.kind)): couldn't get version/kind; json parse error: \(LabAPI.goJSONError(error, body)) (\(LabAPI.bodySnippet(body)))")
            }
        case "application/yaml", "application/x-yaml", "text/yaml":
            do { value = try Wire.parseYAML(body) } catch {
                throw APIError.badRequest("the object provided is unrecognized (must be of type \(ctx.def.kind)): couldn't get version/kind; yaml parse error: \(error) (\(LabAPI.bodySnippet(body)))")
            }
        case "application/vnd.kubernetes.protobuf" where !ctx.def.isCustom:
            do { value = try Protobuf.decodeObject(body) } catch {
                throw APIError.badRequest("the object provided is unrecognized (must be of type \(ctx.def.kind)): \(error.message)")
            }
        default:
            throw APIError.unsupportedMediaType(media, supported: ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"])
        }
        guard case .object = value else {
            throw APIError.badRequest("the object provided is unrecognized (must be of type \(ctx.def.kind)): couldn't get version/kind; json parse error: json: cannot unmarshal \(SchemaValidation.jsonType(value)) into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" } (\(LabAPI.bodySnippet(body)))")
        }
        try checkKind(value, ctx: ctx, body: body)
        return value
    }

    func checkKind(_ value: JSONValue, ctx: RequestContext, body: [UInt8]) throws(APIError) {
        let def = ctx.def
        let kind = value["kind"]?.stringValue ?? ""
        let apiVersion = value["apiVersion"]?.stringValue ?? ""
        if kind.isEmpty {
            throw APIError.badRequest("\(def.kind) in version \"\(def.version)\" cannot be handled as a \(def.kind): Object 'Kind' is missing in '\(String(decoding: body, as: UTF8.self))'")
        }
        if apiVersion.isEmpty {
            throw APIError.badRequest("\(def.kind) in version \"\(def.version)\" cannot be handled as a \(def.kind): Object 'apiVersion' is missing in '\(String(decoding: body, as: UTF8.self))'")
        }
        if kind != def.kind {
            let name = value[path: ["metadata", "name"]]?.stringValue ?? ""
            throw APIError.invalid(kind: kind, group: def.group, name: name, causes: [
                APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(kind)\": must be \(def.kind)", field: "kind")])
        }
        let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
        if group != def.group {
            throw APIError.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(def.apiVersion))")
        }
    }

    func fieldManager(_ request: LabRequest) -> String {
        if let m = request.queryValue("fieldManager"), !m.isEmpty { return m }
        let ua = request.header("User-Agent") ?? ""
        let product = ua.split(separator: "/").first.map(String.init) ?? ""
        return String(product.prefix(128))
    }

    func checkOptions(_ request: LabRequest, type: String) throws(APIError) {
        if let fv = request.queryValue("fieldValidation"), !["", "Ignore", "Warn", "Strict"].contains(fv) {
            throw APIError.invalid(kind: type, group: "meta.k8s.io", name: "", causes: [APICause(
                reason: "FieldValueNotSupported",
                message: "Unsupported value: \"\(fv)\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"", field: "fieldValidation")])
        }
        if let dr = request.queryValue("dryRun"), dr != "All" && !dr.isEmpty {
            throw APIError.invalid(kind: type, group: "meta.k8s.io", name: "", causes: [APICause(
                reason: "FieldValueNotSupported", message: "Unsupported value: \"\(dr)\": supported values: \"All\"", field: "dryRun")])
        }
    }

    func isDryRun(_ request: LabRequest) -> Bool { request.queryValue("dryRun") == "All" }

    static let nameChars = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    static func randomSuffix() -> String {
        // The real generator avoids vowels and confusable digits.
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }

    // MARK: - Metadata validation

    func metadataCauses(_ obj: JSONValue, def: ResourceDef) -> [APICause] {
        var causes: [APICause] = []
        let meta = obj["metadata"] ?? .object([:])
        if let name = meta["name"]?.stringValue, !name.isEmpty {
            let error = def.plural == "namespaces" ? DNSNames.labelError(name) : DNSNames.subdomainError(name)
            if let error {
                causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(name)\": \(error)", field: "metadata.name"))
            }
        }
        if case .object(let labels)? = meta["labels"] {
            for k in labels.keys.sorted() {
                if let e = LabelSyntax.keyError(k) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(k)\": \(e)", field: "metadata.labels"))
                }
                if let v = labels[k]?.stringValue, let e = LabelSyntax.valueError(v) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(v)\": \(e)", field: "metadata.labels"))
                } else if labels[k]?.stringValue == nil {
                    causes.append(APICause(reason: "FieldValueTypeInvalid", message: "Invalid value: \"\(k)\": label values must be strings", field: "metadata.labels"))
                }
            }
        } else if let l = meta["labels"], !l.isNull {
            causes.append(APICause(reason: "FieldValueTypeInvalid", message: "Invalid value: \(SchemaValidation.describe(l)): must be a map of strings", field: "metadata.labels"))
        }
        if case .object(let ann)? = meta["annotations"] {
            for k in ann.keys.sorted() {
                if let e = LabelSyntax.keyError(k) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(k)\": \(e)", field: "metadata.annotations"))
                }
                if ann[k]?.stringValue == nil {
                    causes.append(APICause(reason: "FieldValueTypeInvalid", message: "Invalid value: \"\(k)\": annotation values must be strings", field: "metadata.annotations"))
                }
            }
        }
        if let owners = meta["ownerReferences"]?.arrayValue {
            var controllers = 0
            for (i, o) in owners.enumerated() {
                _ = i
                for (f, what) in [("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid")] where (o[f]?.stringValue ?? "").isEmpty {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\": \(what) must not be empty", field: "metadata.ownerReferences.\(f)"))
                }
                if o["controller"]?.boolValue == true { controllers += 1 }
            }
            if controllers > 1 {
                let names = owners.filter { $0["controller"]?.boolValue == true }.map { $0["name"]?.stringValue ?? "" }
                causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: []v1.OwnerReference{...}: Only one reference can have Controller set to true. Found \"true\" in references for \(names.joined(separator: " and "))", field: "metadata.ownerReferences"))
            }
        }
        if let fin = meta["finalizers"]?.arrayValue {
            for f in fin {
                guard let s = f.stringValue else {
                    causes.append(APICause(reason: "FieldValueTypeInvalid", message: "Invalid value: finalizers must be strings", field: "metadata.finalizers"))
                    continue
                }
                if let e = LabelSyntax.keyError(s) {
                    causes.append(APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(s)\": \(e)", field: "metadata.finalizers"))
                }
            }
        }
        return causes
    }

    /// Pruning, defaulting and validation of a new object state (create or update).
    func admit(_ obj: inout JSONValue, def: ResourceDef, old: JSONValue?) throws(APIError) {
        let name = obj[path: ["metadata", "name"]]?.stringValue ?? ""
        var causes = metadataCauses(obj, def: def)
        if def.isCustom {
            // prune, then SchemaDefaulting.apply: its null pruning done in the same walk.
            SchemaValidation.pruneDroppingNulls(&obj, schema: def.compiledSchema)
            SchemaDefaulting.applyDefaultsOnly(&obj, schema: def.compiledSchema)
            causes += SchemaValidation.validate(obj, schema: def.compiledSchema)
        } else {
            causes += BuiltinAdmission.admit(&obj, def: def, old: old)
        }
        if let old, old[path: ["metadata", "deletionTimestamp"]] != nil {
            let before = Set(old[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? [])
            let added = (obj[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []).filter { !before.contains($0) }
            if !added.isEmpty {
                // The real server reports this twice (metadata validation runs for update and for the strategy).
                for _ in 0..<2 { causes.append(APICause(reason: "FieldValueForbidden",
                                       message: "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\(added.map { "\"\($0)\"" }.joined(separator: ", "))}",
                                       field: "metadata.finalizers")) }
            }
        }
        if !causes.isEmpty {
            // Events of both groups are validated as the internal core Event (no group in the error).
            throw APIError.invalid(kind: def.kind, group: def.plural == "events" ? "" : def.group, name: name, causes: causes)
        }
    }

    // MARK: - get

    func getObject(_ ctx: RequestContext) throws(APIError) {
        let name = ctx.route.name ?? ""
        // A get with a resourceVersion is served by kube-apiserver's watch cache, which waits for it like a list.
        let requested = Int64(ctx.request.queryValue("resourceVersion") ?? "") ?? 0
        if requested > 0 { waitForResourceVersion(requested, ctx) }
        let obj = try store.with { (s: inout StoreState) throws(APIError) -> StoredObject? in
            if requested > s.rv { throw APIError.resourceVersionTooLarge(requested: requested, current: s.rv) }
            return s.get(ctx.def.storageKey, namespace: ctx.route.namespace, name: name)
        }
        guard let obj else { throw APIError.notFound(ctx.def.plural, group: ctx.def.group, name: name) }
        writeObject(obj, def: ctx.def, request: ctx.request, sink: ctx.sink, auditID: ctx.auditID, format: ctx.format)
    }

    // MARK: - create

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

    // MARK: - update

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

    // MARK: - patch

    func patchObject(_ ctx: RequestContext) throws(APIError) {
        try checkOptions(ctx.request, type: "PatchOptions")
        let media = LabAPI.mediaType(ctx.request)
        let def = ctx.def
        let body = ctx.request.body
        let manager = fieldManager(ctx.request)
        var accepted = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
        if !def.isCustom { accepted.insert("application/strategic-merge-patch+json", at: 2) }
        guard accepted.contains(media) else {
            throw APIError.unsupportedMediaType(media, supported: accepted)
        }
        switch media {
        case "application/apply-patch+yaml":
            try applyPatch(ctx)
            return
        case "application/json-patch+json":
            let ops: JSONValue
            do { ops = try JSONValue.parse(body) } catch { throw APIError.badRequest("error decoding patch: \(error.message)") }
            guard let list = ops.arrayValue else {
                throw APIError.badRequest("json: cannot unmarshal \(SchemaValidation.jsonType(ops)) into Go value of type jsonpatch.Patch")
            }
            let result = try writeUpdate(ctx: ctx, expectedRV: nil, manager: manager) { (old: JSONValue) throws(APIError) -> JSONValue in
                let patched: JSONValue
                do { patched = try Patching.jsonPatch(old, list) } catch {
                    throw APIError(code: 422, reason: "Invalid", message: "the server rejected our request due to an error in our request", details: .object([:]))
                }
                try self.checkPatchedRV(patched, old: old, def: def, name: ctx.route.name ?? "")
                return patched
            }
            respondWrite(result, ctx: ctx)
        default:
            let patch: JSONValue
            do { patch = try JSONValue.parse(body) } catch { throw APIError.badRequest("Invalid JSON Patch") }
            guard patch.objectValue != nil else { throw APIError.badRequest("Invalid JSON Patch") }
            let strategic = media == "application/strategic-merge-patch+json"
            let result = try writeUpdate(ctx: ctx, expectedRV: nil, manager: manager) { (old: JSONValue) throws(APIError) -> JSONValue in
                let patched = strategic ? Patching.strategicPatch(old, patch) : Patching.mergePatch(old, patch)
                try self.checkPatchedRV(patched, old: old, def: def, name: ctx.route.name ?? "")
                return patched
            }
            respondWrite(result, ctx: ctx)
        }
    }

    func checkPatchedRV(_ patched: JSONValue, old: JSONValue, def: ResourceDef, name: String) throws(APIError) {
        let rv = patched[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        if !rv.isEmpty, rv != old[path: ["metadata", "resourceVersion"]]?.stringValue {
            throw APIError.conflict(def.plural, group: def.group, name: name)
        }
        if let k = patched["kind"]?.stringValue, k != def.kind {
            throw APIError.invalid(kind: k, group: def.group, name: name, causes: [
                APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(k)\": must be \(def.kind)", field: "kind")])
        }
    }

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
        let value = EventConversion.storage(copy, def)
        let prepared = PreparedObject(value, order: def.keyOrder, sizeHint: ctx.request.body.count + 1024)
        let ns = ctx.route.namespace
        let name = ctx.route.name ?? ""
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
