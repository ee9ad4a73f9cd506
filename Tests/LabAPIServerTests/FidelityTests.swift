import Foundation
import JSON
import Testing
@testable import LabAPIServer
import TestSupport

/// A CRD exercising defaulting, metadata.name restrictions and filter printer columns.
enum GizmoFixture {
    static let path = "/apis/example.com/v1/gizmos"

    static func crd(extraSpec: [String: JSONValue] = [:]) -> JSONValue {
        var spec: [String: JSONValue] = [
            "mode": ["type": "string", "enum": ["fast", "slow"], "default": "fast"],
            "enabled": ["type": "boolean", "default": false],
            "note": ["type": "string"],
            "comment": ["type": "string", "nullable": true, "default": "none"],
            "limits": ["type": "object", "properties": [
                "cpu": ["type": "integer", "default": 2],
                "memory": ["type": "string"],
            ]],
            "policy": ["type": "object", "default": [:], "properties": [
                "retries": ["type": "integer", "default": 3],
            ]],
            "ports": ["type": "array", "items": ["type": "object", "required": ["port"], "properties": [
                "port": ["type": "integer"],
                "protocol": ["type": "string", "default": "TCP"],
            ]]],
            "labels": ["type": "object", "additionalProperties": ["type": "object", "properties": [
                "weight": ["type": "integer", "default": 1],
            ]]],
        ]
        for (k, v) in extraSpec { spec[k] = v }
        return [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": "gizmos.example.com"],
            "spec": [
                "group": "example.com", "scope": "Cluster",
                "names": ["kind": "Gizmo", "listKind": "GizmoList", "plural": "gizmos", "singular": "gizmo"],
                "versions": [[
                    "name": "v1", "served": true, "storage": true, "subresources": ["status": [:]],
                    "additionalPrinterColumns": [
                        ["name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"],
                        ["name": "Ports", "type": "integer", "jsonPath": ".spec.ports[*].port"],
                        ["name": "Mode", "type": "string", "jsonPath": ".spec.mode"],
                    ],
                    "schema": ["openAPIV3Schema": [
                        "type": "object", "required": ["spec"],
                        "properties": [
                            "metadata": ["type": "object", "properties": [
                                "name": ["type": "string", "maxLength": 20, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"],
                            ]],
                            "spec": ["type": "object", "required": ["mode"], "properties": .object(spec)],
                            "status": ["type": "object", "properties": [
                                "phase": ["type": "string", "default": "Pending"],
                                "conditions": ["type": "array", "items": ["type": "object", "properties": [
                                    "type": ["type": "string"], "status": ["type": "string"],
                                ]]],
                            ]],
                        ],
                    ]],
                ]],
            ],
        ]
    }

    static func gizmo(_ name: String, spec: JSONValue = [:]) -> JSONValue {
        ["apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": ["name": .string(name)], "spec": spec]
    }

    static func api() throws -> (LabAPI, APIClient) {
        let api = LabAPI(configuration: LabAPIConfiguration())
        let client = APIClient(api: api)
        let r = client.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json: crd())
        try #require(r.status == 201, "\(r.text)")
        return (api, client)
    }
}

@Suite struct DefaultingTests {
    @Test func createAppliesDefaultsRecursively() throws {
        let (_, client) = try GizmoFixture.api()
        let r = client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo("g1", spec: [
            "limits": [:], "ports": [["port": 80], ["port": 53, "protocol": "UDP"]], "labels": ["a": [:], "b": ["weight": 5]],
        ]))
        #expect(r.status == 201, "\(r.text)")
        let spec = try #require(r.json?["spec"])
        // `mode` is required and satisfied by its default: defaulting runs before validation.
        #expect(spec["mode"] == "fast")
        #expect(spec["enabled"] == false)
        #expect(spec["comment"] == "none")
        #expect(spec["limits"] == ["cpu": 2], "defaults inside a present object only")
        #expect(spec["policy"] == ["retries": 3], "an object default gets the defaults below it")
        #expect(spec["ports"] == [["port": 80, "protocol": "TCP"], ["port": 53, "protocol": "UDP"]])
        #expect(spec["labels"] == ["a": ["weight": 1], "b": ["weight": 5]])
        #expect(spec["note"] == nil)
        // The status subresource drops status on create; nothing present, so no status defaults.
        #expect(r.json?["status"] == nil)
        let got = client.call("GET", GizmoFixture.path + "/g1").json
        #expect(got?["spec"] == spec)
    }

    @Test func nullsArePrunedOrDefaultedUnlessNullable() throws {
        let (_, client) = try GizmoFixture.api()
        let r = client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo("g2", spec: [
            "mode": .null, "note": .null, "comment": .null, "limits": ["cpu": .null],
        ]))
        #expect(r.status == 201, "\(r.text)")
        let spec = try #require(r.json?["spec"])
        #expect(spec["mode"] == "fast", "non-nullable null with a default gets the default")
        #expect(spec["note"] == nil, "non-nullable null without a default is pruned, not a type error")
        #expect(spec["comment"] == .null, "nullable null is kept, not defaulted")
        #expect(spec["limits"] == ["cpu": 2])
    }

    @Test func updatesAndPatchesAreDefaulted() throws {
        let (_, client) = try GizmoFixture.api()
        #expect(client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo("g3", spec: ["mode": "slow"])).status == 201)
        // Merge patch removing a defaulted field: the default comes back.
        let merge = client.call("PATCH", GizmoFixture.path + "/g3", json: ["spec": ["mode": .null, "enabled": .null]],
                                contentType: "application/merge-patch+json")
        #expect(merge.status == 200, "\(merge.text)")
        #expect(merge.json?[path: ["spec", "mode"]] == "fast")
        #expect(merge.json?[path: ["spec", "enabled"]] == false)
        // JSON patch adding a port: its protocol is defaulted.
        let json = client.call("PATCH", GizmoFixture.path + "/g3", json: [["op": "add", "path": "/spec/ports", "value": [["port": 8080]]]],
                               contentType: "application/json-patch+json")
        #expect(json.status == 200, "\(json.text)")
        #expect(json.json?[path: ["spec", "ports"]] == [["port": 8080, "protocol": "TCP"]])
        // PUT without the defaulted fields: defaulted again, so only the port change bumps the generation.
        let current = try #require(json.json)
        var put = current
        put["spec"] = ["mode": "fast", "ports": [["port": 8080]]]
        let updated = client.call("PUT", GizmoFixture.path + "/g3", json: put)
        #expect(updated.status == 200, "\(updated.text)")
        #expect(updated.json?["spec"] == current["spec"])
        #expect(updated.json?[path: ["metadata", "resourceVersion"]] == current[path: ["metadata", "resourceVersion"]], "a no-op once defaulted")
    }

    @Test func serverSideApplyIsDefaulted() throws {
        let (_, client) = try GizmoFixture.api()
        let yaml = "apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g4\nspec:\n  ports:\n  - port: 22\n"
        let r = client.call("PATCH", GizmoFixture.path + "/g4", query: [("fieldManager", "tests")], body: Array(yaml.utf8),
                            contentType: "application/apply-patch+yaml")
        #expect(r.status == 201, "\(r.text)")
        #expect(r.json?[path: ["spec", "mode"]] == "fast")
        #expect(r.json?[path: ["spec", "ports"]] == [["port": 22, "protocol": "TCP"]])
    }

    @Test func statusWrittenThroughTheSubresourceIsDefaulted() throws {
        let (_, client) = try GizmoFixture.api()
        #expect(client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo("g5")).status == 201)
        let r = client.call("PATCH", GizmoFixture.path + "/g5/status", json: ["status": ["conditions": [["type": "Ready", "status": "True"]]]],
                            contentType: "application/merge-patch+json")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json?[path: ["status", "phase"]] == "Pending")
    }

    @Test func storedObjectsReadBackWithDefaultsAddedLater() throws {
        let (_, client) = try GizmoFixture.api()
        let created = try #require(client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo("g6")).json)
        let rv = created[path: ["metadata", "resourceVersion"]]
        #expect(created[path: ["spec", "note"]] == nil)
        // The CRD gains a default for spec.note: the real server defaults on every read from etcd.
        let crdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com"
        var crd = try #require(client.call("GET", crdPath).json)
        crd[path: ["spec", "versions"]] = .array((crd[path: ["spec", "versions"]]?.arrayValue ?? []).map { v in
            var v = v
            v[path: ["schema", "openAPIV3Schema", "properties", "spec", "properties", "note", "default"]] = "hello"
            return v
        })
        let put = client.call("PUT", crdPath, json: crd)
        #expect(put.status == 200, "\(put.text)")
        let got = try #require(client.call("GET", GizmoFixture.path + "/g6").json)
        #expect(got[path: ["spec", "note"]] == "hello")
        #expect(got[path: ["metadata", "resourceVersion"]] == rv, "read-time defaulting is no write")
        let list = try #require(client.call("GET", GizmoFixture.path).json)
        #expect(list["items"]?[0]?[path: ["spec", "note"]] == "hello")
    }

    @Test func networkDeviceMapSchemaDefaults() throws {
        let crd = try Wire.parseYAML(Array(try readRepositoryFile("crds/automagic.dev_networkdevicemaps.yaml").utf8))
        let client = APIClient(api: LabAPI(configuration: LabAPIConfiguration()))
        let r = client.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json: crd)
        try #require(r.status == 201, "\(r.text)")
        let map: JSONValue = [
            "apiVersion": "automagic.dev/v1alpha1", "kind": "NetworkDeviceMap", "metadata": ["name": "storage"],
            "spec": ["rules": [["devices": ["matchExpressions": [["key": "driver", "operator": "Exists"]]]]]],
        ]
        let created = client.call("POST", "/apis/automagic.dev/v1alpha1/networkdevicemaps", json: map)
        #expect(created.status == 201, "\(created.text)")
        #expect(created.json?[path: ["spec", "select"]] == "First")
        #expect(created.json?[path: ["spec", "exclusive"]] == false)
        // metadata.name must be a DNS-1123 label (pattern and maxLength in the CRD's metadata schema).
        var bad = map
        bad[path: ["metadata", "name"]] = "storage.net"
        let rejected = client.call("POST", "/apis/automagic.dev/v1alpha1/networkdevicemaps", json: bad)
        #expect(rejected.status == 422, "\(rejected.text)")
        #expect(rejected.json?[path: ["details", "causes"]]?[0]?["field"] == "metadata.name", "\(rejected.text)")
    }
}

@Suite struct MetadataSchemaTests {
    @Test func nameIsValidatedAgainstTheSchema() throws {
        let (_, client) = try GizmoFixture.api()
        let dotted = client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo("a.b"))
        #expect(dotted.status == 422, "\(dotted.text)")
        let causes = dotted.json?[path: ["details", "causes"]]?.arrayValue ?? []
        #expect(causes == [["reason": "FieldValueInvalid", "field": "metadata.name",
                            "message": "Invalid value: \"a.b\": metadata.name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"]], "\(causes)")
        #expect(dotted.json?["message"] == "Gizmo.example.com \"a.b\" is invalid: metadata.name: Invalid value: \"a.b\": metadata.name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'")

        let long = client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo(String(repeating: "a", count: 21)))
        #expect(long.status == 422)
        #expect(long.json?[path: ["details", "causes"]] == [["reason": "FieldValueTooLong", "field": "metadata.name", "message": "Too long: may not be longer than 20"]])

        // A name that is not even a DNS subdomain gets the ObjectMeta error first, then the schema's.
        let upper = client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo("Upper"))
        let fields = upper.json?[path: ["details", "causes"]]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
        #expect(upper.status == 422 && fields == ["metadata.name", "metadata.name"], "\(upper.text)")

        #expect(client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo("ok-name")).status == 201)
        // Generated names are validated too (and fit here).
        let generated = client.call("POST", GizmoFixture.path, json: ["apiVersion": "example.com/v1", "kind": "Gizmo",
                                                                      "metadata": ["generateName": "gen-"], "spec": [:]])
        #expect(generated.status == 201, "\(generated.text)")
    }

    /// The NodeDevice CRD declares `metadata: {type: object}` without restrictions: any DNS subdomain
    /// (a node name) is accepted.
    @Test func unrestrictedMetadataSchemaAcceptsSubdomains() throws {
        let crd = try Wire.parseYAML(Array(try readRepositoryFile("crds/automagic.dev_nodedevices.yaml").utf8))
        let client = APIClient(api: LabAPI(configuration: LabAPIConfiguration()))
        try #require(client.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json: crd).status == 201)
        let name = "worker-1.rack-" + String(repeating: "a", count: 60)
        let r = client.call("POST", "/apis/automagic.dev/v1alpha1/nodedevices",
                            json: ["apiVersion": "automagic.dev/v1alpha1", "kind": "NodeDevice", "metadata": ["name": .string(name)]])
        #expect(r.status == 201, "\(r.text)")
        let bad = client.call("POST", "/apis/automagic.dev/v1alpha1/nodedevices",
                              json: ["apiVersion": "automagic.dev/v1alpha1", "kind": "NodeDevice", "metadata": ["name": "Worker_1"]])
        #expect(bad.status == 422, "the DNS-1123 subdomain check still applies: \(bad.text)")
    }
}

@Suite struct JSONPathTests {
    static let object: JSONValue = [
        "metadata": ["name": "x", "labels": ["app.kubernetes.io/name": "demo"], "creationTimestamp": "2026-11-29T00:00:00Z"],
        "spec": ["ports": [["port": 80, "name": "http"], ["port": 443, "name": "https"]], "ratio": 0.5, "big": 1_500_000.0,
                 "flags": ["b": true, "a": false], "empty": [], "nothing": .null, "text": "hi"],
        "status": ["conditions": [
            ["type": "Synced", "status": "True", "count": 1],
            ["type": "Ready", "status": "False", "count": 2],
        ]],
    ]

    func first(_ path: String) throws -> JSONValue? {
        let p = try KubeJSONPath(template: "{\(path)}")
        return try p.findResults(Self.object).first?.first
    }

    func all(_ path: String) throws -> [JSONValue] {
        try KubeJSONPath(template: "{\(path)}").findResults(Self.object).first ?? []
    }

    @Test func fieldsIndexesAndSlices() throws {
        #expect(try first(".metadata.name") == "x")
        #expect(try first("$.metadata.name") == "x")
        #expect(try first(".spec.ports[1].port") == 443)
        #expect(try first(".spec.ports[-1].name") == "https")
        #expect(try all(".spec.ports[0:2].port") == [80, 443])
        #expect(try all(".spec.ports[::2].port") == [80])
        #expect(try first(".metadata.labels.app\\.kubernetes\\.io/name") == "demo")
        #expect(try first(".metadata.missing") == nil)
        #expect(throws: KubeJSONPath.PathError.self) { try first(".spec.ports[5].port") }
        #expect(throws: KubeJSONPath.PathError.self) { try first(".spec.flags[0]") }
        #expect(throws: KubeJSONPath.PathError.self) { try KubeJSONPath(template: "{.spec[}") }
    }

    @Test func wildcardsUnionsAndRecursiveDescent() throws {
        #expect(try all(".spec.ports[*].port") == [80, 443])
        #expect(try all(".spec.flags.*") == [false, true])
        #expect(try all(".spec.ports[0,1].name") == ["http", "https"])
        #expect(try all("..port") == [80, 443])
        #expect(try all(".spec.empty[*]") == [])
    }

    @Test func filters() throws {
        #expect(try first(".status.conditions[?(@.type==\"Ready\")].status") == "False")
        #expect(try first(".status.conditions[?(@.type=='Synced')].status") == "True")
        #expect(try all(".status.conditions[?(@.type!=\"Ready\")].type") == ["Synced"])
        #expect(try all(".status.conditions[?(@.count > 1)].type") == ["Ready"])
        #expect(try all(".status.conditions[?(@.count<=1)].type") == ["Synced"])
        #expect(try all(".spec.ports[?(@.name)].port") == [80, 443])
        #expect(try all(".status.conditions[?(@.type==\"Gone\")].status") == [])
        // Comparing a number with a string is an error in client-go, not a mismatch.
        #expect(throws: KubeJSONPath.PathError.self) { try all(".status.conditions[?(@.count==\"1\")].type") }
    }

    @Test func cellsFollowTheColumnType() throws {
        func cell(_ path: String, _ type: String) -> JSONValue {
            PrinterCells.cell(PrinterCells.compile(path), type: type, object: Self.object,
                              now: Date(timeIntervalSince1970: 1_795_910_400 + 90))
        }
        #expect(cell(".status.conditions[?(@.type==\"Ready\")].status", "string") == "False")
        #expect(cell(".spec.ports[*].port", "integer") == 80)
        #expect(cell(".spec.ports[*].port", "string") == "80")
        #expect(cell(".spec.ratio", "integer") == 0)
        #expect(cell(".spec.ratio", "number") == 0.5)
        #expect(cell(".spec.ports[0].port", "number") == .double(80))
        #expect(cell(".spec.big", "string") == "1.5e+06")
        #expect(cell(".spec.ratio", "string") == "0.5")
        #expect(cell(".spec.flags", "string") == "{\"a\":false,\"b\":true}")
        #expect(cell(".spec.flags.b", "boolean") == true)
        #expect(cell(".spec.text", "integer") == .null)
        #expect(cell(".spec.nothing", "string") == "<no value>")
        #expect(cell(".spec.nothing", "integer") == .null)
        #expect(cell(".spec.missing", "string") == .null)
        #expect(cell(".spec.ports[9].port", "integer") == .null, "an evaluation error leaves the cell empty")
        #expect(cell(".spec.text", "date") == "<invalid>")
        #expect(cell(".metadata.creationTimestamp", "date") == "90s")
        #expect(cell(".spec[", "string") == .null, "a path that does not parse leaves the column empty")
    }

    @Test func goFloatFormatting() {
        #expect(PrinterCells.goFloat(3) == "3")
        #expect(PrinterCells.goFloat(0.5) == "0.5")
        #expect(PrinterCells.goFloat(123456) == "123456")
        #expect(PrinterCells.goFloat(1e6) == "1e+06")
        #expect(PrinterCells.goFloat(1234567) == "1.234567e+06")
        #expect(PrinterCells.goFloat(0.0001) == "0.0001")
        #expect(PrinterCells.goFloat(0.00001) == "1e-05")
        #expect(PrinterCells.goFloat(-2.5e-7) == "-2.5e-07")
        #expect(PrinterCells.goFloat(1e21) == "1e+21")
    }

    @Test func tableRowsEvaluateFilterColumns() throws {
        let (_, client) = try GizmoFixture.api()
        #expect(client.call("POST", GizmoFixture.path, json: GizmoFixture.gizmo("t1", spec: ["ports": [["port": 8080], ["port": 9090]]])).status == 201)
        let status = client.call("PATCH", GizmoFixture.path + "/t1/status",
                                 json: ["status": ["conditions": [["type": "Synced", "status": "True"], ["type": "Ready", "status": "False"]]]],
                                 contentType: "application/merge-patch+json")
        #expect(status.status == 200, "\(status.text)")
        let table = client.call("GET", GizmoFixture.path, accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        #expect(table.status == 200, "\(table.text)")
        let names = table.json?["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["Name", "Ready", "Ports", "Mode"])
        #expect(table.json?["rows"]?[0]?["cells"] == ["t1", "False", 8080, "fast"])
    }
}
