import Foundation
import JSON
import Testing
@testable import LabAPIServer

/// Differential replay of the recorded kube-apiserver exchanges: every trace, in recording order,
/// against one fresh lab API (sans-I/O), comparing status codes and the meaningful body parts.
@Suite struct TraceReplayTests {
    /// Traces whose recorded answer the lab deliberately does not reproduce, with the reason.
    static let knownDivergences: [String: String] = [
        "002-crd-watch-until-established.txt": "recorded while the CRDs were being created by another client; replayed after they exist",
        "016-openapi-v2-widget-excerpt.txt": "the lab serves a minimal OpenAPI v2 document (kubectl uses v3)",
        "018-openapi-v3-example.com-v1-excerpt.txt": "recorded body is an excerpt",
        "093-list-resourceversion-0.txt": "watch-cache ordering is unspecified",
        "094-list-resourceversion-0-limit.txt": "watch-cache ordering is unspecified",
        "095-list-resourceversion-exact.txt": "no MVCC history: lists are served from the current state",
        "096-list-resourceversion-notolderthan.txt": "kube-apiserver compares with its widget watch cache's resourceVersion (279, the last widget write), the lab with its store's: 300 came from a quorum LIST (a global revision) that the lab's store has reached, so the lab serves the list",
        "195-http-protobuf-accept-for-cr.txt": "the 406 is encoded as JSON, not protobuf",
        "202-list-expired-continue-token.txt": "no etcd compaction: continue tokens never expire",
        "203-list-continue-inconsistent-token.txt": "depends on 202's compaction",
        "204-list-resourceversion-exact-compacted.txt": "no etcd compaction",
        "144-node-patch-status-invalid-quantity.txt": "kube-apiserver's 422 for a patched object that does not decode has an empty name, no details name/kind, one cause with field \"patch\" and quotes the whole patched object; the lab names the object and the field (status.capacity[example.com/foo]) with the same error text",
        "172-lease-patch-microtime-precision.txt": "kube-apiserver's 422 for a patched object that does not decode has an empty name, no details name/group/kind, one cause with field \"patch\" and quotes the whole patched object; the lab names the object and the field (spec.renewTime) with the same Go time.Parse text",
        "173-lease-patch-bad-time.txt": "as 172: the lab names the object and spec.renewTime instead of quoting the whole patched object under field \"patch\"; same Go time.Parse text",
        "150-ownerref-two-controllers.txt": "the message quotes Go pointer values",
        "185-http2-get.txt": "HTTP/2 is not offered (ALPN http/1.1 only)",
        "186-http2-watch.txt": "HTTP/2 is not offered (ALPN http/1.1 only)",
    ]

    static let tokens: [String: LabUser] = [
        "nobody-token": LabUser(name: "nobody", groups: []),
        "agent-token": LabUser(name: "system:serviceaccount:automagic-system:automagic-agent",
                               groups: ["system:serviceaccounts", "system:serviceaccounts:automagic-system"]),
    ]

    /// Recorded resourceVersions and generated names translated to this run's.
    final class Mapping {
        var rv: [Int64: Int64] = [:]
        var names: [String: String] = [:]
        var uids: [String: String] = [:]
        /// The largest resourceVersion any recorded response carries: a requested one beyond it was in the
        /// future of the whole recording (098's 999999) and stays in the future here, untranslated.
        var recordedMax: Int64 = .max

        func mapRV(_ s: String) -> String {
            guard let r = Int64(s), r != 0, r <= recordedMax else { return s }
            if let m = rv[r] { return String(m) }
            if let lower = rv.keys.filter({ $0 < r }).max(), let m = rv[lower] { return String(m) }
            return s
        }

        func learn(expected: JSONValue, actual: JSONValue) {
            if let e = expected[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ Int64($0) }),
               let a = actual[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ Int64($0) }) {
                rv[e] = a
            }
            if let e = expected[path: ["metadata", "uid"]]?.stringValue, let a = actual[path: ["metadata", "uid"]]?.stringValue { uids[e] = a }
            if expected[path: ["metadata", "generateName"]] != nil,
               let e = expected[path: ["metadata", "name"]]?.stringValue, let a = actual[path: ["metadata", "name"]]?.stringValue {
                names[e] = a
            }
            let ei = expected["items"]?.arrayValue ?? [], ai = actual["items"]?.arrayValue ?? []
            if ei.count == ai.count { for (e, a) in zip(ei, ai) { learn(expected: e, actual: a) } }
        }

        func translate(_ body: [UInt8]) -> [UInt8] {
            let original: JSONValue
            do {
                original = try JSONValue.parse(body)
            } catch {
                return body  // YAML, protobuf, or malformed on purpose: sent as recorded
            }
            var v = original
            if let r = v[path: ["metadata", "resourceVersion"]]?.stringValue { v[path: ["metadata", "resourceVersion"]] = .string(mapRV(r)) }
            if let r = v[path: ["preconditions", "resourceVersion"]]?.stringValue { v[path: ["preconditions", "resourceVersion"]] = .string(mapRV(r)) }
            if let u = v[path: ["preconditions", "uid"]]?.stringValue, let m = uids[u] { v[path: ["preconditions", "uid"]] = .string(m) }
            if let u = v[path: ["metadata", "uid"]]?.stringValue, let m = uids[u] { v[path: ["metadata", "uid"]] = .string(m) }
            if let ops = v.arrayValue {
                v = .array(ops.map { op in
                    var o = op
                    if op["path"]?.stringValue == "/metadata/resourceVersion", let r = op["value"]?.stringValue { o["value"] = .string(mapRV(r)) }
                    return o
                })
            }
            return v == original ? body : v.serialized()
        }
    }

    func request(for ex: TraceExchange, mapping: Mapping) -> LabRequest {
        var headers = ex.requestHeaders.filter { $0.name.lowercased() != "authorization" && $0.name.lowercased() != "host" }
        var cert: LabUser? = LabUser(name: "kubernetes-admin", groups: ["system:masters"])
        if ex.authentication.hasPrefix("Authorization: Bearer") {
            cert = nil
            let token = ex.authentication.contains("does not know") ? "bogus" : (ex.authentication.contains("automagic-agent") ? "agent-token" : "nobody-token")
            headers.append((name: "Authorization", value: "Bearer \(token)"))
        } else if ex.authentication.hasPrefix("none") {
            cert = nil
        }
        var query = ex.query.map { item -> (name: String, value: String) in
            if item.name == "resourceVersion" { return (name: item.name, value: mapping.mapRV(item.value)) }
            if item.name == "continue" {
                do {
                    let token = try LabAPI.decodeContinue(item.value)
                    let start = mapping.names[token.start] ?? token.start
                    return (name: item.name, value: LabAPI.encodeContinue(rv: Int64(mapping.mapRV(String(token.rv))) ?? token.rv, start: start))
                } catch {
                    return item  // not a token of this replay (a malformed one, sent on purpose): as recorded
                }
            }
            return item
        }
        var path = ex.path
        for (e, a) in mapping.names { path = path.replacingOccurrences(of: "/\(e)", with: "/\(a)") }
        if ex.isWatch {
            query.removeAll { $0.name == "timeoutSeconds" }
            query.append((name: "timeoutSeconds", value: "0"))
        }
        let ct = ex.requestHeaders.first { $0.name.lowercased() == "content-type" }?.value ?? ""
        let body = ct.contains("json") ? mapping.translate(ex.requestBody) : ex.requestBody
        return LabRequest(method: ex.method, path: path, query: query, headers: headers, body: body, clientCertificate: cert)
    }

    @Test func replayAllTraces() throws {
        var config = LabAPIConfiguration()
        config.tokens = Self.tokens
        config.historyLimit = 100
        config.garbageCollection = false   // the recording had no kube-controller-manager
        let api = LabAPI(configuration: config)
        let admin = LabUser(name: "kubernetes-admin", groups: ["system:masters"])
        let files = try Traces.files()
        #expect(files.count >= 200, "expected the trace files in \(Traces.directory)")
        var report: [String] = []
        let mapping = Mapping()
        mapping.recordedMax = try Traces.maxResponseResourceVersion(files)
        var compared = 0
        var matched = 0
        for file in files {
            if file.hasPrefix("001-") {
                for name in ["widgets.example.com.yaml", "gadgets.example.com.yaml"] {
                    let body = try Traces.manifest(name).serialized()
                    let r = api.perform(LabRequest(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                                   query: [(name: "fieldManager", value: "kubectl-client-side-apply")],
                                                   headers: [(name: "Content-Type", value: "application/json")], body: body, clientCertificate: admin))
                    #expect(r.status == 201, "bootstrap \(name): \(r.text)")
                }
                continue
            }
            if file.hasPrefix("138-") {
                // Someone cleared the finalizers of the terminating widgets before the node was created.
                for name in ["w-fg", "w-orphan"] {
                    let r = api.perform(LabRequest(method: "PATCH", path: "/apis/example.com/v1/widgets/\(name)",
                                                   headers: [(name: "Content-Type", value: "application/merge-patch+json")],
                                                   body: Array(#"{"metadata":{"finalizers":null}}"#.utf8), clientCertificate: admin))
                    #expect(r.status == 200, "clear finalizers of \(name): \(r.text)")
                }
                let body = try Traces.manifest("node-a.yaml").serialized()
                let r = api.perform(LabRequest(method: "POST", path: "/api/v1/nodes", query: [(name: "fieldManager", value: "kubectl-create")],
                                               headers: [(name: "Content-Type", value: "application/json")], body: body, clientCertificate: admin))
                #expect(r.status == 201, "bootstrap node-a: \(r.text)")
                continue
            }
            // Objects created by requests the recorder did not keep.
            let unrecorded: [String: [JSONValue]] = [
                "126-": [["metadata": ["name": "w-batch-1", "labels": ["batch": "old"]]], ["metadata": ["name": "w-batch-2", "labels": ["batch": "old"]]]],
                "127-": [["metadata": ["name": "w-fin", "finalizers": ["example.com/cleanup"]]]],
                "135-": [["metadata": ["name": "w-fg"]]],
                "136-": [["metadata": ["name": "w-orphan"]]],
            ]
            for (prefix, objects) in unrecorded where file.hasPrefix(prefix) {
                for var o in objects {
                    o["apiVersion"] = "example.com/v1"; o["kind"] = "Widget"; o["spec"] = ["size": 1, "color": "red"]
                    let r = api.perform(LabRequest(method: "POST", path: "/apis/example.com/v1/widgets",
                                                   headers: [(name: "Content-Type", value: "application/json")], body: o.serialized(), clientCertificate: admin))
                    #expect(r.status == 201, "bootstrap \(file): \(r.text)")
                }
            }
            if file.hasPrefix("113-") {
                // What another client did while 112's watch was open (its ACTIONS section): a PATCH of w-big
                // (object rv 319) and one of w1 (object rv 320). Between the recorded states (w1's MODIFIED event
                // in 112 and its previous one in 115, w-big's ADDED in 114) each only gained the label touched=yes.
                for (name, recordedRV) in [("w-big", Int64(319)), ("w1", Int64(320))] {
                    let r = api.perform(LabRequest(method: "PATCH", path: "/apis/example.com/v1/widgets/\(name)",
                                                   headers: [(name: "Content-Type", value: "application/merge-patch+json"), (name: "User-Agent", value: "curl/7.88.1")],
                                                   body: Array(#"{"metadata":{"labels":{"touched":"yes"}}}"#.utf8), clientCertificate: admin))
                    #expect(r.status == 200, "112's recorded PATCH of \(name): \(r.text)")
                    if let actual = r.json?[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ Int64($0) }) { mapping.rv[recordedRV] = actual }
                }
            }
            if file.hasPrefix("107-") {
                // g2 was created in team-a by a request the recorder did not keep.
                let g2: JSONValue = ["apiVersion": "example.com/v1", "kind": "Gadget", "metadata": ["name": "g2"], "spec": ["model": "g-200", "count": 2]]
                let r = api.perform(LabRequest(method: "POST", path: "/apis/example.com/v1/namespaces/team-a/gadgets",
                                               headers: [(name: "Content-Type", value: "application/json")], body: g2.serialized(), clientCertificate: admin))
                #expect(r.status == 201, "bootstrap g2: \(r.text)")
            }
            guard let ex = try Traces.parse(file) else { continue }
            let started = Date()
            let response = api.perform(request(for: ex, mapping: mapping))
            let elapsed = Date().timeIntervalSince(started)
            compared += 1
            var diffs: [String] = []
            if response.status != ex.status { diffs.append("status: expected \(ex.status), got \(response.status)") }
            if ex.status == 504, response.status == 504 {
                // ResourceVersionTooLarge: answered after the watch cache's 3 s wait (the default), with Retry-After.
                if elapsed < 2.9 { diffs.append("answered after \(elapsed) s instead of ~3 s") }
                if response.header("Retry-After") != ex.responseHeader("Retry-After") {
                    diffs.append("Retry-After: expected \(ex.responseHeader("Retry-After") ?? "none"), got \(response.header("Retry-After") ?? "none")")
                }
            }
            let expectedType = ex.responseHeader("Content-Type") ?? ""
            if !ex.isWatch, !expectedType.isEmpty, response.status == ex.status,
               (response.header("Content-Type") ?? "").split(separator: ";").first != expectedType.split(separator: ";").first {
                diffs.append("content-type: expected \(expectedType), got \(response.header("Content-Type") ?? "none")")
            }
            if !ex.isWatch, expectedType.hasPrefix("application/json"), response.status == ex.status {
                do {
                    let expected = try JSONValue.parse(ex.responseBody)
                    if let actual = response.json {
                        mapping.learn(expected: expected, actual: actual)
                        diffs += TraceComparison.differences(expected: expected, actual: actual, nameMap: mapping.names)
                    } else {
                        diffs.append("body is not JSON: \(response.text.prefix(200))")
                    }
                } catch {
                    diffs.append("the recorded JSON body does not parse (\(error))")
                }
            }
            if diffs.isEmpty {
                matched += 1
            } else if Self.knownDivergences[file] == nil {
                report.append("\(file): " + diffs.joined(separator: "; "))
            }
        }
        #expect(compared >= 200)
        if !report.isEmpty {
            let text = "\(report.count) trace(s) diverge (matched \(matched)/\(compared)):\n" + report.joined(separator: "\n")
            Issue.record(Comment(rawValue: text))
        }
    }
}
