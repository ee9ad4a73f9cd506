import Foundation
import JSON
import KubeCore

/// PATCH with a JSON patch, merge patch or strategic merge patch (server-side apply: Apply.swift).
extension LabAPI {
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
}
