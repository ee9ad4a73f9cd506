import Foundation
import JSON
import KubeCore

/// GET of one object.
extension LabAPI {
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
}
