import AutomagicAPI
import JSON
import KubeCore
import Resolver
import Testing
import TestSupport

/// The `.yaml` files directly in the repository folder `dir`, as absolute paths, sorted.
func listYAML(_ dir: String) throws -> [String] {
    try repositoryFiles(in: dir, extensions: ["yaml"]).map(repositoryPath)
}

@Suite("Codable and fixtures")
struct CodableTests {
    /// The example maps of the repository and of the lab (a folder that cannot be listed fails the
    /// tests that take these as arguments).
    static func examples() throws -> [String] {
        try listYAML("manifests/examples") + listYAML("hack/lab/maps")
    }

    @Test("there are at least five example maps")
    func enoughExamples() throws {
        #expect(try Self.examples().filter { $0.contains("/manifests/examples/") }.count >= 5)
    }

    @Test("example maps decode, validate, and round-trip without loss", arguments: try examples())
    func example(_ path: String) throws {
        let docs = try yamlDocuments(try readFixture(path))
        #expect(docs.count == 1)
        let original = try #require(docs.first)
        let map = try original.decode(NetworkDeviceMap.self)
        #expect(map.apiVersion == "automagic.dev/v1alpha1")
        #expect(map.kind == "NetworkDeviceMap")
        #expect(Resolver.validate(map) == [], "\(path)")
        let again = try JSONValue(encoding: map)
        #expect(again == original)
        // The objects are usable: compile and resolve against a synthetic node.
        _ = try CompiledMap(map)
    }

    @Test("a NodeDevice with every field round-trips; nil fields are omitted")
    func nodeDeviceRoundTrip() throws {
        let docs = try yamlDocuments(try readRepositoryFile("Tests/ResolverTests/Fixtures/nodedevice-worker-1.yaml"))
        let original = try #require(docs.first)
        let nd = try original.decode(NodeDevice.self)
        #expect(nd.metadata.name == "worker-1")
        #expect(nd.status?.devices?.count == 4)
        #expect(nd.status?.devices?.first?.lldp?.vlanIDs == [60, 200])
        #expect(try JSONValue(encoding: nd) == original)
        let minimal = NodeDevice(name: "n", status: NodeDeviceStatus(devices: [NetworkDevice(name: "eth0")]))
        let encoded = try JSONValue(encoding: minimal)
        #expect(encoded == [
            "apiVersion": "automagic.dev/v1alpha1", "kind": "NodeDevice", "metadata": ["name": "n"],
            "status": ["devices": [["name": "eth0"]], "deviceCount": 1],
        ])
    }

    @Test("fields unknown to this build (a newer agent) are ignored, not fatal; open enums keep unknown values")
    func unknownFields() throws {
        let newer: JSONValue = [
            "apiVersion": "automagic.dev/v1alpha1", "kind": "NodeDevice", "metadata": ["name": "w"], "futureTopLevel": 1,
            "status": [
                "devices": [["name": "eth0", "kind": "dpu", "futureField": ["x": true], "lldp": ["systemName": "s", "futureTLV": "t"]]],
                "futureStatus": [1, 2],
            ],
        ]
        let nd = try newer.decode(NodeDevice.self)
        let device = try #require(nd.status?.devices?.first)
        #expect(device.kind == DeviceKind(rawValue: "dpu"))
        #expect(device.lldp?.systemName == "s")
        let map: JSONValue = [
            "apiVersion": "automagic.dev/v1alpha1", "kind": "NetworkDeviceMap", "metadata": ["name": "m"],
            "spec": ["rules": [["devices": ["matchExpressions": [["key": "driver", "operator": "Near", "values": ["x"]]]], "priority": 3]], "select": "Smart"],
        ]
        let m = try map.decode(NetworkDeviceMap.self)
        #expect(m.spec.rules.first?.devices.matchExpressions.first?.operator == MatchOperator(rawValue: "Near"))
        #expect(Resolver.validate(m).map(\.field) == ["spec.rules[0].devices.matchExpressions[0].operator", "spec.select"])
    }

    @Test("status types round-trip")
    func statusRoundTrip() throws {
        var m = NetworkDeviceMap(name: "storage", spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [DeviceMatchExpression(key: "name", operator: .exists)])]))
        m.status = NetworkDeviceMapStatus(
            observedGeneration: 3, nodes: NodeCounts(matched: 2, unmatched: 1, total: 3),
            unmatchedNodes: [UnmatchedNode(node: "w3", reason: "no device matched any rule")],
            conflicts: [DeviceConflict(node: "w1", device: "ens5f0", network: "passthrough", winner: "storage", message: "m")],
            conditions: [Condition(type: "Ready", status: "False", observedGeneration: 3, lastTransitionTime: "2026-11-28T22:00:00Z", reason: "NodesUnmatched", message: "1 of 3 nodes unmatched")])
        let json = try JSONValue(encoding: m)
        #expect(try json.decode(NetworkDeviceMap.self) == m)
        #expect(json[path: ["status", "nodes", "matched"]] == .int(2))
        #expect(json["spec"]?["select"] == nil)
    }

    // The parameterized fixture tests below would silently run zero cases if a folder could not
    // be listed; these fail loudly instead (listing errors are thrown, not swallowed).
    @Test("the fixture folders are readable and not empty")
    func fixtureFoldersArePresent() throws {
        #expect(try listYAML("manifests/examples").count >= 5)
        #expect(try listYAML("hack/lab/maps").count >= 4)
        #expect(try listYAML("Tests/ResolverTests/Fixtures/invalid").count >= 10)
        #expect(try listYAML("Tests/ResolverTests/Fixtures/semantic-invalid").count >= 5)
    }

    @Test("schema-invalid fixtures fail decoding or validation at the field the server names", arguments: try listYAML("Tests/ResolverTests/Fixtures/invalid"))
    func invalidFixture(_ path: String) throws {
        let text = try readFixture(path)
        let field = try #require(expectedField(text, after: "naming "))
        let doc = try #require(try yamlDocuments(text).first)
        let map: NetworkDeviceMap
        do {
            map = try doc.decode(NetworkDeviceMap.self)
        } catch {
            // Wrong JSON types are refused by decoding (the server says FieldValueTypeInvalid).
            #expect(field.hasSuffix("values[0]"), "\(path): \(error)")
            return
        }
        let errors = Resolver.validate(map)
        #expect(errors.contains { $0.field == field }, "\(path): expected \(field), got \(errors)")
    }

    @Test("semantic-invalid fixtures are refused by validation at the named field", arguments: try listYAML("Tests/ResolverTests/Fixtures/semantic-invalid"))
    func semanticInvalidFixture(_ path: String) throws {
        let text = try readFixture(path)
        let field = try #require(expectedField(text, after: "validate\n# (and so reported by the controller in the Ready condition) at "))
        let map = try #require(try yamlDocuments(text).first).decode(NetworkDeviceMap.self)
        let errors = Resolver.validate(map)
        #expect(errors.contains { $0.field == field }, "\(path): expected \(field), got \(errors)")
    }

    func expectedField(_ text: String, after marker: String) -> String? {
        guard let r = text.range(of: marker) else { return nil }
        let rest = text[r.upperBound...]
        let end = rest.firstIndex { $0 == " " || $0 == ":" || $0 == "\n" } ?? rest.endIndex
        return String(rest[..<end])
    }
}

@Suite("CRDs agree with the Swift API")
struct CRDConsistencyTests {
    static func crd(_ file: String) throws -> JSONValue {
        try #require(try yamlDocuments(try readRepositoryFile("crds/\(file)")).first)
    }

    static func strings(_ v: JSONValue?) -> [String] { (v?.arrayValue ?? []).compactMap(\.stringValue) }

    @Test func mapCRD() throws {
        let c = try Self.crd("automagic.dev_networkdevicemaps.yaml")
        #expect(c[path: ["spec", "group"]] == .string(Automagic.group))
        #expect(c[path: ["spec", "scope"]] == "Cluster")
        #expect(Self.strings(c[path: ["spec", "names", "shortNames"]]) == ["ndm"])
        #expect(Self.strings(c[path: ["spec", "names", "categories"]]) == ["automagic"])
        #expect(c[path: ["spec", "names", "plural"]] == .string(NetworkDeviceMap.resourceType.resource))
        let version = try #require(c[path: ["spec", "versions"]]?[0])
        #expect(version["name"] == .string(Automagic.version))
        #expect(version[path: ["subresources", "status"]] == .object([:]))
        let columns = (version["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(Array(columns.prefix(3)) == ["Matched", "Unmatched", "Ready"])
        #expect(columns.last == "Age")
        let spec = try #require(version[path: ["schema", "openAPIV3Schema", "properties", "spec", "properties"]])
        let expr = try #require(spec[path: ["rules", "items", "properties", "devices", "properties", "matchExpressions", "items", "properties"]])
        #expect(Self.strings(expr[path: ["key", "enum"]]) == DeviceField.allCases.map(\.rawValue))
        #expect(Self.strings(expr[path: ["operator", "enum"]]) == MatchOperator.allKnown.map(\.rawValue))
        #expect(Self.strings(spec[path: ["select", "enum"]]) == SelectPolicy.allKnown.map(\.rawValue))
        #expect(Self.strings(spec[path: ["attachment", "properties", "type", "enum"]]) == AttachmentType.allKnown.map(\.rawValue))
        #expect(Set(Self.strings(spec[path: ["attachment", "properties", "mode", "enum"]])) == Set(AttachmentType.allKnown.flatMap(\.knownModes)))
        #expect(spec[path: ["rules", "maxItems"]] == .int(Int64(MapLimits.maxRules)))
        #expect(spec[path: ["rules", "items", "properties", "devices", "properties", "matchExpressions", "maxItems"]] == .int(Int64(MapLimits.maxExpressions)))
        #expect(expr[path: ["values", "maxItems"]] == .int(Int64(MapLimits.maxValues)))
        #expect(expr[path: ["values", "items", "maxLength"]] == .int(Int64(MapLimits.maxValueLength)))
    }

    @Test func nodeDeviceCRD() throws {
        let c = try Self.crd("automagic.dev_nodedevices.yaml")
        #expect(Self.strings(c[path: ["spec", "names", "shortNames"]]) == ["nd"])
        #expect(c[path: ["spec", "names", "plural"]] == .string(NodeDevice.resourceType.resource))
        let version = try #require(c[path: ["spec", "versions"]]?[0])
        let columns = (version["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(Array(columns.prefix(3)) == ["Devices", "Networks", "Probed"])
        let status = try #require(version[path: ["schema", "openAPIV3Schema", "properties", "status", "properties"]])
        let device = try #require(status[path: ["devices", "items", "properties"]])
        #expect(Self.strings(device[path: ["kind", "enum"]]) == DeviceKind.allKnown.map(\.rawValue))
        // Every matchable key is a field of the device schema.
        for field in DeviceField.allCases {
            let path = field.rawValue.split(separator: ".").map(String.init)
            let schema = path.count == 1 ? device[path[0]] : device[path: [path[0], "properties", path[1]]]
            #expect(schema != nil, "\(field) missing from the NodeDevice schema")
        }
        #expect(status[path: ["devices", "x-kubernetes-list-map-keys"]] == ["name"])
        #expect(status[path: ["networks", "x-kubernetes-list-map-keys"]] == ["network"])
        #expect(status[path: ["conditions", "x-kubernetes-list-map-keys"]] == ["type"])
    }
}
