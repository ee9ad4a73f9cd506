import Foundation
import JSON

extension LabAPI {
    /// All served resources: built-ins first, then established CRD resources.
    func servedResources() -> [ResourceDef] {
        let custom = store.locked { s in Array(s.customResources.values) }
        return builtinResources + custom.sorted { ($0.group, $0.version, $0.plural) < ($1.group, $1.version, $1.plural) }
    }

    /// group → versions (in CRD order: the first listed is preferred).
    func groupVersions() -> [(group: String, versions: [String])] {
        var result: [(String, [String])] = BuiltinResources.groupOrder.filter {
            switch $0.0 {
            case ResourceAPI.group: configuration.servesResourceAPI
            case BuiltinResources.authenticationGroup: configuration.servesSelfSubjectReview
            default: true
            }
        }
        let custom = store.locked { s -> [(String, [String], Int64)] in
            var byGroup: [String: ([String], Int64)] = [:]
            for crd in s.list(BuiltinResources.crds.storageKey, namespace: nil) {
                guard isEstablished(crd.value), let g = crd.value[path: ["spec", "group"]]?.stringValue else { continue }
                let versions = crd.value[path: ["spec", "versions"]]?.arrayValue?.filter { $0["served"]?.boolValue != false }
                    .compactMap { $0["name"]?.stringValue } ?? []
                var entry = byGroup[g] ?? ([], crd.rv)
                for v in versions where !entry.0.contains(v) { entry.0.append(v) }
                entry.1 = min(entry.1, crd.rv)
                byGroup[g] = entry
            }
            return byGroup.map { ($0.key, $0.value.0, $0.value.1) }
        }
        for (g, versions, _) in custom.sorted(by: { $0.2 < $1.2 }) where !result.contains(where: { $0.0 == g }) {
            result.append((g, versions.sorted(by: LabAPI.versionPrecedes)))
        }
        return result.map { (group: $0.0, versions: $0.1) }
    }

    /// Kubernetes' version ordering (apimachinery's `CompareKubeAwareVersionStrings`): whether `a` is
    /// preferred to `b`. Kube-like names (`v<n>`, `v<n>beta<m>`, `v<n>alpha<m>`) come first, GA before beta
    /// before alpha, then the higher major, then the higher minor; the others follow in byte order. The
    /// numbers are compared, never combined, so no name can overflow; one that does not fit an `Int`
    /// is not kube-like (as Go's `strconv.Atoi` fails on it).
    static func versionPrecedes(_ a: String, _ b: String) -> Bool {
        switch (KubeVersion(a), KubeVersion(b)) {
        case (nil, nil): return Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8))
        case (nil, _): return false
        case (_, nil): return true
        case (let x?, let y?):
            if x.stability != y.stability { return x.stability > y.stability }
            if x.major != y.major { return x.major > y.major }
            return x.minor > y.minor
        }
    }

    func isEstablished(_ crd: JSONValue) -> Bool {
        crd[path: ["status", "conditions"]]?.arrayValue?.contains {
            $0["type"]?.stringValue == "Established" && $0["status"]?.stringValue == "True"
        } ?? false
    }

    func groupJSON(_ group: String, _ versions: [String]) -> JSONValue {
        let vs: [JSONValue] = versions.map { ["groupVersion": .string("\(group)/\($0)"), "version": .string($0)] }
        return ["name": .string(group), "versions": .array(vs), "preferredVersion": vs.first ?? .null]
    }

    func serveNonResource(_ segments: [String], request: LabRequest, sink: any LabResponseSink, auditID: String) throws(APIError) {
        let first = segments.first ?? ""
        switch first {
        case "":
            var paths: [JSONValue] = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]
            for (g, vs) in groupVersions() {
                paths.append(.string("/apis/\(g)"))
                for v in vs { paths.append(.string("/apis/\(g)/\(v)")) }
            }
            writeJSON(["paths": .array(paths)], order: .goStruct, request: request, sink: sink, auditID: auditID)
        case "version":
            let v: JSONValue = [
                "major": "1", "minor": "24", "gitVersion": "v1.24.0+automagic-lab", "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2026-11-28T00:00:00Z", "goVersion": "go1.19.8", "compiler": "gc",
                "platform": "linux/amd64",
            ]
            let order = ["major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"]
            writeBytes(orderedObject(v, order, pretty: LabAPI.wantsPretty(request)), sink: sink, auditID: auditID)
        case "healthz", "livez", "readyz":
            var h: [(name: String, value: String)] = [("X-Content-Type-Options", "nosniff")]
            h.append(contentsOf: [])
            let verbose = request.query.contains { $0.name == "verbose" }
            let body: String
            if verbose {
                let checks = ["ping", "log", "etcd", "informer-sync", "poststarthook/start-apiextensions-controllers", "poststarthook/crd-informer-synced"]
                body = checks.map { "[+]\($0) ok" }.joined(separator: "\n") + "\n\(first) check passed\n"
            } else {
                body = "ok"
            }
            writeBytes(Array(body.utf8), contentType: "text/plain; charset=utf-8", sink: sink, auditID: auditID, extraHeaders: h)
        case "api":
            if segments.count == 1 {
                let v: JSONValue = ["kind": "APIVersions", "versions": ["v1"],
                                    "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"]]]
                writeBytes(orderedObject(v, ["kind", "versions", "serverAddressByClientCIDRs"], pretty: LabAPI.wantsPretty(request)),
                           sink: sink, auditID: auditID)
            } else if segments[1] == "v1" {
                writeResourceList(group: "", version: "v1", request: request, sink: sink, auditID: auditID)
            } else {
                throw APIError.pageNotFound()
            }
        case "apis":
            let gvs = groupVersions()
            if segments.count == 1 {
                let groups = gvs.map { groupJSON($0.group, $0.versions) }
                let v: JSONValue = ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
                writeJSON(v, order: .goStruct, request: request, sink: sink, auditID: auditID)
            } else if let gv = gvs.first(where: { $0.group == segments[1] }) {
                if segments.count == 2 {
                    var v = groupJSON(gv.group, gv.versions)
                    v["kind"] = "APIGroup"
                    v["apiVersion"] = "v1"
                    writeBytes(orderedObject(v, ["kind", "apiVersion", "name", "versions", "preferredVersion"], pretty: LabAPI.wantsPretty(request)),
                               sink: sink, auditID: auditID)
                } else if gv.versions.contains(segments[2]) {
                    writeResourceList(group: gv.group, version: segments[2], request: request, sink: sink, auditID: auditID)
                } else {
                    throw APIError.pageNotFound()
                }
            } else {
                throw APIError.pageNotFound()
            }
        case "openapi":
            try serveOpenAPI(segments, request: request, sink: sink, auditID: auditID)
        default:
            throw APIError.pageNotFound()
        }
    }

    /// Serializes a top-level object with a given key order (nested objects sorted).
    func orderedObject(_ v: JSONValue, _ order: [String], pretty: Bool) -> [UInt8] {
        guard case .object(let o) = v else { return Wire.encode(v, order: .sorted, newline: true) }
        var out: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        for k in order + o.keys.filter({ !order.contains($0) }).sorted() {
            guard let child = o[k] else { continue }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            if pretty { out.append(contentsOf: "\n  ".utf8) }
            Wire.writeString(k, into: &out)
            out.append(contentsOf: (pretty ? ": " : ":").utf8)
            Wire.write(child, order: .goStruct, context: .other, pretty: pretty, indent: 1, into: &out)
        }
        if pretty { out.append(0x0A) }
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    func writeResourceList(group: String, version: String, request: LabRequest, sink: any LabResponseSink, auditID: String) {
        let defs = servedResources().filter { $0.group == group && $0.version == version }
        var entries = defs.flatMap { $0.discoveryEntries() }
        if group == BuiltinResources.authenticationGroup, version == "v1", configuration.servesSelfSubjectReview {
            entries.append(BuiltinResources.selfSubjectReviewEntry)
        }
        let gv = group.isEmpty ? version : "\(group)/\(version)"
        let v: JSONValue = ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(gv), "resources": .array(entries)]
        // Resource entries keep the Go struct order of metav1.APIResource.
        let pretty = LabAPI.wantsPretty(request)
        var out: [UInt8] = []
        out.append(contentsOf: pretty ? "{\n  \"kind\": \"APIResourceList\",\n  \"apiVersion\": \"v1\",\n  \"groupVersion\": ".utf8
                                      : "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":".utf8)
        Wire.writeString(gv, into: &out)
        out.append(contentsOf: pretty ? ",\n  \"resources\": [".utf8 : ",\"resources\":[".utf8)
        let order = ["name", "singularName", "namespaced", "kind", "verbs", "shortNames", "categories", "storageVersionHash"]
        for (i, e) in entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            if pretty { out.append(contentsOf: "\n    ".utf8) }
            guard case .object(let o) = e else { continue }
            out.append(UInt8(ascii: "{"))
            var first = true
            for k in order {
                guard let c = o[k] else { continue }
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                if pretty { out.append(contentsOf: "\n      ".utf8) }
                Wire.writeString(k, into: &out)
                out.append(contentsOf: (pretty ? ": " : ":").utf8)
                Wire.write(c, order: .sorted, context: .other, pretty: pretty, indent: 3, into: &out)
            }
            if pretty { out.append(contentsOf: "\n    ".utf8) }
            out.append(UInt8(ascii: "}"))
        }
        if pretty && !entries.isEmpty { out.append(contentsOf: "\n  ".utf8) }
        out.append(contentsOf: (pretty ? "]\n}\n" : "]}\n").utf8)
        _ = v
        writeBytes(out, sink: sink, auditID: auditID)
    }

    // MARK: - OpenAPI

    /// A stable uppercase hex digest of a document (the `?hash=` of OpenAPI v3 URLs).
    static func digest(_ bytes: [UInt8]) -> String {
        var parts: [String] = []
        for seed in [UInt64(0xcbf29ce484222325), 0x84222325cbf29ce4, 0x9e3779b97f4a7c15, 0x0123456789abcdef] {
            var h = seed
            for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
            parts.append(String(format: "%016llX", h))
        }
        return parts.joined()
    }

    func openAPIPaths() -> [(key: String, defs: [ResourceDef])] {
        var byGV: [String: [ResourceDef]] = [:]
        for d in servedResources() {
            let key = d.group.isEmpty ? "api/v1" : "apis/\(d.group)/\(d.version)"
            byGV[key, default: []].append(d)
        }
        return byGV.keys.sorted().map { (key: $0, defs: byGV[$0] ?? []) }
    }

    func openAPIV3Document(_ defs: [ResourceDef]) -> JSONValue {
        var paths: [String: JSONValue] = [:]
        var schemas: [String: JSONValue] = [:]
        for d in defs {
            let gvk: JSONValue = ["group": .string(d.group), "version": .string(d.version), "kind": .string(d.kind)]
            let prefix = d.group.isEmpty ? "/api/v1" : "/apis/\(d.group)/\(d.version)"
            let collection = d.namespaced ? "\(prefix)/namespaces/{namespace}/\(d.plural)" : "\(prefix)/\(d.plural)"
            let schemaName = d.isCustom ? reverseDomain(d.group) + ".\(d.version).\(d.kind)"
                : "io.k8s.api.\(d.group.isEmpty ? "core" : d.group.split(separator: ".").first.map(String.init) ?? d.group).\(d.version).\(d.kind)"
            var schema = d.schema ?? ["type": "object", "x-kubernetes-preserve-unknown-fields": true]
            schema["x-kubernetes-group-version-kind"] = [gvk]
            schemas[schemaName] = schema
            let ref: JSONValue = ["$ref": .string("#/components/schemas/\(schemaName)")]
            let queryParams: [JSONValue] = ["dryRun", "fieldManager", "fieldValidation", "force"].map {
                ["name": .string($0), "in": "query", "schema": ["type": .string($0 == "force" ? "boolean" : "string")], "uniqueItems": true]
            }
            var patchTypes: [String: JSONValue] = [
                "application/json-patch+json": ["schema": ref], "application/merge-patch+json": ["schema": ref],
                "application/apply-patch+yaml": ["schema": ref],
            ]
            if !d.isCustom { patchTypes.removeValue(forKey: "application/apply-patch+yaml"); patchTypes["application/apply-patch+yaml"] = ["schema": ref] }
            let ok: JSONValue = ["200": ["description": "OK", "content": ["application/json": ["schema": ref]]]]
            let item: JSONValue = [
                "get": ["operationId": .string("read\(d.kind)"), "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get", "responses": ok],
                "put": ["operationId": .string("replace\(d.kind)"), "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "put",
                        "parameters": .array(queryParams.filter { $0["name"]?.stringValue != "force" }),
                        "requestBody": ["content": ["application/json": ["schema": ref]]], "responses": ok],
                "patch": ["operationId": .string("patch\(d.kind)"), "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                          "parameters": .array(queryParams), "requestBody": ["content": .object(patchTypes)], "responses": ok],
                "delete": ["operationId": .string("delete\(d.kind)"), "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "delete", "responses": ok],
                "parameters": [["name": "name", "in": "path", "required": true, "schema": ["type": "string"]]],
            ]
            paths["\(collection)/{name}"] = item
            paths[collection] = [
                "get": ["operationId": .string("list\(d.kind)"), "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "list", "responses": ok],
                "post": ["operationId": .string("create\(d.kind)"), "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "post",
                         "parameters": .array(queryParams.filter { $0["name"]?.stringValue != "force" }),
                         "requestBody": ["content": ["application/json": ["schema": ref]]], "responses": ok],
            ]
            if d.hasStatus {
                paths["\(collection)/{name}/status"] = [
                    "get": ["operationId": .string("read\(d.kind)Status"), "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get", "responses": ok],
                    "patch": ["operationId": .string("patch\(d.kind)Status"), "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                              "parameters": .array(queryParams), "requestBody": ["content": .object(patchTypes)], "responses": ok],
                ]
            }
        }
        return ["openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.24.0"], "paths": .object(paths),
                "components": ["schemas": .object(schemas)]]
    }

    func reverseDomain(_ group: String) -> String { group.split(separator: ".").reversed().joined(separator: ".") }

    func serveOpenAPI(_ segments: [String], request: LabRequest, sink: any LabResponseSink, auditID: String) throws(APIError) {
        if segments.count == 2 && segments[1] == "v2" {
            let accept = request.header("Accept") ?? ""
            if accept.contains("protobuf") {
                // An OpenAPI v2 Document holding only `swagger: "2.0"`: kubectl parses it and finds no
                // models, so it relies on the v3 documents (server-side field validation).
                writeBytes([0x0A, 0x03] + Array("2.0".utf8), contentType: "application/octet-stream", sink: sink, auditID: auditID)
            } else {
                let doc: JSONValue = ["swagger": "2.0", "info": ["title": "Kubernetes", "version": "v1.24.0"], "paths": [:], "definitions": [:]]
                writeBytes(Wire.encode(doc, order: .sorted), contentType: "text/plain; charset=utf-8", sink: sink, auditID: auditID)
            }
            return
        }
        guard segments.count >= 2, segments[1] == "v3" else { throw APIError.pageNotFound() }
        let groups = openAPIPaths()
        if segments.count == 2 {
            var paths: [String: JSONValue] = [:]
            for g in groups {
                let doc = Wire.encode(openAPIV3Document(g.defs), order: .sorted)
                paths[g.key] = ["serverRelativeURL": .string("/openapi/v3/\(g.key)?hash=\(LabAPI.digest(doc))")]
            }
            writeBytes(Wire.encode(["paths": .object(paths)], order: .sorted), contentType: "text/plain; charset=utf-8", sink: sink, auditID: auditID)
            return
        }
        let key = segments.dropFirst(2).joined(separator: "/")
        guard let g = groups.first(where: { $0.key == key }) else { throw APIError.pageNotFound() }
        let doc = Wire.encode(openAPIV3Document(g.defs), order: .sorted)
        var headers: [(name: String, value: String)] = [("Etag", "\"\(LabAPI.digest(doc))\""), ("Vary", "Accept")]
        if request.queryValue("hash") != nil {
            headers.append(("Expires", "Sun, 28 Nov 2027 00:00:00 UTC"))
        }
        var h = [(name: "Audit-Id", value: auditID),
                 (name: "Cache-Control", value: request.queryValue("hash") != nil ? "public, immutable" : "no-cache, private"),
                 (name: "Content-Type", value: "text/plain; charset=utf-8")]
        h.append(contentsOf: headers)
        h.append(("Content-Length", String(doc.count)))
        sink.writeHead(status: 200, headers: h)
        _ = sink.writeBody(doc)
        sink.finish()
    }
}

/// A version name of the form `v<major>` (GA), `v<major>beta<minor>` or `v<major>alpha<minor>`.
struct KubeVersion: Equatable {
    /// 2 GA, 1 beta, 0 alpha.
    var stability: Int
    var major: Int
    var minor: Int

    /// nil when `name` is not kube-like (including numbers too large for an `Int`).
    init?(_ name: String) {
        let bytes = Array(name.utf8)
        guard bytes.first == UInt8(ascii: "v") else { return nil }
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        var i = 1
        while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        guard i > 1, let major = Int(String(decoding: bytes[1..<i], as: UTF8.self)) else { return nil }
        self.major = major
        if i == bytes.count {
            stability = 2
            minor = 0
            return
        }
        let rest = String(decoding: bytes[i...], as: UTF8.self)
        let digits: Substring
        if rest.hasPrefix("beta") {
            stability = 1
            digits = rest.dropFirst(4)
        } else if rest.hasPrefix("alpha") {
            stability = 0
            digits = rest.dropFirst(5)
        } else {
            return nil
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy(isDigit), let minor = Int(digits) else { return nil }
        self.minor = minor
    }
}
