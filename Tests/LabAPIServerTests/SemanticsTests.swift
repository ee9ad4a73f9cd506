import Foundation
import JSON
import Testing
import TestSupport
@testable import LabAPIServer
import LabTesting

/// Runs a watch request on its own thread and collects its event lines (every line must be JSON).
func watch(_ api: LabAPI, _ path: String, query: [(String, String)], accept: String = "application/json",
           during: () -> Void = {}) throws -> [JSONValue] {
    let sink = CollectingSink()
    let request = LabRequest(method: "GET", path: path, query: query.map { (name: $0.0, value: $0.1) },
                             headers: [(name: "Accept", value: accept)], clientCertificate: admin)
    let done = DispatchSemaphore(value: 0)
    let t = Thread { api.handle(request, sink: sink); done.signal() }
    t.start()
    Thread.sleep(forTimeInterval: 0.2)
    during()
    done.wait()
    // Joined first: an event is not bound to one chunk.
    let text = String(decoding: sink.chunks.joined(), as: UTF8.self)
    return try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
}

@Suite struct WatchTests {
    @Test func eventsInOrderWithBookmarkAndCleanEnd() throws {
        let (api, client) = Fixtures.apiWithWidgets()
        let rv = client.currentRV()
        let events = try watch(api, "/apis/example.com/v1/widgets", query: [("watch", "1"), ("resourceVersion", rv), ("allowWatchBookmarks", "true"), ("timeoutSeconds", "3")]) {
            #expect(client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("w-watch")).status == 201)
            #expect(client.call("PATCH", "/apis/example.com/v1/widgets/w-watch", json: ["spec": ["size": 2]], contentType: "application/merge-patch+json").status == 200)
            #expect(client.call("DELETE", "/apis/example.com/v1/widgets/w-watch").status == 200)
        }
        let types = events.compactMap { $0["type"]?.stringValue }
        #expect(Array(types.prefix(3)) == ["ADDED", "MODIFIED", "DELETED"], "\(types)")
        #expect(types.last == "BOOKMARK", "\(types)")
        let bookmark = try #require(events.last)
        #expect(bookmark[path: ["object", "kind"]]?.stringValue == "Widget")
        #expect(bookmark[path: ["object", "metadata"]]?.objectValue?.keys.sorted() == ["resourceVersion"])
        let rvs = events.prefix(3).compactMap { Int($0[path: ["object", "metadata", "resourceVersion"]]?.stringValue ?? "") }
        #expect(rvs.count == 3 && rvs == rvs.sorted() && Set(rvs).count == 3, "resourceVersions must increase: \(rvs)")
    }

    @Test func initialStateWithoutResourceVersion() throws {
        let (api, client) = Fixtures.apiWithWidgets()
        #expect(client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("a")).status == 201)
        #expect(client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("b")).status == 201)
        let events = try watch(api, "/apis/example.com/v1/widgets", query: [("watch", "true"), ("timeoutSeconds", "1")])
        #expect(events.map { $0["type"]?.stringValue ?? "" } == ["ADDED", "ADDED"])
        #expect(Set(events.compactMap { $0[path: ["object", "metadata", "name"]]?.stringValue }) == ["a", "b"])
    }

    @Test func labelSelectorTransitionsBecomeAddedAndDeleted() throws {
        let (api, client) = Fixtures.apiWithWidgets()
        let rv = client.currentRV()
        let events = try watch(api, "/apis/example.com/v1/widgets", query: [("watch", "1"), ("resourceVersion", rv), ("labelSelector", "stage=live"), ("timeoutSeconds", "2")]) {
            _ = client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("w-sel", labels: ["stage": "draft"]))
            _ = client.call("PATCH", "/apis/example.com/v1/widgets/w-sel", json: ["metadata": ["labels": ["stage": "live"]]], contentType: "application/merge-patch+json")
            _ = client.call("PATCH", "/apis/example.com/v1/widgets/w-sel", json: ["spec": ["size": 5]], contentType: "application/merge-patch+json")
            _ = client.call("PATCH", "/apis/example.com/v1/widgets/w-sel", json: ["metadata": ["labels": ["stage": "retired"]]], contentType: "application/merge-patch+json")
            _ = client.call("DELETE", "/apis/example.com/v1/widgets/w-sel")
        }
        #expect(events.map { $0["type"]?.stringValue ?? "" } == ["ADDED", "MODIFIED", "DELETED"])
        // The DELETED for "stopped matching" carries the previous (matching) labels.
        #expect(events.last?[path: ["object", "metadata", "labels", "stage"]]?.stringValue == "live")
    }

    @Test func tooOldResourceVersionIsAnErrorEventNot410() throws {
        let (api, client) = Fixtures.apiWithWidgets { $0.historyLimit = 3 }
        for i in 0..<10 { _ = client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("w\(i)")) }
        let events = try watch(api, "/apis/example.com/v1/widgets", query: [("watch", "1"), ("resourceVersion", "2"), ("timeoutSeconds", "1")])
        #expect(events.count == 1)
        #expect(events.first?["type"]?.stringValue == "ERROR")
        #expect(events.first?[path: ["object", "code"]]?.intValue == 410)
        #expect(events.first?[path: ["object", "reason"]]?.stringValue == "Expired")
        #expect(events.first?[path: ["object", "message"]]?.stringValue?.hasPrefix("too old resource version: 2 (") == true)
    }

    @Test func tableWatchForKubectl() throws {
        let (api, client) = Fixtures.apiWithWidgets()
        _ = client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("t1", size: 9))
        let events = try watch(api, "/apis/example.com/v1/widgets", query: [("watch", "1"), ("timeoutSeconds", "1")],
                           accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        #expect(events.first?[path: ["object", "kind"]]?.stringValue == "Table")
        #expect(events.first?[path: ["object", "rows"]]?[0]?["cells"]?.arrayValue == ["t1", 9])
    }
}

@Suite struct BadInputTests {
    /// A protobuf body whose length prefix is forged beyond Int.max (or just beyond the body) is a
    /// 400 naming the truncation; it used to trap the server converting the length.
    @Test func forgedProtobufLengthsAreABadRequest() throws {
        let (_, client) = Fixtures.apiWithWidgets()
        let huge: [UInt8] = [0x6B, 0x38, 0x73, 0x00, 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        let short: [UInt8] = [0x6B, 0x38, 0x73, 0x00, 0x0A, 0x05, 0x01]
        for body in [huge, short] {
            let r = client.call("POST", "/api/v1/namespaces", body: body, contentType: "application/vnd.kubernetes.protobuf")
            #expect(r.status == 400 && r.text.contains("truncated protobuf envelope"), "\(r.text)")
        }
        #expect(client.call("GET", "/api/v1/namespaces").status == 200)
    }

    func unchanged(_ client: APIClient, _ body: () -> Void) {
        let before = client.currentRV()
        body()
        #expect(client.currentRV() == before, "a rejected request changed the store")
    }

    @Test func malformedJSONYAMLAndContentTypes() {
        let (_, client) = Fixtures.apiWithWidgets()
        unchanged(client) {
            let truncated = client.call("POST", "/apis/example.com/v1/widgets", body: Array(#"{"apiVersion": "example.com/v1", "kind"#.utf8))
            #expect(truncated.status == 400)
            #expect(truncated.json?["message"]?.stringValue?.contains("unexpected end of JSON input") == true, "\(truncated.text)")
            let garbage = client.call("POST", "/apis/example.com/v1/widgets", body: Array("this is not json".utf8))
            #expect(garbage.status == 400)
            #expect(garbage.json?["message"]?.stringValue?.contains("invalid character 'h' in literal true (expecting 'r')") == true, "\(garbage.text)")
            let yaml = client.call("POST", "/apis/example.com/v1/widgets", body: Array("kind: [unclosed\n  - x: {".utf8), contentType: "application/yaml")
            #expect(yaml.status == 400, "\(yaml.text)")
            let text = client.call("POST", "/apis/example.com/v1/widgets", body: Array("hello".utf8), contentType: "text/plain")
            #expect(text.status == 415)
            #expect(text.json?["reason"]?.stringValue == "UnsupportedMediaType")
            let strategic = client.call("PATCH", "/apis/example.com/v1/widgets/x", json: [:], contentType: "application/strategic-merge-patch+json")
            #expect(strategic.status == 415)
            let badMerge = client.call("PATCH", "/apis/example.com/v1/widgets/x", body: Array("{".utf8), contentType: "application/merge-patch+json")
            #expect(badMerge.status == 400 && badMerge.json?["message"]?.stringValue == "Invalid JSON Patch")
        }
    }

    @Test func yamlAliasBombIsRejectedQuickly() {
        let (_, client) = Fixtures.apiWithWidgets()
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<12 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        yaml += "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: bomb\nspec: *a11\n"
        let start = Date()
        unchanged(client) {
            let r = client.call("POST", "/apis/example.com/v1/widgets", body: Array(yaml.utf8), contentType: "application/yaml")
            #expect(r.status == 400, "\(r.text.prefix(300))")
        }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func hugeBodyIs413() {
        var config = LabAPIConfiguration()
        config.maxBodyBytes = 1024
        let client = APIClient(api: LabAPI(configuration: config))
        unchanged(client) {
            let r = client.call("POST", "/api/v1/namespaces", body: [UInt8](repeating: 0x20, count: 4096))
            #expect(r.status == 413)
            #expect(r.json?["reason"]?.stringValue == "RequestEntityTooLarge")
        }
    }

    @Test func unknownResourcesNamesAndKinds() throws {
        let (_, client) = Fixtures.apiWithWidgets()
        unchanged(client) {
            let crdMiss = client.call("GET", "/apis/example.com/v1/nosuchthings")
            #expect(crdMiss.status == 404 && crdMiss.text == "404 page not found\n")
            #expect(crdMiss.header("Content-Type") == "text/plain; charset=utf-8")
            let builtinMiss = client.call("GET", "/apis/apps/v1/nosuch")
            #expect(builtinMiss.status == 404 && builtinMiss.json?["details"] == .object([:]))
            let badName = client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("Bad_Name"))
            #expect(badName.status == 422)
            #expect(badName.json?[path: ["details", "causes"]]?[0]?["field"]?.stringValue == "metadata.name")
            var gadget = Fixtures.widget("w-kind")
            gadget["kind"] = "Gadget"
            let wrongKind = client.call("POST", "/apis/example.com/v1/widgets", json: gadget)
            #expect(wrongKind.status == 422)
            #expect(wrongKind.json?["message"]?.stringValue == #"Gadget.example.com "w-kind" is invalid: kind: Invalid value: "Gadget": must be Widget"#)
            var noKind = Fixtures.widget("w-nokind")
            noKind["kind"] = nil
            let missingKind = client.call("POST", "/apis/example.com/v1/widgets", json: noKind)
            #expect(missingKind.status == 400)
        }
    }

    @Test func schemaValidationAndPruning() throws {
        let (_, client) = Fixtures.apiWithWidgets()
        unchanged(client) {
            var w = Fixtures.widget("bad", size: 0, color: "purple")
            w[path: ["spec", "tags"]] = ["a", "b", "c", "D"]
            let r = client.call("POST", "/apis/example.com/v1/widgets", json: w)
            #expect(r.status == 422)
            let reasons = r.json?[path: ["details", "causes"]]?.arrayValue?.compactMap { $0["reason"]?.stringValue } ?? []
            #expect(Set(reasons) == ["FieldValueInvalid", "FieldValueNotSupported", "FieldValueTooMany"], "\(r.text)")
            #expect(r.json?["message"]?.stringValue?.hasPrefix(#"Widget.example.com "bad" is invalid: ["#) == true)
        }
        var w = Fixtures.widget("pruned")
        w[path: ["spec", "unknown"]] = "dropped"
        w["topLevel"] = 1
        w[path: ["spec", "extra"]] = ["anything": ["goes": true]]
        let r = client.call("POST", "/apis/example.com/v1/widgets", json: w)
        #expect(r.status == 201)
        let obj = try #require(r.json)
        #expect(obj[path: ["spec", "unknown"]] == nil)
        #expect(obj["topLevel"] == nil)
        #expect(obj[path: ["spec", "extra", "anything", "goes"]] == .bool(true))
    }
}

@Suite struct CRUDTests {
    /// Numbers in preserved fields come back as kube-apiserver (Go) writes them. An integral
    /// number between Int64.max and 1e21 used to crash the server as it wrote the response.
    @Test func numbersInPreservedFieldsAreWrittenLikeGo() throws {
        let (_, client) = Fixtures.apiWithWidgets()
        let body = #"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"numbers"},"spec":{"size":1,"color":"red","extra":{"big":1e19,"small":1e-7,"tiny":0.00001}}}"#
        let created = client.call("POST", "/apis/example.com/v1/widgets", body: Array(body.utf8))
        #expect(created.status == 201, "\(created.text)")
        let got = client.call("GET", "/apis/example.com/v1/widgets/numbers")
        #expect(got.status == 200)
        for text in [created.text, got.text] {
            #expect(text.contains(#""big":10000000000000000000"#) && text.contains(#""small":1e-7"#) && text.contains(#""tiny":0.00001"#), "\(text)")
        }
    }

    @Test func optimisticConcurrencyGenerationAndNoOp() throws {
        let (_, client) = Fixtures.apiWithWidgets()
        let created = try #require(client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("w1")).json)
        let rv1 = try #require(created[path: ["metadata", "resourceVersion"]]?.stringValue)
        var update = created
        update[path: ["spec", "size"]] = 2
        let updated = try #require(client.call("PUT", "/apis/example.com/v1/widgets/w1", json: update).json)
        #expect(updated[path: ["metadata", "generation"]]?.intValue == 2)
        // Stale resourceVersion: 409 with the exact message.
        let stale = client.call("PUT", "/apis/example.com/v1/widgets/w1", json: update)
        #expect(stale.status == 409)
        #expect(stale.json?["message"]?.stringValue == #"Operation cannot be fulfilled on widgets.example.com "w1": the object has been modified; please apply your changes to the latest version and try again"#)
        // No-op: same resourceVersion.
        let noop = try #require(client.call("PUT", "/apis/example.com/v1/widgets/w1", json: updated).json)
        #expect(noop[path: ["metadata", "resourceVersion"]] == updated[path: ["metadata", "resourceVersion"]])
        // Metadata-only change: new resourceVersion, same generation.
        var labelled = updated
        labelled[path: ["metadata", "labels"]] = ["a": "b"]
        let meta = try #require(client.call("PUT", "/apis/example.com/v1/widgets/w1", json: labelled).json)
        #expect(meta[path: ["metadata", "generation"]]?.intValue == 2)
        #expect(meta[path: ["metadata", "resourceVersion"]]?.stringValue != updated[path: ["metadata", "resourceVersion"]]?.stringValue)
        #expect(rv1 != meta[path: ["metadata", "resourceVersion"]]?.stringValue)
    }

    @Test func listPagination() throws {
        let (_, client) = Fixtures.apiWithWidgets()
        for name in ["a", "b", "c", "d", "e"] { _ = client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget(name)) }
        let page1 = try #require(client.call("GET", "/apis/example.com/v1/widgets", query: [("limit", "2")]).json)
        #expect(page1["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue } == ["a", "b"])
        #expect(page1[path: ["metadata", "remainingItemCount"]]?.intValue == 3)
        let token = try #require(page1[path: ["metadata", "continue"]]?.stringValue)
        let page2 = try #require(client.call("GET", "/apis/example.com/v1/widgets", query: [("limit", "2"), ("continue", token)]).json)
        #expect(page2["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue } == ["c", "d"])
        #expect(page2[path: ["metadata", "resourceVersion"]] == page1[path: ["metadata", "resourceVersion"]])
        let bad = client.call("GET", "/apis/example.com/v1/widgets", query: [("limit", "2"), ("continue", "not-a-valid-token")])
        #expect(bad.status == 400)
        let selected = try #require(client.call("GET", "/apis/example.com/v1/widgets", query: [("fieldSelector", "metadata.name=c")]).json)
        #expect(selected["items"]?.arrayValue?.count == 1)
        #expect(client.call("GET", "/apis/example.com/v1/widgets", query: [("fieldSelector", "spec.color=red")]).status == 400)
    }

    @Test func serverSideApplyOwnershipAndConflicts() throws {
        let (_, client) = Fixtures.apiWithWidgets()
        let yamlA = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: s1\nspec:\n  size: 10\n  color: red\n"
        let a = client.call("PATCH", "/apis/example.com/v1/widgets/s1", query: [("fieldManager", "ssa-a")], body: Array(yamlA.utf8), contentType: "application/apply-patch+yaml")
        #expect(a.status == 201, "\(a.text)")
        #expect(a.json?[path: ["metadata", "managedFields"]]?[0]?["operation"]?.stringValue == "Apply")
        let yamlB = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: s1\nspec:\n  size: 20\n  color: red\n"
        let conflict = client.call("PATCH", "/apis/example.com/v1/widgets/s1", query: [("fieldManager", "ssa-b")], body: Array(yamlB.utf8), contentType: "application/apply-patch+yaml")
        #expect(conflict.status == 409)
        #expect(conflict.json?["message"]?.stringValue == #"Apply failed with 1 conflict: conflict with "ssa-a": .spec.size"#)
        #expect(conflict.json?[path: ["details", "causes"]]?[0]?["reason"]?.stringValue == "FieldManagerConflict")
        let forced = client.call("PATCH", "/apis/example.com/v1/widgets/s1", query: [("fieldManager", "ssa-b"), ("force", "true")], body: Array(yamlB.utf8), contentType: "application/apply-patch+yaml")
        #expect(forced.status == 200)
        #expect(forced.json?[path: ["spec", "size"]]?.intValue == 20)
        let missing = client.call("PATCH", "/apis/example.com/v1/widgets/s1", body: Array(yamlB.utf8), contentType: "application/apply-patch+yaml")
        #expect(missing.status == 422)
    }

    @Test func finalizersAndGarbageCollectionOfNodeOwnedObjects() throws {
        let (_, client) = Fixtures.apiWithWidgets()
        let node = try #require(client.call("POST", "/api/v1/nodes", json: ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "n1"]]).json)
        let uid = try #require(node[path: ["metadata", "uid"]]?.stringValue)
        var owned = Fixtures.widget("owned")
        owned[path: ["metadata", "ownerReferences"]] = [["apiVersion": "v1", "kind": "Node", "name": "n1", "uid": .string(uid)]]
        #expect(client.call("POST", "/apis/example.com/v1/widgets", json: owned).status == 201)
        var fin = Fixtures.widget("fin")
        fin[path: ["metadata", "finalizers"]] = ["example.com/keep"]
        #expect(client.call("POST", "/apis/example.com/v1/widgets", json: fin).status == 201)

        let terminating = try #require(client.call("DELETE", "/apis/example.com/v1/widgets/fin").json)
        #expect(terminating[path: ["metadata", "deletionTimestamp"]] != nil)
        #expect(terminating[path: ["metadata", "deletionGracePeriodSeconds"]]?.intValue == 0)
        #expect(client.call("GET", "/apis/example.com/v1/widgets/fin").status == 200)
        #expect(client.call("PATCH", "/apis/example.com/v1/widgets/fin", json: ["metadata": ["finalizers": nil]], contentType: "application/merge-patch+json").status == 200)
        #expect(client.call("GET", "/apis/example.com/v1/widgets/fin").status == 404)

        #expect(client.call("DELETE", "/api/v1/nodes/n1").status == 200)
        #expect(client.call("GET", "/apis/example.com/v1/widgets/owned").status == 404, "objects owned by a deleted Node are collected")
    }

    @Test func deletingANamespaceDeletesItsContents() throws {
        let api = LabAPI(configuration: LabAPIConfiguration())
        let client = APIClient(api: api)
        #expect(client.call("POST", "/api/v1/namespaces", json: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "doomed"]]).status == 201)
        let lease: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": ["name": "l1"], "spec": ["holderIdentity": "x"]]
        #expect(client.call("POST", "/apis/coordination.k8s.io/v1/namespaces/doomed/leases", json: lease).status == 201)
        #expect(client.call("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", json: lease).status == 201)
        #expect(client.call("DELETE", "/api/v1/namespaces/doomed").status == 200)
        #expect(client.call("GET", "/apis/coordination.k8s.io/v1/namespaces/doomed/leases/l1").status == 404)
        #expect(client.call("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/l1").status == 200)
    }

    @Test func namespacedObjectsNeedTheirNamespace() {
        let api = LabAPI(configuration: LabAPIConfiguration())
        let client = APIClient(api: api)
        let lease: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": ["name": "l1"],
                                "spec": ["holderIdentity": "me", "renewTime": "2026-11-28T23:02:50.123456Z"]]
        let missing = client.call("POST", "/apis/coordination.k8s.io/v1/namespaces/nope/leases", json: lease)
        #expect(missing.status == 404)
        #expect(missing.json?["message"]?.stringValue == #"namespaces "nope" not found"#)
        #expect(client.call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", json: lease).status == 201)
        var bad = lease
        bad[path: ["metadata", "name"]] = "l2"
        bad[path: ["spec", "renewTime"]] = "2026-11-28T23:02:50Z"
        #expect(client.call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", json: bad).status == 422)
    }
}

@Suite struct AuthTests {
    @Test func tokensRulesAndAnonymous() {
        var config = LabAPIConfiguration()
        config.tokens = ["reader": LabUser(name: "reader", groups: ["lab:readers"]), "nobody": LabUser(name: "nobody", groups: [])]
        config.rules = [AuthorizationRule(groups: ["lab:readers"], verbs: ["get", "list", "watch"], apiGroups: [""], resources: ["nodes"])]
        let api = LabAPI(configuration: config)
        #expect(APIClient(api: api, user: nil, token: "wrong").call("GET", "/api/v1/nodes").status == 401)
        let reader = APIClient(api: api, user: nil, token: "reader")
        #expect(reader.call("GET", "/api/v1/nodes").status == 200)
        let denied = reader.call("POST", "/api/v1/nodes", json: ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "x"]])
        #expect(denied.status == 403)
        #expect(denied.json?["message"]?.stringValue == #"nodes is forbidden: User "reader" cannot create resource "nodes" in API group "" at the cluster scope"#)
        #expect(denied.header("X-Content-Type-Options") == "nosniff")
        let nobody = APIClient(api: api, user: nil, token: "nobody")
        #expect(nobody.call("GET", "/api/v1/namespaces/default").status == 403)
        #expect(nobody.call("GET", "/apis").status == 200, "discovery is open to authenticated users")
        let anonymous = APIClient(api: api, user: nil)
        #expect(anonymous.call("GET", "/api/v1/nodes").json?["message"]?.stringValue?.contains("system:anonymous") == true)
        #expect(anonymous.call("GET", "/healthz").status == 200)
        let cert = APIClient(api: api, user: LabUser(name: "agent", groups: ["lab:readers"]))
        #expect(cert.call("GET", "/api/v1/nodes").status == 200)
    }
}

@Suite struct ServerTests {
    @Test func snapshotSurvivesRestart() throws {
        let lab = try TestLab { $0.dataPath = ($0.certDir ?? "") + "/data.json" }
        defer { lab.stop() }
        let client = APIClient(api: lab.server.api)
        #expect(client.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json: Fixtures.widgetCRD).status == 201)
        #expect(client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("kept")).status == 201)
        let rv = client.currentRV()
        lab.stop(keepFiles: true)
        try lab.restart()
        let again = APIClient(api: lab.server.api)
        let w = again.call("GET", "/apis/example.com/v1/widgets/kept")
        #expect(w.status == 200)
        #expect((Int(again.currentRV()) ?? 0) >= (Int(rv) ?? 0), "resourceVersions keep increasing after a restart")
    }

    @Test func httpsWithClientCertificatesAndTokens() throws {
        let lab = try TestLab { $0.tokens = ["t0ken": LabUser(name: "tok", groups: ["system:masters"])] }
        defer { lab.stop() }
        let server = lab.server
        let ca = server.certDir + "/ca.crt"
        let ok = try run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, "--cert", server.certDir + "/admin.crt",
                                           "--key", server.certDir + "/admin.key", "\(server.url)/api/v1/namespaces"])
        #expect(ok.stdout == "200")
        let token = try run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, "-H", "Authorization: Bearer t0ken", "\(server.url)/api/v1/nodes"])
        #expect(token.stdout == "200")
        let bad = try run("/usr/bin/curl", ["-s", "--cacert", ca, "-H", "Authorization: Bearer nope", "\(server.url)/api/v1/nodes"])
        #expect(bad.stdout.contains("\"code\": 401"), "\(bad.stdout)")
        let big = try run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, "--cert", server.certDir + "/admin.crt",
                                            "--key", server.certDir + "/admin.key", "-X", "POST", "-H", "Content-Type: application/json",
                                            "--data-binary", "@-", "\(server.url)/api/v1/namespaces"], stdin: [UInt8](repeating: UInt8(ascii: " "), count: 4 * 1024 * 1024))
        #expect(big.stdout == "413")
    }
}
