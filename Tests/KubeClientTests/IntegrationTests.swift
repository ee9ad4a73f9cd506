import Foundation
import JSON
import KubeClient
import KubeCore
import LabTesting
import Testing
import TestSupport

/// Where integration tests run (LabTesting's ``TestAPIServer``: a real cluster when
/// `AUTOMAGIC_TEST_KUBECONFIG` names a kubeconfig, otherwise an in-process lab API server over HTTPS).
/// Every test gets its own CRD (unique plural and kind) and namespace, removed afterwards.
struct TestCluster: Sendable {
    let server: TestAPIServer
    let id: String
    let widgets: ResourceType
    let namespace: String

    static let group = "kubeclient-test.automagic.dev"

    var client: KubernetesClient { server.client }
    var isRealCluster: Bool { server.isRealCluster }

    func widgetClient() -> ResourceClient<Widget> {
        ResourceClient(client: client, resourceType: widgets, namespace: nil)
    }

    func widget(_ name: String, size: Int = 1, labels: [String: String]? = nil) -> Widget {
        var widget = Widget(name: name, size: size, type: widgets)
        widget.metadata.labels = labels
        return widget
    }

    /// Runs `body` against a fresh CRD and namespace; cleans up even when `body` throws.
    static func with(historyLimit: Int? = nil, _ body: (TestCluster) async throws -> Void) async throws {
        let id = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let server = try TestAPIServer(lab: { options in
            if let historyLimit { options.historyLimit = historyLimit }
        })
        let widgets = ResourceType(group: group, version: "v1", resource: "kc\(id)widgets", kind: "Kc\(id)Widget", namespaced: false)
        let cluster = TestCluster(server: server, id: id, widgets: widgets, namespace: "kc-\(id)")
        try await withCleanup({
            try await cluster.setUp()
            try await body(cluster)
        }, cleanup: {
            await cluster.tearDown()
            server.stop()
        })
    }

    func setUp() async throws {
        let crd: JSONValue = [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": .string("\(widgets.resource).\(Self.group)")],
            "spec": [
                "group": .string(Self.group), "scope": "Cluster",
                "names": ["plural": .string(widgets.resource), "singular": .string("kc\(id)widget"),
                          "kind": .string(widgets.kind), "listKind": .string(widgets.kind + "List")],
                "versions": [[
                    "name": "v1", "served": true, "storage": true, "subresources": ["status": [:]],
                    "schema": ["openAPIV3Schema": [
                        "type": "object",
                        "properties": [
                            "spec": ["type": "object", "required": ["color", "size"], "properties": [
                                "color": ["type": "string"], "size": ["type": "integer", "minimum": 1]]],
                            "status": ["type": "object", "properties": ["phase": ["type": "string"]]],
                        ],
                    ]],
                ]],
            ],
        ]
        // Server-side apply; returns once the resource is served (a moment after Established).
        try await client.applyCRD(crd, timeout: .seconds(30))
        let namespaces = client.dynamic(.namespaces)
        _ = try await namespaces.create(DynamicObject(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]]))
    }

    /// Removes what `setUp` created (on a real cluster too). Already gone is fine; any other
    /// failure is recorded, since it leaves objects behind.
    func tearDown() async {
        for (resource, name) in [(ResourceType.customResourceDefinitions, "\(widgets.resource).\(Self.group)"),
                                 (.namespaces, namespace)] {
            do {
                _ = try await client.dynamic(resource).delete(name)
            } catch {
                if error.isNotFound { continue }
                Issue.record("failed to delete \(resource.resource) '\(name)' after the test: \(error)")
            }
        }
    }
}

@Suite struct IntegrationTests {
    @Test func crudRoundTrip() async throws {
        try await TestCluster.with { cluster in
            let widgets = cluster.widgetClient()
            // create, with dry run first
            let dry = try await widgets.create(cluster.widget("w1"), dryRun: true)
            #expect(dry.metadata.name == "w1")
            #expect(try await widgets.getIfExists("w1") == nil)
            let created = try await widgets.create(cluster.widget("w1", labels: ["team": "a"]), fieldManager: "kubeclient-test")
            let uid = try #require(created.metadata.uid)
            #expect(created.metadata.resourceVersion != nil)
            #expect(created.metadata.generation == 1)
            // duplicate create: 409 AlreadyExists
            let duplicate = await #expect(throws: KubeClientError.self) { try await widgets.create(cluster.widget("w1")) }
            #expect(duplicate?.isAlreadyExists == true)
            // get + list with selectors
            var fetched = try await widgets.get("w1")
            #expect(fetched.spec?.size == 1)
            #expect(try await widgets.list(ListOptions(labelSelector: "team=a")).items.map(\.metadata.name) == ["w1"])
            #expect(try await widgets.list(ListOptions(labelSelector: "team=b")).items.isEmpty)
            #expect(try await widgets.list(ListOptions(fieldSelector: "metadata.name=w1")).items.count == 1)
            // update with the current resourceVersion
            fetched.spec?.size = 2
            let updated = try await widgets.update(fetched)
            #expect(updated.spec?.size == 2)
            #expect(updated.metadata.generation == 2)
            // update with a stale one: 409 Conflict, Status decoded
            fetched.spec?.size = 3
            let conflict = await #expect(throws: KubeClientError.self) { try await widgets.update(fetched) }
            #expect(conflict?.isConflict == true)
            #expect(conflict?.status?.details?.name == "w1")
            // status subresource: spec changes ignored, status kept
            var withStatus = updated
            withStatus.status = Widget.WidgetStatus(phase: "Ready")
            withStatus.spec?.size = 99
            let statusUpdated = try await widgets.updateStatus(withStatus)
            #expect(statusUpdated.status?.phase == "Ready")
            #expect(statusUpdated.spec?.size == 2)
            // patches: merge, JSON, server-side apply
            let merged = try await widgets.patch("w1", .merge(["metadata": ["labels": ["patched": "yes"]]]))
            #expect(merged.metadata.labels?["patched"] == "yes")
            let jsonPatched = try await widgets.patch("w1", .json([["op": "replace", "path": "/spec/size", "value": 5]]))
            #expect(jsonPatched.spec?.size == 5)
            let statusPatched = try await widgets.patch("w1", .merge(["status": ["phase": "Degraded"]]), subresource: "status")
            #expect(statusPatched.status?.phase == "Degraded")
            let applied = try await widgets.patch("w1", .apply([
                "apiVersion": .string(cluster.widgets.apiVersion), "kind": .string(cluster.widgets.kind),
                "metadata": ["name": "w1"], "spec": ["color": "blue", "size": 5],
            ], fieldManager: "kubeclient-apply", force: true))
            #expect(applied.spec?.color == "blue")
            #expect(applied.metadata.managedFields?.contains { $0["manager"] == "kubeclient-apply" } == true)
            // invalid: 422 with causes
            let invalid = await #expect(throws: KubeClientError.self) {
                try await widgets.patch("w1", .merge(["spec": ["size": 0]]))
            }
            #expect(invalid?.isInvalid == true)
            #expect(invalid?.status?.details?.causes?.isEmpty == false)
            // delete: a wrong uid precondition is refused, then a real delete
            let refused = await #expect(throws: KubeClientError.self) {
                try await widgets.delete("w1", options: DeleteOptions(preconditionUID: "00000000-0000-0000-0000-000000000000"))
            }
            #expect(refused?.isConflict == true)
            try await widgets.delete("w1", options: DeleteOptions(preconditionUID: uid, propagationPolicy: .background))
            let missing = await #expect(throws: KubeClientError.self) { try await widgets.get("w1") }
            #expect(missing?.isNotFound == true)
            #expect(missing?.status?.details?.name == "w1")
            #expect(missing?.status?.code == 404)
            let missingDelete = await #expect(throws: KubeClientError.self) { try await widgets.delete("w1") }
            #expect(missingDelete?.isNotFound == true)
        }
    }

    @Test func paginationFollowsContinueTokens() async throws {
        try await TestCluster.with { cluster in
            let widgets = cluster.widgetClient()
            for i in 0..<5 { _ = try await widgets.create(cluster.widget("p\(i)")) }
            let page = try await widgets.list(ListOptions(limit: 2))
            #expect(page.items.count == 2)
            #expect(page.metadata.continueToken?.isEmpty == false)
            let all = try await widgets.listAll(pageSize: 2)
            #expect(all.items.map(\.metadata.name) == ["p0", "p1", "p2", "p3", "p4"])
            #expect(all.metadata.resourceVersion != nil)
            #expect(all.metadata.continueToken == nil)
        }
    }

    @Test func deleteWithFinalizerReturnsTheObjectAndCollectionsCanBeDeleted() async throws {
        try await TestCluster.with { cluster in
            let widgets = cluster.widgetClient()
            var guarded = cluster.widget("guarded")
            guarded.metadata.finalizers = ["kubeclient-test.automagic.dev/hold"]
            _ = try await widgets.create(guarded)
            // The server keeps an object with finalizers: delete answers with it, now terminating.
            let kept = try #require(try await widgets.delete("guarded"))
            #expect(kept.metadata.deletionTimestamp != nil)
            #expect(try await widgets.get("guarded").metadata.deletionTimestamp != nil)
            _ = try await widgets.patch("guarded", .merge(["metadata": ["finalizers": nil]]))
            #expect(try await widgets.getIfExists("guarded") == nil)
            // Without finalizers the answer is a Status: nil.
            _ = try await widgets.create(cluster.widget("plain"))
            #expect(try await widgets.delete("plain") == nil)
            // deleteCollection by label
            for i in 0..<3 { _ = try await widgets.create(cluster.widget("c\(i)", labels: ["batch": "x"])) }
            _ = try await widgets.create(cluster.widget("keep", labels: ["batch": "y"]))
            try await widgets.deleteCollection(ListOptions(labelSelector: "batch=x"))
            #expect(try await widgets.list().items.map(\.metadata.name) == ["keep"])
        }
    }

    @Test func namespacedResourcesAndDynamicClient() async throws {
        try await TestCluster.with { cluster in
            let leases = cluster.client.dynamic(.leases, namespace: cluster.namespace)
            let lease: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                    "metadata": ["name": "l1"], "spec": ["holderIdentity": "a", "leaseDurationSeconds": 15]]
            let created = try await leases.create(DynamicObject(lease))
            #expect(created.metadata.namespace == cluster.namespace)
            var current = try await leases.get("l1")
            current.json["spec"] = ["holderIdentity": "b", "leaseDurationSeconds": 15]
            let updated = try await leases.update(current)
            #expect(updated.json[path: ["spec", "holderIdentity"]] == "b")
            // all-namespaces list through a client without a namespace
            let everywhere = try await cluster.client.dynamic(.leases).list(ListOptions(fieldSelector: "metadata.namespace=\(cluster.namespace)"))
            #expect(everywhere.items.count == 1)
            try await leases.delete("l1")
            #expect(try await leases.getIfExists("l1") == nil)
            // raw requests for discovery
            let version = try await cluster.client.request("GET", path: "/version")
            #expect(version.status == 200)
            #expect(try JSONValue.parse(version.body)["gitVersion"]?.stringValue != nil)
            let groups = try JSONValue.parse(try await cluster.client.request("GET", path: "/apis").body)
            #expect(groups["groups"]?.arrayValue?.contains { $0["name"] == .string(TestCluster.group) } == true)
        }
    }

    @Test func watchResumesFromTheListResourceVersion() async throws {
        try await TestCluster.with { cluster in
            let widgets = cluster.widgetClient()
            _ = try await widgets.create(cluster.widget("before"))
            let list = try await widgets.list()
            let listRV = try #require(list.metadata.resourceVersion)
            _ = try await widgets.create(cluster.widget("after-1"))
            var after = try await widgets.get("after-1")
            after.spec?.size = 3
            _ = try await widgets.update(after)
            try await widgets.delete("before")
            var events: [WatchEvent<Widget>] = []
            for try await event in widgets.watch(WatchOptions(resourceVersion: listRV, allowWatchBookmarks: false, timeoutSeconds: 10)) {
                events.append(event)
                if events.count == 3 { break }
            }
            // Only changes after the list: "before" is not replayed as ADDED.
            #expect(events.map(\.type) == [.added, .modified, .deleted])
            #expect(events.map { $0.object?.metadata.name } == ["after-1", "after-1", "before"])
            // and resuming from an event's resourceVersion continues after it
            let resumeRV = try #require(events[1].resourceVersion)
            var resumed: [WatchEvent<Widget>] = []
            for try await event in widgets.watch(WatchOptions(resourceVersion: resumeRV, allowWatchBookmarks: false, timeoutSeconds: 10)) {
                resumed.append(event)
                break
            }
            #expect(resumed.first?.type == .deleted)
        }
    }

    @Test func bookmarksAdvanceTheResourceVersion() async throws {
        try await TestCluster.with { cluster in
            let widgets = cluster.widgetClient()
            let list = try await widgets.list()
            _ = try await widgets.create(cluster.widget("b1"))
            var bookmarks: [String] = []
            var objects = 0
            // kube-apiserver (and the lab) send a bookmark shortly before timeoutSeconds ends the watch.
            for try await event in widgets.watch(WatchOptions(resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 4)) {
                switch event {
                case .bookmark(let rv): bookmarks.append(rv)
                case .added, .modified, .deleted: objects += 1
                case .error: Issue.record("unexpected ERROR event")
                }
            }
            #expect(objects == 1)
            let created = try await widgets.get("b1")
            let createdRV = try #require(Int(created.metadata.resourceVersion ?? ""))
            if cluster.isRealCluster {
                // Whether and when a real server sends bookmarks varies by version and load (1.24 sent
                // none in watches of 4, 10 and 90 s, 1.36 none in 4 s): none is allowed; any that
                // comes must not go back before the change the watch already delivered.
                for bookmark in bookmarks { #expect((Int(bookmark) ?? 0) >= createdRV, "bookmark \(bookmark) before \(createdRV)") }
            } else {
                // The lab sends one shortly before timeoutSeconds (as kube-apiserver ≥ 1.19 may): the
                // client hands it over with a resourceVersion past the created object's.
                let bookmark = try #require(bookmarks.last, "the lab sends a bookmark before the watch times out")
                #expect((Int(bookmark) ?? 0) >= createdRV)
            }
        }
    }

    @Test func tooOldResourceVersionThrowsWatchExpired() async throws {
        try await TestCluster.with(historyLimit: 3) { cluster in
            let widgets = cluster.widgetClient()
            let first = try await widgets.create(cluster.widget("old-0"))
            for i in 1..<8 { _ = try await widgets.create(cluster.widget("old-\(i)")) }
            // On a real cluster "1" is older than the watch cache window; in the lab so is the first RV with a 3-change history.
            let rv = cluster.isRealCluster ? "1" : try #require(first.metadata.resourceVersion)
            let error = await #expect(throws: KubeClientError.self) {
                for try await _ in widgets.watch(WatchOptions(resourceVersion: rv, timeoutSeconds: 10)) {}
            }
            #expect(error?.isGone == true, "\(String(describing: error))")
            // The remedy: list again and watch from the new resourceVersion.
            let relist = try await widgets.list()
            #expect(relist.items.count == 8)
        }
    }

    @Test func sequentialRequestsReuseConnections() async throws {
        try await TestCluster.with { cluster in
            let widgets = cluster.widgetClient()
            _ = try await widgets.create(cluster.widget("r1"))
            let before = cluster.client.connectionsOpened
            for _ in 0..<300 { _ = try await widgets.get("r1") }
            #expect(cluster.client.connectionsOpened - before <= 2, "\(cluster.client.connectionsOpened - before) new connections")
        }
    }
}
