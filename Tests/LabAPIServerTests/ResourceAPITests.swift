import Foundation
import JSON
import Testing
import TestSupport
@testable import LabAPIServer

/// Reads a nested value through object keys (`String`) and array indexes (`Int`).
func dig(_ value: JSONValue?, _ path: Any...) -> JSONValue? {
    var current = value
    for step in path {
        if let key = step as? String { current = current?[key] } else if let i = step as? Int { current = current?.arrayValue.flatMap { $0.indices.contains(i) ? $0[i] : nil } }
    }
    return current
}

/// `value` with the nested value at `path` replaced (keys and array indexes).
func replacing(_ value: JSONValue, _ path: [Any], with new: JSONValue) -> JSONValue {
    guard let step = path.first else { return new }
    let rest = Array(path.dropFirst())
    if let key = step as? String {
        var v = value
        v[key] = replacing(value[key] ?? .null, rest, with: new)
        return v
    }
    guard let i = step as? Int, case .array(var a) = value, a.indices.contains(i) else { return value }
    a[i] = replacing(a[i], rest, with: new)
    return .array(a)
}

/// `resource.k8s.io/v1` in the lab: discovery, validation as kube-apiserver's
/// `pkg/apis/resource/validation`, field selectors, status, garbage collection, snapshot, kubectl.
@Suite struct ResourceAPITests {
    static let slices = "/apis/resource.k8s.io/v1/resourceslices"

    static func device(_ name: String, attributes: [String: JSONValue] = ["driver": ["string": "veth"]]) -> JSONValue {
        ["name": .string(name), "attributes": .object(attributes)]
    }

    static func slice(_ name: String, node: String = "node-a", driver: String = "automagic.dev", devices: [JSONValue]? = nil,
                      generation: Int64 = 1, owner: JSONValue? = nil) -> JSONValue {
        var meta: [String: JSONValue] = ["name": .string(name)]
        if let owner { meta["ownerReferences"] = [owner] }
        return [
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": .object(meta),
            "spec": ["driver": .string(driver), "nodeName": .string(node),
                     "pool": ["name": .string(node), "generation": .int(generation), "resourceSliceCount": 1],
                     "devices": .array(devices ?? [device("mac-02aabbccdd01")])],
        ]
    }

    static func claim(_ name: String, requests: JSONValue = [["name": "nic", "exactly": ["deviceClassName": "storage.automagic.dev"]]]) -> JSONValue {
        ["apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": ["name": .string(name)],
         "spec": ["devices": ["requests": requests]]]
    }

    /// The causes of a 422 as `field: message` lines.
    static func causes(_ r: LabResponse) -> [String] {
        (r.json?[path: ["details", "causes"]]?.arrayValue ?? []).map {
            "\($0["field"]?.stringValue ?? ""): \($0["message"]?.stringValue ?? "")"
        }
    }

    @Test func discoveryListsTheGroupAndItsFourKinds() throws {
        let client = APIClient(api: LabAPI(configuration: .init()))
        let groups = try #require(client.call("GET", "/apis").json?["groups"]?.arrayValue)
        let group = try #require(groups.first { $0["name"]?.stringValue == "resource.k8s.io" })
        #expect(group[path: ["preferredVersion", "groupVersion"]]?.stringValue == "resource.k8s.io/v1")
        let list = try #require(client.call("GET", "/apis/resource.k8s.io/v1").json)
        let resources = (list["resources"]?.arrayValue ?? []).map { r in
            "\(r["name"]?.stringValue ?? "") \(r["kind"]?.stringValue ?? "") \(r["namespaced"]?.boolValue == true ? "ns" : "cluster")"
        }
        #expect(resources == ["deviceclasses DeviceClass cluster", "resourceclaims ResourceClaim ns", "resourceclaims/status ResourceClaim ns",
                              "resourceclaimtemplates ResourceClaimTemplate ns", "resourceslices ResourceSlice cluster"], "\(resources)")
        // The aggregated-discovery Accept gets the same legacy answer (as the traced server does).
        let aggregated = client.call("GET", "/apis", accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
        #expect(aggregated.json?["kind"]?.stringValue == "APIGroupList")
        #expect(aggregated.text.contains("\"resource.k8s.io/v1\""))
    }

    @Test func anOlderServerDoesNotServeTheGroup() throws {
        var config = LabAPIConfiguration()
        config.servesResourceAPI = false
        let client = APIClient(api: LabAPI(configuration: config))
        let groups = client.call("GET", "/apis").json?["groups"]?.arrayValue ?? []
        #expect(!groups.contains { $0["name"]?.stringValue == "resource.k8s.io" })
        #expect(client.call("GET", "/apis/resource.k8s.io/v1").status == 404)
        let list = client.call("GET", Self.slices)
        #expect(list.status == 404 && list.json == nil, "an unknown group is the mux's plain 404: \(list.text)")
    }

    @Test func aValidSliceIsStoredWithGenerationAndUpdatesBumpIt() throws {
        let client = APIClient(api: LabAPI(configuration: .init()))
        let created = client.call("POST", Self.slices, json: Self.slice("node-a-automagic.dev-0"))
        #expect(created.status == 201, "\(created.text)")
        let obj = try #require(created.json)
        #expect(obj[path: ["metadata", "generation"]]?.intValue == 1)
        #expect(dig(obj, "spec", "devices", 0, "attributes", "driver", "string")?.stringValue == "veth")
        var changed = obj
        changed[path: ["spec", "pool", "generation"]] = 2
        let updated = client.call("PUT", Self.slices + "/node-a-automagic.dev-0", json: changed)
        #expect(updated.status == 200, "\(updated.text)")
        #expect(updated.json?[path: ["metadata", "generation"]]?.intValue == 2)
        // An unchanged write is a no-op: same resourceVersion.
        let same = client.call("PUT", Self.slices + "/node-a-automagic.dev-0", json: try #require(updated.json))
        #expect(same.json?[path: ["metadata", "resourceVersion"]] == updated.json?[path: ["metadata", "resourceVersion"]])
    }

    @Test func sliceValidationNamesEveryBadField() throws {
        let client = APIClient(api: LabAPI(configuration: .init()))
        func rejected(_ body: JSONValue, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let r = client.call("POST", Self.slices, json: body)
            #expect(r.status == 422, "\(r.text)", sourceLocation: sourceLocation)
            #expect(Self.causes(r).contains { $0.contains(expected) }, "\(Self.causes(r)) lacks \(expected)", sourceLocation: sourceLocation)
        }
        let many = (0..<129).map { Self.device("d\($0)") }
        rejected(Self.slice("s", devices: many), "spec.devices: Too many: 129: must have at most 128 items")
        #expect(client.call("POST", Self.slices, json: Self.slice("s128", devices: Array(many.prefix(128)))).status == 201)
        rejected(Self.slice("s", devices: [Self.device("Eth_0")]), "spec.devices[0].name: Invalid value: \"Eth_0\": a lowercase RFC 1123 label")
        rejected(Self.slice("s", devices: [Self.device("a"), Self.device("a")]), "spec.devices[1]: Duplicate value: \"a\"")
        rejected(Self.slice("s", devices: [Self.device("a", attributes: ["mtu": ["int": 1500, "string": "x"]])]),
                 "spec.devices[0].attributes[mtu]: Invalid value: \"int,string\": exactly one value must be specified")
        rejected(Self.slice("s", devices: [Self.device("a", attributes: ["mtu": [:]])]),
                 "spec.devices[0].attributes[mtu]: Invalid value: \"\": exactly one value must be specified")
        rejected(Self.slice("s", devices: [Self.device("a", attributes: ["name": ["string": .string(String(repeating: "x", count: 65))]])]),
                 "spec.devices[0].attributes[name].string: Too long: may not be more than 64 bytes")
        #expect(client.call("POST", Self.slices, json: Self.slice("s64", devices: [Self.device("a", attributes: ["name": ["string": .string(String(repeating: "x", count: 64))]])])).status == 201)
        rejected(Self.slice("s", devices: [Self.device("a", attributes: ["pci.address": ["string": "x"]])]),
                 "spec.devices[0].attributes[pci.address]: Invalid value: \"pci.address\": a valid C identifier")
        rejected(Self.slice("s", devices: [Self.device("a", attributes: [.init(String(repeating: "a", count: 33)): ["bool": true]])]),
                 "Too long: may not be more than 32 bytes")
        rejected(Self.slice("s", devices: [Self.device("a", attributes: ["Bad_Domain/x": ["bool": true]])]),
                 "Invalid value: \"Bad_Domain\": a lowercase RFC 1123 subdomain")
        rejected(Self.slice("s", devices: [Self.device("a", attributes: ["v": ["version": "1.2"]])]),
                 "spec.devices[0].attributes[v].version: Invalid value: \"1.2\": must be a string compatible with semver.org spec 2.0.0")
        var attrs: [String: JSONValue] = [:]
        for i in 0..<33 { attrs["a\(i)"] = ["int": .int(Int64(i))] }
        rejected(Self.slice("s", devices: [Self.device("a", attributes: attrs)]),
                 "spec.devices[0]: Invalid value: 33: the total number of attributes and capacities must not exceed 32")
        var noDriver = Self.slice("s")
        noDriver[path: ["spec", "driver"]] = nil
        rejected(noDriver, "spec.driver: Required value")
        var twoPlaces = Self.slice("s")
        twoPlaces[path: ["spec", "allNodes"]] = true
        rejected(twoPlaces, "spec: Invalid value: \"{`nodeName`, `allNodes`}\": exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, but multiple fields are set")
        var nowhere = Self.slice("s")
        nowhere[path: ["spec", "nodeName"]] = nil
        rejected(nowhere, "spec: Required value: exactly one of")
        var noCount = Self.slice("s")
        noCount[path: ["spec", "pool", "resourceSliceCount"]] = 0
        rejected(noCount, "spec.pool.resourceSliceCount: Invalid value: 0: must be greater than zero")
        var badPool = Self.slice("s")
        badPool[path: ["spec", "pool", "name"]] = "Node_A"
        rejected(badPool, "spec.pool.name: Invalid value: \"Node_A\"")
    }

    @Test func driverPoolAndNodeAreImmutable() throws {
        let client = APIClient(api: LabAPI(configuration: .init()))
        let created = try #require(client.call("POST", Self.slices, json: Self.slice("s")).json)
        for (path, value) in [(["spec", "driver"], JSONValue.string("other.example.com")), (["spec", "nodeName"], "node-b"), (["spec", "pool", "name"], "node-b")] {
            var changed = created
            changed[path: path] = value
            let r = client.call("PUT", Self.slices + "/s", json: changed)
            #expect(r.status == 422, "\(path): \(r.text)")
            #expect(Self.causes(r).contains("\(path.joined(separator: ".")): Invalid value: \"\(value.stringValue ?? "")\": field is immutable"), "\(Self.causes(r))")
        }
    }

    @Test func fieldSelectorsOnNodeNameAndDriver() throws {
        let client = APIClient(api: LabAPI(configuration: .init()))
        #expect(client.call("POST", Self.slices, json: Self.slice("a-0", node: "node-a")).status == 201)
        #expect(client.call("POST", Self.slices, json: Self.slice("b-0", node: "node-b")).status == 201)
        #expect(client.call("POST", Self.slices, json: Self.slice("b-1", node: "node-b", driver: "gpu.example.com")).status == 201)
        func names(_ selector: String) -> [String] {
            (client.call("GET", Self.slices, query: [("fieldSelector", selector)]).json?["items"]?.arrayValue ?? [])
                .compactMap { $0[path: ["metadata", "name"]]?.stringValue }.sorted()
        }
        #expect(names("spec.nodeName=node-b") == ["b-0", "b-1"])
        #expect(names("spec.nodeName=node-b,spec.driver=automagic.dev") == ["b-0"])
        #expect(names("spec.driver!=automagic.dev") == ["b-1"])
        let bad = client.call("GET", Self.slices, query: [("fieldSelector", "spec.pool.name=node-a")])
        #expect(bad.status == 400 && bad.json?["message"]?.stringValue == "field label not supported for resource.k8s.io/v1, Kind=ResourceSlice: spec.pool.name", "\(bad.text)")
        #expect(client.call("GET", Self.slices, query: [("fieldSelector", "metadata.namespace=default")]).status == 400, "slices do not select on metadata.namespace")
        #expect(names("metadata.name=b-1") == ["b-1"])
        let claims = client.call("GET", "/apis/resource.k8s.io/v1/resourceclaims", query: [("fieldSelector", "spec.nodeName=x")])
        #expect(claims.status == 400, "only slices select on spec.nodeName")
    }

    @Test func aSliceOwnedByANodeGoesWithIt() throws {
        let client = APIClient(api: LabAPI(configuration: .init()))
        let node = try #require(client.call("POST", "/api/v1/nodes", json: ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "node-a"]]).json)
        let owner: JSONValue = ["apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": node[path: ["metadata", "uid"]] ?? ""]
        #expect(client.call("POST", Self.slices, json: Self.slice("node-a-automagic.dev-0", owner: owner)).status == 201)
        #expect(client.call("POST", Self.slices, json: Self.slice("node-b-automagic.dev-0", node: "node-b")).status == 201)
        #expect(client.call("DELETE", "/api/v1/nodes/node-a").status == 200)
        #expect(client.call("GET", Self.slices + "/node-a-automagic.dev-0").status == 404)
        #expect(client.call("GET", Self.slices + "/node-b-automagic.dev-0").status == 200)
    }

    @Test func claimsAreDefaultedTheirSpecIsImmutableAndTheirStatusChecked() throws {
        let client = APIClient(api: LabAPI(configuration: .init()))
        let claims = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims"
        let created = client.call("POST", claims, json: Self.claim("c1"))
        #expect(created.status == 201, "\(created.text)")
        var claim = try #require(created.json)
        #expect(dig(claim, "spec", "devices", "requests", 0, "exactly", "allocationMode")?.stringValue == "ExactCount")
        #expect(dig(claim, "spec", "devices", "requests", 0, "exactly", "count")?.intValue == 1)
        #expect(claim["status"] == nil || claim["status"]?.objectValue?.isEmpty == true)

        let respec = replacing(claim, ["spec", "devices", "requests", 0, "exactly", "count"], with: 2)
        let immutable = client.call("PUT", claims + "/c1", json: respec)
        #expect(immutable.status == 422 && immutable.text.contains("spec: Invalid value") && immutable.text.contains("field is immutable"), "\(immutable.text)")

        let podRef: JSONValue = ["resource": "pods", "name": "p1", "uid": "0b6a2c1e-1111-4222-8333-944445555666"]
        var reservedOnly = claim
        reservedOnly["status"] = ["reservedFor": [podRef]]
        let forbidden = client.call("PUT", claims + "/c1/status", json: reservedOnly)
        #expect(Self.causes(forbidden).contains("status.reservedFor: Forbidden: may not be specified when `allocated` is not set"), "\(forbidden.text)")

        var wrongRequest = claim
        wrongRequest["status"] = ["allocation": ["devices": ["results": [["request": "gpu", "driver": "automagic.dev", "pool": "node-a", "device": "mac-02aabbccdd01"]]]]]
        let unknown = client.call("PUT", claims + "/c1/status", json: wrongRequest)
        #expect(Self.causes(unknown).contains { $0.hasPrefix("status.allocation.devices.results[0].request: Invalid value: \"gpu\"") }, "\(unknown.text)")

        claim["status"] = ["allocation": ["devices": ["results": [["request": "nic", "driver": "automagic.dev", "pool": "node-a", "device": "mac-02aabbccdd01"]]]],
                           "reservedFor": [podRef]]
        let allocated = client.call("PUT", claims + "/c1/status", json: claim)
        #expect(allocated.status == 200, "\(allocated.text)")
        claim = try #require(allocated.json)
        let table = client.call("GET", claims, accept: "application/json;as=Table;v=v1;g=meta.k8s.io")
        #expect(dig(table.json, "rows", 0, "cells", 1)?.stringValue == "allocated,reserved", "\(table.text)")

        let moved = replacing(claim, ["status", "allocation", "devices", "results", 0, "device"], with: "mac-02aabbccdd02")
        let again = client.call("PUT", claims + "/c1/status", json: moved)
        #expect(again.status == 422 && again.text.contains("status.allocation: Invalid value") && again.text.contains("field is immutable"), "\(again.text)")
        // Releasing the reservation and the allocation (what the resourceclaim controller does) is allowed.
        var released = claim
        released["status"] = [:]
        #expect(client.call("PUT", claims + "/c1/status", json: released).status == 200)
    }

    @Test func claimAndClassValidation() throws {
        let client = APIClient(api: LabAPI(configuration: .init()))
        let claims = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims"
        let both = client.call("POST", claims, json: Self.claim("c", requests: [["name": "nic", "exactly": ["deviceClassName": "x"],
                                                                              "firstAvailable": [["name": "a", "deviceClassName": "x"]]]]))
        #expect(both.status == 422 && both.text.contains("exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set"), "\(both.text)")
        let mode = client.call("POST", claims, json: Self.claim("c", requests: [["name": "nic", "exactly": ["deviceClassName": "x", "allocationMode": "Some"]]]))
        #expect(Self.causes(mode).contains("spec.devices.requests[0].exactly.allocationMode: Unsupported value: \"Some\": supported values: \"All\", \"ExactCount\""), "\(mode.text)")
        let noClass = client.call("POST", claims, json: Self.claim("c", requests: [["name": "nic", "exactly": [:]]]))
        #expect(Self.causes(noClass).contains("spec.devices.requests[0].exactly.deviceClassName: Required value"), "\(noClass.text)")

        let classes = "/apis/resource.k8s.io/v1/deviceclasses"
        let good: JSONValue = ["apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": ["name": "storage.automagic.dev"],
                               "spec": ["selectors": [["cel": ["expression": "device.driver == 'automagic.dev'"]]]]]
        let made = client.call("POST", classes, json: good)
        #expect(made.status == 201 && made.json?[path: ["metadata", "generation"]]?.intValue == 1, "\(made.text)")
        var empty = good
        empty[path: ["metadata", "name"]] = "empty"
        empty[path: ["spec", "selectors"]] = [["cel": ["expression": ""]]]
        let r = client.call("POST", classes, json: empty)
        #expect(r.status == 422 && r.text.contains("spec.selectors[0].cel.expression: Required value"), "\(r.text)")

        let templates = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaimtemplates"
        let template: JSONValue = ["apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate", "metadata": ["name": "t"],
                                   "spec": ["spec": ["devices": ["requests": [["name": "nic", "exactly": ["deviceClassName": "storage.automagic.dev"]]]]]]]
        let t = client.call("POST", templates, json: template)
        #expect(t.status == 201 && dig(t.json, "spec", "spec", "devices", "requests", 0, "exactly", "allocationMode")?.stringValue == "ExactCount", "\(t.text)")
    }

    @Test func slicesSurviveASnapshot() throws {
        let api = LabAPI(configuration: .init())
        let client = APIClient(api: api)
        #expect(client.call("POST", Self.slices, json: Self.slice("node-a-automagic.dev-0")).status == 201)
        let dir = try makeTempDir("dra-snapshot")
        defer { removeTestFiles(dir) }
        let path = dir + "/data.json"
        try Snapshot.write(path: path, bytes: Snapshot.encode(api).bytes)
        let restored = LabAPI(configuration: .init())
        try Snapshot.load(path: path, into: restored)
        let got = APIClient(api: restored).call("GET", Self.slices + "/node-a-automagic.dev-0")
        #expect(got.status == 200 && got.json?[path: ["spec", "driver"]]?.stringValue == "automagic.dev", "\(got.text)")
    }

    @Test func kubectlGetsSlicesAndAppliesClassesAndTemplates() throws {
        let env = try KubectlTests.Env()
        let client = APIClient(api: env.server.api)
        #expect(client.call("POST", Self.slices, json: Self.slice("node-a-automagic.dev-0")).status == 201)
        let table = try env.kubectl(["get", "resourceslices"])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(lines.first == ["NAME", "NODE", "DRIVER", "POOL", "AGE"], "\(table.stdout)")
        #expect(lines.dropFirst().first?.prefix(4) == ["node-a-automagic.dev-0", "node-a", "automagic.dev", "node-a"], "\(table.stdout)")
        let selected = try env.kubectl(["get", "resourceslices", "--field-selector", "spec.nodeName=node-b", "-o", "name"])
        #expect(selected.status == 0 && selected.stdout.isEmpty, "\(selected.stdout) \(selected.stderr)")

        let manifest = """
        apiVersion: resource.k8s.io/v1
        kind: DeviceClass
        metadata:
          name: storage.automagic.dev
        spec:
          selectors:
          - cel:
              expression: device.driver == "automagic.dev"
        ---
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaimTemplate
        metadata:
          name: storage-nic
          namespace: default
        spec:
          spec:
            devices:
              requests:
              - name: nic
                exactly:
                  deviceClassName: storage.automagic.dev
        """
        let apply = try env.kubectl(["apply", "-f", "-"], stdin: manifest)
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("deviceclass.resource.k8s.io/storage.automagic.dev created"), "\(apply.stdout)")
        #expect(apply.stdout.contains("resourceclaimtemplate.resource.k8s.io/storage-nic created"), "\(apply.stdout)")
        let again = try env.kubectl(["apply", "-f", "-"], stdin: manifest)
        #expect(again.stdout.contains("deviceclass.resource.k8s.io/storage.automagic.dev unchanged"), "\(again.stdout) \(again.stderr)")
        let classes = try env.kubectl(["get", "deviceclasses"])
        #expect(classes.status == 0 && classes.stdout.contains("storage.automagic.dev"), "\(classes.stdout) \(classes.stderr)")
        let bad = try env.kubectl(["apply", "-f", "-"], stdin: manifest.replacingOccurrences(of: "name: nic", with: "name: Bad_Name")
            .replacingOccurrences(of: "storage-nic", with: "other"))
        #expect(bad.status != 0 && bad.stderr.contains("spec.spec.devices.requests[0].name"), "\(bad.stderr)")
    }
}
