import Foundation
import JSON
import KubeCore
import Synchronization

/// One authorization rule: who may do what. `"*"` matches anything.
///
/// The lab's authorizer: members of `system:masters` may do everything; any authenticated user may
/// read discovery, `/version`, `/healthz`, `/readyz`, `/livez` and `/openapi`; anonymous users only the
/// health and version endpoints; everything else needs a rule.
public struct AuthorizationRule: Sendable, Codable, Hashable {
    /// User names the rule applies to.
    public var users: [String]?
    /// Groups the rule applies to.
    public var groups: [String]?
    /// Verbs: get, list, watch, create, update, patch, delete, deletecollection, or `*`.
    public var verbs: [String]
    /// API groups (`""` for core), or `*`.
    public var apiGroups: [String]
    /// Resources (`nodes`, `nodes/status`, `widgets`), or `*`.
    public var resources: [String]
    /// Namespaces the rule is limited to (nil: all, including cluster-scoped).
    public var namespaces: [String]?

    public init(users: [String]? = nil, groups: [String]? = nil, verbs: [String], apiGroups: [String],
                resources: [String], namespaces: [String]? = nil) {
        self.users = users; self.groups = groups; self.verbs = verbs; self.apiGroups = apiGroups
        self.resources = resources; self.namespaces = namespaces
    }

    func allows(_ user: LabUser, verb: String, group: String, resource: String, namespace: String) -> Bool {
        let subject = (users?.contains(user.name) ?? false) || (users?.contains("*") ?? false)
            || (groups.map { g in g.contains("*") || user.groups.contains { g.contains($0) } } ?? false)
        guard subject else { return false }
        guard verbs.contains("*") || verbs.contains(verb) else { return false }
        guard apiGroups.contains("*") || apiGroups.contains(group) else { return false }
        guard resources.contains("*") || resources.contains(resource) else { return false }
        if let namespaces { return namespaces.contains(namespace) || namespaces.contains("*") }
        return true
    }
}

/// Configuration of the API semantics (no transport).
public struct LabAPIConfiguration: Sendable {
    /// Bearer tokens and the users they authenticate.
    public var tokens: [String: LabUser] = [:]
    /// Authorization rules beyond `system:masters`.
    public var rules: [AuthorizationRule] = []
    /// How many changes watches can resume from (older resourceVersions get 410 Expired).
    public var historyLimit: Int = 20_000
    /// Largest accepted request body (413 beyond).
    public var maxBodyBytes: Int = 3 * 1024 * 1024
    /// Emulate kube-controller-manager's garbage collector: dependents of a deleted owner are deleted
    /// (or orphaned), and the `foregroundDeletion`/`orphan` finalizers are processed at once. Off, the
    /// server behaves like a bare kube-apiserver (as recorded in the traces): objects stay terminating.
    public var garbageCollection: Bool = true
    /// Serve `SelfSubjectReview` (`authentication.k8s.io/v1`, Kubernetes 1.28+); false answers
    /// 404 like an older server.
    public var servesSelfSubjectReview: Bool = true
    /// Seconds between the BOOKMARK events of a watch that asked for them (kube-apiserver: about
    /// 60). Tests shorten it to tell a quiet watch from a dead connection quickly.
    public var bookmarkInterval: TimeInterval = 60
    /// Serve `resource.k8s.io/v1` (Dynamic Resource Allocation, Kubernetes 1.34+); false behaves
    /// like an older server, where the group is not there at all.
    public var servesResourceAPI: Bool = true
    /// How long a read at a resourceVersion the store has not reached waits for it before the 504
    /// `ResourceVersionTooLarge` (kube-apiserver's watch cache blocks 3 s). Internal: tests shorten it.
    var resourceVersionWait: TimeInterval = 3
    public init() {}
}

/// The Kubernetes API semantics of the lab server, independent of sockets: give it a request and a sink.
///
/// ```swift
/// let api = LabAPI(configuration: .init())
/// let admin = LabUser(name: "admin", groups: ["system:masters"])
/// let r = api.perform(LabRequest(method: "GET", path: "/api/v1/namespaces", clientCertificate: admin))
/// print(r.status)   // 200
/// ```
public final class LabAPI: Sendable {
    let store: Store
    let configuration: LabAPIConfiguration
    /// Every write answered, with who asked and when.
    public let audit = AuditLog()
    private let stopping = Atomic<Bool>(false)
    let startTime = Date()

    public init(configuration: LabAPIConfiguration) {
        self.configuration = configuration
        self.store = Store(historyLimit: configuration.historyLimit)
        let now = LabAPI.timestamp()
        try? store.with { (s: inout StoreState) throws(APIError) in
            s.garbageCollection = configuration.garbageCollection
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let obj: JSONValue = [
                    "kind": "Namespace", "apiVersion": "v1",
                    "metadata": ["name": .string(ns), "uid": .string(UUID().uuidString.lowercased()), "creationTimestamp": .string(now),
                                 "labels": ["kubernetes.io/metadata.name": .string(ns)]],
                    "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Active"],
                ]
                s.put(BuiltinResources.namespaces, obj, type: .added, previous: nil)
            }
        }
    }

    /// Ends every open watch (server shutdown).
    public func shutdown() {
        stopping.store(true, ordering: .relaxed)
        store.locked { s in for q in s.watchers.values { q.close() } }
    }

    /// Handles a request, answering on `sink` (blocking the calling thread for watches).
    public func handle(_ request: LabRequest, sink: any LabResponseSink) {
        let auditID = UUID().uuidString.lowercased()
        guard AuditLog.isWrite(request.method) else {
            do {
                try dispatch(request, sink: sink, auditID: auditID)
            } catch {
                writeError(error, request: request, sink: sink, auditID: auditID)
            }
            return
        }
        let received = Date()
        let recording = StatusRecordingSink(sink)
        do {
            try dispatch(request, sink: recording, auditID: auditID)
        } catch {
            writeError(error, request: request, sink: recording, auditID: auditID)
        }
        let user = (try? authenticate(request))?.name ?? "system:anonymous"
        audit.append(AuditRecord(received: received, completed: Date(), user: user, userAgent: request.header("User-Agent") ?? "",
                                 method: request.method, path: request.path, status: recording.status))
    }

    /// Handles a non-streaming request and returns the whole response (watches end at their timeout).
    public func perform(_ request: LabRequest) -> LabResponse {
        let sink = CollectingSink()
        handle(request, sink: sink)
        return sink.response
    }

    // MARK: - Responses

    static func timestamp(_ date: Date = Date()) -> String { KubeTime.format(date) }

    func baseHeaders(_ auditID: String, contentType: String) -> [(name: String, value: String)] {
        [("Audit-Id", auditID), ("Cache-Control", "no-cache, private"), ("Content-Type", contentType)]
    }

    static func wantsPretty(_ request: LabRequest) -> Bool {
        if let p = request.queryValue("pretty") { return p == "true" || p == "1" }
        let ua = request.header("User-Agent") ?? ""
        return ua.hasPrefix("curl") || ua.hasPrefix("Wget") || ua.hasPrefix("Mozilla/5.0")
    }

    func writeError(_ error: APIError, request: LabRequest, sink: any LabResponseSink, auditID: String) {
        if let text = error.plainText {
            var h = baseHeaders(auditID, contentType: "text/plain; charset=utf-8")
            h.append(("X-Content-Type-Options", "nosniff"))
            let body = Array(text.utf8)
            h.append(("Content-Length", String(body.count)))
            sink.writeHead(status: error.code, headers: h)
            _ = sink.writeBody(body)
            sink.finish()
            return
        }
        var h = baseHeaders(auditID, contentType: "application/json")
        h.append(contentsOf: error.headers.map { (name: $0.0, value: $0.1) })
        let body = Wire.encode(error.status, order: .goStruct, pretty: LabAPI.wantsPretty(request), newline: true)
        h.append(("Content-Length", String(body.count)))
        sink.writeHead(status: error.code, headers: h)
        _ = sink.writeBody(body)
        sink.finish()
    }

    func writeJSON(_ value: JSONValue, status: Int = 200, order: KeyOrder, request: LabRequest, sink: any LabResponseSink,
                   auditID: String, extraHeaders: [(name: String, value: String)] = [], format: OutputFormat = .json) {
        let body: [UInt8]
        var contentType = "application/json"
        if case .yaml = format {
            body = Wire.encodeYAML(value)
            contentType = "application/yaml"
        } else {
            body = Wire.encode(value, order: order, pretty: LabAPI.wantsPretty(request), newline: true)
        }
        writeBytes(body, status: status, contentType: contentType, sink: sink, auditID: auditID, extraHeaders: extraHeaders)
    }

    func writeBytes(_ body: [UInt8], status: Int = 200, contentType: String = "application/json", sink: any LabResponseSink,
                    auditID: String, extraHeaders: [(name: String, value: String)] = []) {
        var h = baseHeaders(auditID, contentType: contentType)
        h.append(contentsOf: extraHeaders)
        h.append(("Content-Length", String(body.count)))
        sink.writeHead(status: status, headers: h)
        _ = sink.writeBody(body)
        sink.finish()
    }

    /// Writes one stored object: the cached compact bytes when possible.
    func writeObject(_ object: StoredObject, def: ResourceDef, status: Int = 200, request: LabRequest, sink: any LabResponseSink,
                     auditID: String, format: OutputFormat) {
        var value = EventConversion.present(object.value, def)
        if value["apiVersion"]?.stringValue != def.apiVersion || EventConversion.isConverted(def) {
            value["apiVersion"] = .string(def.apiVersion)
            return writeFormatted(value, def: def, status: status, request: request, sink: sink, auditID: auditID, format: format)
        }
        if case .json = format, !LabAPI.wantsPretty(request) {
            var body = object.bytes
            body.append(0x0A)
            writeBytes(body, status: status, sink: sink, auditID: auditID, extraHeaders: warningHeaders(def))
            return
        }
        writeFormatted(value, def: def, status: status, request: request, sink: sink, auditID: auditID, format: format)
    }

    func writeFormatted(_ value: JSONValue, def: ResourceDef, status: Int = 200, request: LabRequest, sink: any LabResponseSink,
                        auditID: String, format: OutputFormat) {
        switch format {
        case .table(let include):
            let table = Tables.table(for: [value], def: def, includeObject: include, listMeta: nil)
            writeJSON(table, status: status, order: .goStruct, request: request, sink: sink, auditID: auditID, extraHeaders: warningHeaders(def))
        case .partialMetadata:
            let partial: JSONValue = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": value["metadata"] ?? [:]]
            writeJSON(partial, status: status, order: .goStruct, request: request, sink: sink, auditID: auditID, extraHeaders: warningHeaders(def))
        default:
            writeJSON(value, status: status, order: def.keyOrder, request: request, sink: sink, auditID: auditID,
                      extraHeaders: warningHeaders(def), format: format)
        }
    }

    func warningHeaders(_ def: ResourceDef) -> [(name: String, value: String)] {
        guard let w = def.deprecationWarning else { return [] }
        return [("Warning", "299 - \"\(w)\"")]
    }

    // MARK: - Authentication and authorization

    func authenticate(_ request: LabRequest) throws(APIError) -> LabUser {
        if let auth = request.header("Authorization") {
            let parts = auth.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let token = parts[1].trimmingCharacters(in: .whitespaces)
                if let user = configuration.tokens[token] {
                    var u = user
                    if !u.groups.contains("system:authenticated") { u.groups.append("system:authenticated") }
                    return u
                }
            }
            throw APIError.unauthorized()
        }
        if var user = request.clientCertificate {
            if !user.groups.contains("system:authenticated") { user.groups.append("system:authenticated") }
            return user
        }
        return LabUser(name: "system:anonymous", groups: ["system:unauthenticated"])
    }

    func isAllowed(_ user: LabUser, verb: String, group: String, resource: String, namespace: String) -> Bool {
        if user.groups.contains("system:masters") { return true }
        return configuration.rules.contains { $0.allows(user, verb: verb, group: group, resource: resource, namespace: namespace) }
    }

    func authorize(_ user: LabUser, verb: String, def: ResourceDef, namespace: String, name: String?, subresource: String?) throws(APIError) {
        let resource = subresource.map { "\(def.plural)/\($0)" } ?? def.plural
        if isAllowed(user, verb: verb, group: def.group, resource: resource, namespace: namespace) { return }
        let scope = namespace.isEmpty ? "at the cluster scope" : "in the namespace \"\(namespace)\""
        let nameText = name.map { "\"\($0)\" " } ?? ""
        var e = APIError(code: 403, reason: "Forbidden",
                         message: "\(def.qualifiedPlural) \(nameText)is forbidden: User \"\(user.name)\" cannot \(verb) resource \"\(resource)\" in API group \"\(def.group)\" \(scope)",
                         details: APIError.details(name: name, group: def.group, kind: def.plural))
        e.headers = [("X-Content-Type-Options", "nosniff")]
        throw e
    }

    func authorizeNonResource(_ user: LabUser, path: String) throws(APIError) {
        let publicPaths = ["/healthz", "/livez", "/readyz", "/version"]
        if publicPaths.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) { return }
        if user.groups.contains("system:authenticated") || user.groups.contains("system:masters") { return }
        var e = APIError(code: 403, reason: "Forbidden", message: "forbidden: User \"\(user.name)\" cannot get path \"\(path)\"",
                         details: .object([:]))
        e.headers = [("X-Content-Type-Options", "nosniff")]
        throw e
    }

    /// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` (`kubectl auth whoami`): who the
    /// request's credentials authenticate as, with the token file's UID and extras. Not listed in
    /// discovery; served to every authenticated user, as the real server's `system:basic-user` does.
    func reviewSelf(_ request: LabRequest, user: LabUser, sink: any LabResponseSink, auditID: String) throws(APIError) {
        guard request.method == "POST" else { throw APIError.methodNotAllowed(request.method) }
        guard user.groups.contains("system:authenticated") else {
            var e = APIError(code: 403, reason: "Forbidden",
                             message: "selfsubjectreviews.authentication.k8s.io is forbidden: User \"\(user.name)\" cannot create resource \"selfsubjectreviews\" in API group \"authentication.k8s.io\" at the cluster scope",
                             details: APIError.details(name: nil, group: "authentication.k8s.io", kind: "selfsubjectreviews"))
            e.headers = [("X-Content-Type-Options", "nosniff")]
            throw e
        }
        // A SelfSubjectReview carries no input: kubectl sends it as protobuf, which is accepted
        // unread; a JSON body must at least be a SelfSubjectReview.
        if !request.body.isEmpty, request.header("Content-Type")?.contains("json") ?? true {
            let body: JSONValue
            do { body = try JSONValue.parse(request.body) } catch {
                throw APIError.badRequest("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml")
            }
            guard case .object = body else { throw APIError.badRequest("the body of the request must be a SelfSubjectReview object") }
            if let kind = body["kind"]?.stringValue, kind != "SelfSubjectReview" {
                throw APIError.badRequest("the body of the request is a \(kind), not a SelfSubjectReview")
            }
        }
        var info: [String: JSONValue] = [
            "username": .string(user.name),
            "groups": .array(user.groups.map { .string($0) }),
        ]
        if let uid = user.uid, !uid.isEmpty { info["uid"] = .string(uid) }
        if let extra = user.extra, !extra.isEmpty {
            info["extra"] = .object(extra.mapValues { .array($0.map { .string($0) }) })
        }
        let review: JSONValue = [
            "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": ["creationTimestamp": .string(LabAPI.timestamp())],
            "status": ["userInfo": .object(info)],
        ]
        writeJSON(review, status: 201, order: .goStruct, request: request, sink: sink, auditID: auditID)
    }

    // MARK: - Routing

    struct ResourceRoute {
        var def: ResourceDef
        var namespace: String
        var name: String?
        var subresource: String?
        var watchPrefix: Bool
    }

    private func dispatch(_ request: LabRequest, sink: any LabResponseSink, auditID: String) throws(APIError) {
        let user = try authenticate(request)
        if request.body.count > configuration.maxBodyBytes { throw APIError.tooLarge() }
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        // Non-resource endpoints.
        if segments.isEmpty || ["version", "healthz", "livez", "readyz", "openapi"].contains(segments[0])
            || (segments[0] == "api" && segments.count <= 2) || (segments[0] == "apis" && segments.count <= 3) {
            try authorizeNonResource(user, path: request.path)
            if request.method != "GET" && request.method != "HEAD" {
                if segments.first == "api" || segments.first == "apis" {
                    if segments.count == 3 || (segments.first == "api" && segments.count == 2) { throw APIError.methodNotAllowed(request.method) }
                }
                throw APIError.pageNotFound()
            }
            try serveNonResource(segments, request: request, sink: sink, auditID: auditID)
            return
        }
        if configuration.servesSelfSubjectReview, segments == ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"] {
            try reviewSelf(request, user: user, sink: sink, auditID: auditID)
            return
        }
        let route = try resolve(segments)
        let verb: String
        switch request.method {
        case "GET", "HEAD":
            if route.name == nil {
                let w = request.queryValue("watch")
                verb = (route.watchPrefix || w == "1" || w == "true") ? "watch" : "list"
            } else {
                verb = route.watchPrefix ? "watch" : "get"
            }
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = route.name == nil ? "deletecollection" : "delete"
        default: throw APIError.methodNotAllowed(request.method)
        }
        if verb == "create" && route.def.namespaced && route.namespace.isEmpty {
            throw route.def.isCustom ? APIError.pageNotFound() : APIError.genericNotFound()
        }
        try authorize(user, verb: verb, def: route.def, namespace: route.namespace, name: route.name, subresource: route.subresource)
        let format = try outputFormat(request, def: route.def)
        let ctx = RequestContext(request: request, route: route, user: user, sink: sink, auditID: auditID, format: format)
        switch verb {
        case "get": try getObject(ctx)
        case "list": try listObjects(ctx)
        case "watch": try watchObjects(ctx)
        case "create":
            if route.name != nil { throw APIError.methodNotAllowed(request.method) }
            try createObject(ctx)
        case "update":
            guard route.name != nil else { throw APIError.badRequest("name must be provided") }
            try updateObject(ctx)
        case "patch":
            guard route.name != nil else { throw APIError.badRequest("name must be provided") }
            try patchObject(ctx)
        case "delete": try deleteObject(ctx)
        case "deletecollection": try deleteCollection(ctx)
        default: throw APIError.methodNotAllowed(request.method)
        }
    }

    struct RequestContext {
        var request: LabRequest
        var route: ResourceRoute
        var user: LabUser
        var sink: any LabResponseSink
        var auditID: String
        var format: OutputFormat
        var def: ResourceDef { route.def }
    }

    /// Resolves an API path to a resource, or the real server's 404 for a miss.
    func resolve(_ segments: [String]) throws(APIError) -> ResourceRoute {
        var rest: ArraySlice<String>
        let group: String, version: String
        if segments[0] == "api" {
            guard segments.count >= 3, segments[1] == "v1" else { throw APIError.pageNotFound() }
            group = ""; version = "v1"; rest = segments[2...]
        } else if segments[0] == "apis" {
            guard segments.count >= 4 else { throw APIError.pageNotFound() }
            group = segments[1]; version = segments[2]; rest = segments[3...]
        } else {
            throw APIError.pageNotFound()
        }
        let builtinGroup = BuiltinResources.builtinGroups.contains(group) && (group != ResourceAPI.group || configuration.servesResourceAPI)
        let miss: APIError = builtinGroup ? APIError.genericNotFound() : APIError.pageNotFound()
        var watchPrefix = false
        if rest.first == "watch" { watchPrefix = true; rest = rest.dropFirst() }
        var namespace = ""
        var parts = Array(rest)
        if parts.first == "namespaces", parts.count >= 2 {
            if parts.count == 2 || (parts.count == 3 && (parts[2] == "status" || parts[2] == "finalize")) {
                // The namespace object itself.
            } else {
                namespace = parts[1]
                parts = Array(parts.dropFirst(2))
            }
        }
        guard !parts.isEmpty, parts.count <= 3 else { throw miss }
        let plural = parts[0]
        let def: ResourceDef? = store.locked { s in
            if let d = self.builtinResources.first(where: { $0.group == group && $0.version == version && $0.plural == plural }) { return d }
            return s.customResources["\(group)/\(version)/\(plural)"]
        }
        guard let def else { throw miss }
        if def.namespaced == false && !namespace.isEmpty { throw miss }
        if def.namespaced && namespace.isEmpty && parts.count > 1 { throw miss }
        let name = parts.count >= 2 ? parts[1] : nil
        let sub = parts.count == 3 ? parts[2] : nil
        if let sub {
            if sub != "status" || !def.hasStatus {
                // Unknown subresource: the real server answers the object's NotFound (or 404 when it exists).
                throw APIError.notFound(def.plural, group: def.group, name: name ?? "")
            }
        }
        return ResourceRoute(def: def, namespace: namespace, name: name, subresource: sub, watchPrefix: watchPrefix)
    }

    enum OutputFormat { case json, yaml, table(includeObject: String), partialMetadata }

    func outputFormat(_ request: LabRequest, def: ResourceDef) throws(APIError) -> OutputFormat {
        guard let accept = request.header("Accept"), !accept.isEmpty else { return .json }
        for part in accept.split(separator: ",") {
            let items = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let media = items.first?.lowercased() else { continue }
            var params: [String: String] = [:]
            for p in items.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2 { params[kv[0]] = kv[1] }
            }
            if media == "application/json" || media == "*/*" || media == "application/*" {
                if let asKind = params["as"] {
                    if asKind == "Table" && params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
                        return .table(includeObject: request.queryValue("includeObject") ?? "Metadata")
                    }
                    if (asKind == "PartialObjectMetadata" || asKind == "PartialObjectMetadataList") && params["g"] == "meta.k8s.io" {
                        return .partialMetadata
                    }
                    continue
                }
                return .json
            }
            if media == "application/yaml" { return .yaml }
        }
        throw APIError(code: 406, reason: "NotAcceptable",
                       message: "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf")
    }
}
