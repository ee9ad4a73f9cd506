import AutomagicAPI
import Foundation
import JSON
import KubeCore
import PropertyBased
import Resolver
import SyntheticFleets
import Testing
import TestSupport

// The hand-written JSONReader conformances of the AutomagicAPI types against their Codable
// conformances (the reference): random objects, fixtures, nulls, unknown members and bad input.

private func viaCodable<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(bytes))
}

private func viaReader<T: JSONReadable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
    try JSONReader.decode(T.self, from: bytes)
}

private let awkward = ["", "x", "ens5f1", "q\"uote", "back\\slash", "tab\tnl\n", "\u{01}", "é", "日本", "😀", "a/b",
                       String(repeating: "long", count: 20)]

/// A random NodeDevice: the synthetic fleet's devices with every optional field sometimes set to awkward values.
func randomNodeDevice(seed: UInt64) -> NodeDevice {
    var g = SyntheticFleet(seed: seed)
    func s(_ g: inout SyntheticFleet) -> String { g.pick(awkward) + String(g.below(100)) }
    var devices = g.devices(g.below(12))
    for i in devices.indices where g.below(3) == 0 {
        devices[i].altNames = (0..<g.below(3)).map { _ in s(&g) }
        devices[i].permanentMAC = s(&g)
        devices[i].kind = DeviceKind(rawValue: g.pick(["physical", "future-kind", s(&g)]))
        devices[i].mtu = g.pick([0, -1, Int.max, Int.min, 68])
        devices[i].hasDefaultRoute = g.below(2) == 0
        devices[i].parent = s(&g)
        devices[i].lldp = LLDPNeighbor(chassisID: s(&g), portID: s(&g), systemName: s(&g), portDescription: s(&g),
                                       managementAddress: s(&g), vlanIDs: (0..<g.below(4)).map { _ in g.below(4095) },
                                       vlanNames: (0..<g.below(3)).map { _ in s(&g) }, lastHeard: s(&g))
        devices[i].sriov = SRIOVInfo(totalVFs: g.below(128), numVFs: g.below(64), pfName: s(&g))
    }
    var meta = ObjectMeta(name: "worker-\(seed % 1000)")
    meta.uid = UUID().uuidString.lowercased()
    meta.resourceVersion = String(seed % 100_000)
    if g.below(2) == 0 { meta.labels = ["a": s(&g), s(&g): ""] }
    if g.below(2) == 0 { meta.ownerReferences = [OwnerReference(apiVersion: "v1", kind: "Node", name: s(&g), uid: s(&g), controller: true)] }
    if g.below(3) == 0 { return NodeDevice(metadata: meta) }
    let networks = (0..<g.below(4)).map { i in
        NodeNetworkStatus(network: "net-\(i)", device: g.below(2) == 0 ? s(&g) : nil, rule: g.below(2) == 0 ? "rules[0]" : nil,
                          message: g.below(2) == 0 ? s(&g) : nil)
    }
    let conditions = (0..<g.below(3)).map { _ in
        Condition(type: g.pick(["Ready", "ProbeFailed"]), status: g.pick(["True", "False", "Unknown"]),
                  observedGeneration: g.below(2) == 0 ? Int64(g.below(10)) : nil, lastTransitionTime: "2026-11-28T22:00:00Z",
                  reason: s(&g), message: s(&g))
    }
    return NodeDevice(metadata: meta, status: NodeDeviceStatus(
        devices: devices, networks: g.below(2) == 0 ? networks : nil, probedAt: "2026-11-28T22:00:00Z",
        agentVersion: g.below(2) == 0 ? "0.1.0" : nil, conditions: conditions.isEmpty ? nil : conditions))
}

/// A random NetworkDeviceMap: the synthetic fleet's maps plus attachment, NAD template and status.
func randomMap(seed: UInt64) -> NetworkDeviceMap {
    var g = SyntheticFleet(seed: seed)
    var map = g.map("net-\(seed % 100)")
    if g.below(2) == 0 { map.spec.attachment = AttachmentSpec(type: g.pick([.macvlan, .ipvlan, .hostDevice, "future"]), mode: g.below(2) == 0 ? "bridge" : nil, mtu: g.below(2) == 0 ? 9000 : nil) }
    if g.below(2) == 0 {
        let ipam: JSONValue? = g.pick([nil, ["type": "whereabouts", "range": "192.168.60.0/24", "n": 3, "f": 0.5, "ok": true, "z": nil, "l": [1, "a"]], "not-an-object"])
        map.spec.networkAttachmentDefinition = NADTemplate(namespaces: g.below(2) == 0 ? ["default", "é"] : nil, ipam: ipam)
    }
    if g.below(2) == 0 { map.spec.dra = g.below(2) == 0 }
    if g.below(3) == 0 { map.spec.rules[0].devices.matchExpressions.append(DeviceMatchExpression(key: "unknown.key", operator: "Near", values: [])) }
    if g.below(2) == 0 {
        map.status = NetworkDeviceMapStatus(
            observedGeneration: Int64(g.below(9)), nodes: NodeCounts(matched: g.below(9), unmatched: g.below(9), total: 18),
            unmatchedNodes: (0..<g.below(3)).map { UnmatchedNode(node: "n\($0)", reason: "no device matched") },
            conflicts: (0..<g.below(3)).map { DeviceConflict(node: "n\($0)", device: "ens1", network: "b", winner: "a", message: "m \"q\"") },
            conditions: [Condition(type: "Ready", status: "False", lastTransitionTime: "t", reason: "r", message: "m")])
    }
    return map
}

/// Adds unknown members everywhere and turns some absent optional members into explicit `null`s.
func decorate(_ value: JSONValue, _ g: inout SyntheticFleet, depth: Int = 0) -> JSONValue {
    switch value {
    case .object(var o):
        for (k, v) in o { o[k] = decorate(v, &g, depth: depth + 1) }
        if g.below(2) == 0 { o["zz\(g.below(99))"] = ["unknown": [1, 2.5, "s\\\"", nil, ["x": false]]] }
        for key in ["mac", "mtu", "kind", "lldp", "status", "networks", "device", "select", "exclusive", "dra", "attachment",
                    "observedGeneration", "nodeSelector", "labels", "values", "ipam", "numVFs", "vlanIDs", "altNames"]
        where o[key] == nil && g.below(4) == 0 && depth > 0 {
            o[key] = .null
        }
        return .object(o)
    case .array(let a):
        return .array(a.map { decorate($0, &g, depth: depth + 1) })
    default:
        return value
    }
}

@Suite("JSONReader for the API types")
struct APIReaderTests {
    @Test("random NodeDevices read exactly as Codable decodes them")
    func nodeDevices() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...Int.max)) { seed in
            let original = randomNodeDevice(seed: UInt64(seed))
            var g = SyntheticFleet(seed: UInt64(seed) ^ 0xdec0)
            var doc = try JSONValue(encoding: original)
            if seed % 2 == 0 { doc = decorate(doc, &g) }
            let bytes = doc.serialized(pretty: seed % 3 == 0)
            let reference = try viaCodable(NodeDevice.self, bytes)
            let fast = try viaReader(NodeDevice.self, bytes)
            #expect(fast == reference, "seed \(seed)")
            #expect(fast == original, "seed \(seed)")
        }
    }

    @Test("random NetworkDeviceMaps read exactly as Codable decodes them")
    func maps() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...Int.max)) { seed in
            let original = randomMap(seed: UInt64(seed))
            var g = SyntheticFleet(seed: UInt64(seed) ^ 0xdec0)
            var doc = try JSONValue(encoding: original)
            if seed % 2 == 0 { doc = decorate(doc, &g) }
            let bytes = doc.serialized()
            let reference = try viaCodable(NetworkDeviceMap.self, bytes)
            let fast = try viaReader(NetworkDeviceMap.self, bytes)
            #expect(fast == reference, "seed \(seed): \(doc)")
        }
    }

    @Test("lists and watch events of NodeDevices read exactly as Codable decodes them")
    func listsAndEvents() throws {
        let items = (0..<20).map { randomNodeDevice(seed: UInt64($0)) }
        let list: JSONValue = ["apiVersion": "automagic.dev/v1alpha1", "kind": "NodeDeviceList", "metadata": ["resourceVersion": "7"],
                               "items": .array(try items.map { try JSONValue(encoding: $0) })]
        let reference = try viaCodable(ObjectList<NodeDevice>.self, list.serialized())
        let fast = try viaReader(ObjectList<NodeDevice>.self, list.serialized())
        #expect(fast.items == reference.items)
        #expect(fast.items == items)
        #expect(fast.metadata == reference.metadata)
        for item in items {
            let line = #"{"type":"MODIFIED","object":"# + (try JSONValue(encoding: item)).jsonString() + "}"
            let event = try viaReader(WatchEvent<NodeDevice>.self, Array(line.utf8))
            #expect(event.object == item)
            #expect(event.object == (try viaCodable(WatchEvent<NodeDevice>.self, Array(line.utf8))).object)
        }
    }

    @Test("the fixtures and example maps read exactly as Codable decodes them")
    func fixtures() throws {
        let nodeDevice = try #require(try yamlDocuments(try readRepositoryFile("Tests/ResolverTests/Fixtures/nodedevice-worker-1.yaml")).first)
        let ndBytes = nodeDevice.serialized()
        #expect(try viaReader(NodeDevice.self, ndBytes) == viaCodable(NodeDevice.self, ndBytes))
        var maps = 0
        for path in try CodableTests.examples() {
            for doc in try yamlDocuments(try readFixture(path)) {
                let bytes = doc.serialized()
                #expect(try viaReader(NetworkDeviceMap.self, bytes) == viaCodable(NetworkDeviceMap.self, bytes), "\(path)")
                maps += 1
            }
        }
        #expect(maps >= 5)
    }

    @Test("defaults for absent members match Codable")
    func defaults() throws {
        for text in [#"{}"#, #"{"metadata":null,"status":null}"#, #"{"apiVersion":null,"kind":null,"status":{}}"#,
                     #"{"status":{"devices":[],"networks":[],"conditions":[]}}"#,
                     #"{"status":{"devices":[{"name":"e","sriov":{},"lldp":{},"altNames":[]}]}}"#] {
            #expect(try viaReader(NodeDevice.self, Array(text.utf8)) == viaCodable(NodeDevice.self, Array(text.utf8)), "\(text)")
        }
        for text in [#"{"spec":{}}"#, #"{"spec":{"rules":null}}"#, #"{"spec":{"rules":[{"devices":{}}]}}"#,
                     #"{"spec":{"rules":[{"devices":{"matchExpressions":null}}],"networkAttachmentDefinition":{"ipam":null}}}"#,
                     #"{"spec":{"networkAttachmentDefinition":{"ipam":[1,{"a":"b"}]}},"status":{"nodes":null}}"#] {
            #expect(try viaReader(NetworkDeviceMap.self, Array(text.utf8)) == viaCodable(NetworkDeviceMap.self, Array(text.utf8)), "\(text)")
        }
    }

    @Test("bad input is rejected by both, and the reader names the member")
    func badInput() throws {
        let badNodeDevices = [
            #"{"status":{"devices":[{"mtu":1}]}}"#,                          // name missing
            #"{"status":{"devices":[{"name":null}]}}"#,                      // required null
            #"{"status":{"devices":[{"name":"e","mtu":"9000"}]}}"#,          // wrong type
            #"{"status":{"devices":[{"name":"e","mtu":1.5}]}}"#,             // not an integer
            #"{"status":{"devices":[{"name":"e","carrier":"true"}]}}"#,
            #"{"status":{"devices":[{"name":"e","kind":5}]}}"#,
            #"{"status":{"devices":{"name":"e"}}}"#,
            #"{"status":{"networks":[{"device":"e"}]}}"#,
            #"{"status":{"devices":[{"name":"e","lldp":{"vlanIDs":["100"]}}]}}"#,
            #"{"status":{"devices":[{"name":"e","mtu":99999999999999999999}]}}"#,
            #"{"status":{"devices":[{"name":"e"}]"#,                          // truncated
            #"{"metadata":{"name":"x"}} {}"#,                                 // trailing data
            #"{"status":{"devices":[{"name":"e\q"}]}}"#,                     // bad escape
            "[]", "null", "",
        ]
        for text in badNodeDevices {
            #expect(throws: (any Error).self, "\(text)") { try viaCodable(NodeDevice.self, Array(text.utf8)) }
            #expect(throws: JSONError.self, "\(text)") { try viaReader(NodeDevice.self, Array(text.utf8)) }
        }
        let badMaps = [
            #"{"metadata":{"name":"m"}}"#, #"{"spec":null}"#, #"{"spec":{"rules":[{}]}}"#,
            #"{"spec":{"rules":[{"devices":{"matchExpressions":[{"key":"k"}]}}]}}"#,
            #"{"spec":{"attachment":{"mode":"bridge"}}}"#, #"{"spec":{},"status":{"nodes":{"matched":1,"total":2}}}"#,
            #"{"spec":{},"status":{"conflicts":[{"node":"n","device":"d","network":"x","winner":"w"}]}}"#,
            #"{"spec":{},"status":{"unmatchedNodes":[{"node":"n"}]}}"#, #"{"spec":{"exclusive":"yes"}}"#, #"{"spec":{"dra":1}}"#,
        ]
        for text in badMaps {
            #expect(throws: (any Error).self, "\(text)") { try viaCodable(NetworkDeviceMap.self, Array(text.utf8)) }
            #expect(throws: JSONError.self, "\(text)") { try viaReader(NetworkDeviceMap.self, Array(text.utf8)) }
        }
        let error = #expect(throws: JSONError.self) {
            try viaReader(NodeDevice.self, Array(#"{"status":{"devices":[{"name":"a"},{"name":"b","mtu":"x"}]}}"#.utf8))
        }
        #expect(error?.message == "expected integer, got string at status.devices[1].mtu")
        let missing = #expect(throws: JSONError.self) {
            try viaReader(NetworkDeviceMap.self, Array(#"{"spec":{"rules":[{"devices":{}},{"name":"r1"}]}}"#.utf8))
        }
        #expect(missing?.message == "missing required member 'devices' at spec.rules[1]")
    }

    @Test("open enums keep unknown values")
    func openEnums() throws {
        let text = #"{"spec":{"select":"Newest","attachment":{"type":"sriov"},"rules":[{"devices":{"matchExpressions":[{"key":"k","operator":"Near"}]}}]}}"#
        let map = try viaReader(NetworkDeviceMap.self, Array(text.utf8))
        #expect(map.spec.select?.rawValue == "Newest")
        #expect(map.spec.attachment?.type.rawValue == "sriov")
        #expect(map.spec.rules.first?.devices.matchExpressions.first?.operator.rawValue == "Near")
        #expect(map == (try viaCodable(NetworkDeviceMap.self, Array(text.utf8))))
        let nd = try viaReader(NodeDevice.self, Array(#"{"status":{"devices":[{"name":"e","kind":"smartnic"}]}}"#.utf8))
        #expect(nd.status?.devices?.first?.kind?.rawValue == "smartnic")
    }
}
