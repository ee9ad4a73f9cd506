import Foundation
import JSON
@testable import LabAPIServer
import Testing
import TestSupport

/// Numbers a client or a file hands the lab server are checked, never trusted to fit (issue 13, item 4).
@Suite struct UntrustedNumberTests {
    /// A CRD in group `numbers.example.com` serving `versions` (the first one stored).
    static func crd(versions: [String]) -> JSONValue {
        let vs: [JSONValue] = versions.enumerated().map { i, name in
            ["name": .string(name), "served": true, "storage": .bool(i == 0),
             "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]
        }
        return [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": "gauges.numbers.example.com"],
            "spec": [
                "group": "numbers.example.com", "scope": "Cluster",
                "names": ["kind": "Gauge", "listKind": "GaugeList", "plural": "gauges", "singular": "gauge"],
                "versions": .array(vs),
            ],
        ]
    }

    /// The versions discovery lists for the group, in order, and the preferred one.
    static func discoveredVersions(_ versions: [String]) throws -> (order: [String], preferred: String?) {
        let client = APIClient(api: LabAPI(configuration: LabAPIConfiguration()))
        let created = client.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json: crd(versions: versions))
        try #require(created.status == 201, "\(created.text)")
        let group = client.call("GET", "/apis/numbers.example.com")
        try #require(group.status == 200, "\(group.text)")
        let json = try #require(group.json)
        let order = json["versions"]?.arrayValue?.compactMap { $0["version"]?.stringValue } ?? []
        // The aggregated list (/apis) orders them the same way.
        let all = try #require(client.call("GET", "/apis").json)
        let listed = all["groups"]?.arrayValue?.first { $0["name"]?.stringValue == "numbers.example.com" }
        #expect(listed?["versions"]?.arrayValue?.compactMap { $0["version"]?.stringValue } == order)
        return (order, json[path: ["preferredVersion", "version"]]?.stringValue)
    }

    /// Before the fix `versionPriority` computed `3_000_000 + major * 1000`: a trap for a 17-digit major.
    @Test func discoveryOrdersAHugeVersionNumberWithoutOverflow() throws {
        let (order, preferred) = try Self.discoveredVersions(["v1", "v99999999999999999"])
        #expect(order == ["v99999999999999999", "v1"])
        #expect(preferred == "v99999999999999999")
    }

    /// Kubernetes' ordering: GA, beta, alpha (higher numbers first), then the names that are not kube-like
    /// in byte order, among them a number too large for 64 bits (Go's strconv.Atoi fails on it too).
    @Test func discoveryUsesKubernetesVersionOrdering() throws {
        let (order, preferred) = try Self.discoveredVersions(["v1alpha1", "zeta", "v99999999999999999999", "v2beta1", "v1", "v2beta10", "v10"])
        #expect(order == ["v10", "v1", "v2beta10", "v2beta1", "v1alpha1", "v99999999999999999999", "zeta"])
        #expect(preferred == "v10")
        #expect(KubeVersion("v1beta") == nil)
        #expect(KubeVersion("v١") == nil, "only ASCII digits, like Go's \\d")
        let largest = try #require(KubeVersion("v9223372036854775807"))
        #expect(largest.stability == 2 && largest.major == .max && largest.minor == 0)
        #expect(LabAPI.versionPrecedes("v9223372036854775807", "v9223372036854775806"))
        #expect(!LabAPI.versionPrecedes("v1", "v1"))
    }

    /// limit, timeoutSeconds and resourceVersion that are not whole 64-bit numbers are a 400 naming the
    /// parameter (before: `limit=abc` listed everything, `timeoutSeconds=nan` or `-1.5` was taken as 0).
    @Test(arguments: [
        ("limit", "abc"), ("limit", "99999999999999999999"), ("limit", "1.5"),
        ("timeoutSeconds", "nan"), ("timeoutSeconds", "-1.5"), ("timeoutSeconds", "99999999999999999999"),
        ("resourceVersion", "-1"), ("resourceVersion", "99999999999999999999"),
    ])
    func badIntegerQueryParametersAreRefused(_ name: String, _ value: String) throws {
        let client = APIClient(api: LabAPI(configuration: LabAPIConfiguration()))
        for watch in [false, true] where !(name == "limit" && watch) {
            var query: [(String, String)] = [(name, value)]
            if watch { query.append(("watch", "1")) }
            if watch && name != "timeoutSeconds" { query.append(("timeoutSeconds", "1")) }
            let r = client.call("GET", "/api/v1/namespaces", query: query)
            #expect(r.status == 400, "\(name)=\(value) watch=\(watch): \(r.status) \(r.text.prefix(300))")
            if name != "resourceVersion" { #expect(r.text.contains(name), "the error names the parameter: \(r.text)") }
        }
    }

    /// A `--data` snapshot whose counters leave no room to count is refused at load with the reason.
    @Test(arguments: [
        (#"{"kind":"LabSnapshot","resourceVersion":9223372036854775807,"objects":[]}"#, "resourceVersion 9223372036854775807"),
        (#"{"kind":"LabSnapshot","resourceVersion":5,"objects":[{"storageKey":"namespaces","custom":false,"object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"big","resourceVersion":"5","generation":9223372036854775807}}}]}"#, "generation 9223372036854775807"),
        (#"{"kind":"LabSnapshot","resourceVersion":5,"objects":[{"storageKey":"namespaces","custom":false,"object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ahead","resourceVersion":"9"}}}]}"#, "object ahead: resourceVersion 9"),
    ])
    func snapshotWithOverflowingCountersIsRefused(_ text: String, _ expected: String) throws {
        let dir = try TempDir("amnum")
        defer { dir.cleanup() }
        let path = try dir.write("data.json", text)
        let api = LabAPI(configuration: LabAPIConfiguration())
        do {
            try Snapshot.load(path: path, into: api)
            Issue.record("a snapshot with \(expected) was loaded")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }
}
