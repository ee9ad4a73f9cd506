import AutomagicAPI
import DRA
import Foundation
import JSON
import Testing

@testable import Agent

/// ``ResourceSlicePlanning``: the writes that bring a node's ResourceSlices to its devices.
@Suite struct ResourceSlicePlanningTests {
    static let node = "worker-1"
    static let uid = "6f1c1f0e-0000-4000-8000-000000000001"

    /// `count` NICs with MACs 02:00:00:00:xx:yy (device names `mac-020000 00xxyy`), as the
    /// planner takes them (each device's JSON).
    static func devices(_ count: Int, mtu: Int = 1500) -> [[UInt8]] {
        let nics = (0..<count).map { i in
            NetworkDevice(name: "eth\(i)", mac: String(format: "02:00:00:00:%02x:%02x", i / 256, i % 256), mtu: mtu)
        }
        return ResourceSlicePlanning.encode(DRAAttributes.devices(nics, node: node))
    }

    /// A planned slice as the server would receive it.
    static func json(_ slice: ResourceSlicePlanning.PlannedSlice) throws -> JSONValue {
        try JSONValue.parse(slice.body())
    }

    /// Applies `actions` as a server would (creates and updates stored with a new resourceVersion).
    static func apply(_ actions: [ResourceSlicePlanning.Action], to current: [JSONValue]) throws -> [JSONValue] {
        var byName: [String: JSONValue] = [:]
        for s in current { byName[s[path: ["metadata", "name"]]?.stringValue ?? ""] = s }
        for (i, a) in actions.enumerated() {
            switch a {
            case .create(let planned), .update(let planned):
                var o = try json(planned)
                o[path: ["metadata", "resourceVersion"]] = .string(String(100 + i))
                o[path: ["metadata", "uid"]] = .string(o[path: ["metadata", "uid"]]?.stringValue ?? "uid-\(i)")
                byName[o[path: ["metadata", "name"]]?.stringValue ?? ""] = o
            case .delete(let name, _):
                byName[name] = nil
            }
        }
        return byName.keys.sorted().compactMap { byName[$0] }
    }

    /// Plans against `current` (stored slices as JSON), summarized as the agent keeps them.
    static func plan(_ devices: [[UInt8]], _ current: [JSONValue], uid: String = uid) throws -> [ResourceSlicePlanning.Action] {
        ResourceSlicePlanning.plan(node: node, nodeUID: uid, devices: devices, current: try current.map { try ResourceSliceSummary($0) })
    }

    /// A stored slice of `node`'s pool, as the agent would have written it.
    static func stored(node: String = node, name: String? = nil, driver: String = "automagic.dev", generation: Int64) -> JSONValue {
        [
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": ["name": .string(name ?? "\(node)-automagic.dev-0"), "uid": "uid-s", "resourceVersion": "7",
                         "ownerReferences": [["apiVersion": "v1", "kind": "Node", "name": .string(node), "uid": .string(uid)]]],
            "spec": ["driver": .string(driver), "nodeName": .string(node), "devices": [],
                     "pool": ["name": .string(node), "generation": .int(generation), "resourceSliceCount": 1]],
        ]
    }

    @Test func firstPublishCreatesOneSliceOwnedByTheNodeAndThenNothing() throws {
        let devices = Self.devices(3)
        let actions = try Self.plan(devices, [])
        #expect(actions.count == 1)
        guard case .create(let planned)? = actions.first else { Issue.record("\(actions)"); return }
        let slice = try Self.json(planned)
        #expect(slice[path: ["apiVersion"]] == "resource.k8s.io/v1" && slice[path: ["kind"]] == "ResourceSlice")
        #expect(slice[path: ["metadata", "name"]]?.stringValue == "worker-1-automagic.dev-0")
        #expect(slice[path: ["spec", "driver"]]?.stringValue == "automagic.dev")
        #expect(slice[path: ["spec", "nodeName"]]?.stringValue == "worker-1")
        #expect(slice[path: ["spec", "pool"]] == ["name": "worker-1", "generation": 1, "resourceSliceCount": 1])
        #expect(slice[path: ["spec", "devices"]]?.arrayValue == (try devices.map { try JSONValue.parse($0) }))
        let owner = try #require(slice[path: ["metadata", "ownerReferences"]]?.arrayValue?.first)
        #expect(owner == ["apiVersion": "v1", "kind": "Node", "name": "worker-1", "uid": .string(Self.uid)])
        // Stored: planning again writes nothing.
        #expect(try Self.plan(devices, Self.apply(actions, to: [])).isEmpty)
    }

    @Test func aChangedAttributeBumpsTheGenerationOfEverySlice() throws {
        let stored = try Self.apply(Self.plan(Self.devices(130), []), to: [])
        #expect(stored.count == 2)
        #expect(stored.allSatisfy { $0[path: ["spec", "pool", "resourceSliceCount"]]?.intValue == 2 })
        #expect(stored.map { $0[path: ["spec", "devices"]]?.arrayValue?.count ?? 0 } == [128, 2])
        let changed = try Self.plan(Self.devices(130, mtu: 9000), stored)
        #expect(changed.count == 2)
        let after = try Self.apply(changed, to: stored)
        #expect(after.allSatisfy { $0[path: ["spec", "pool", "generation"]]?.intValue == 2 })
        #expect(try Self.plan(Self.devices(130, mtu: 9000), after).isEmpty)
    }

    @Test func shrinkingBelow128DevicesDeletesTheSecondSlice() throws {
        let stored = try Self.apply(Self.plan(Self.devices(130), []), to: [])
        let actions = try Self.plan(Self.devices(100), stored)
        #expect(actions.contains(.delete(name: "worker-1-automagic.dev-1", uid: "uid-1")), "\(actions)")
        let after = try Self.apply(actions, to: stored)
        #expect(after.count == 1)
        #expect(after.first?[path: ["spec", "pool"]] == ["name": "worker-1", "generation": 2, "resourceSliceCount": 1])
        // No devices at all: no slices.
        #expect(try Self.apply(Self.plan([], after), to: after).isEmpty)
    }

    @Test func aNodeCreatedAgainGetsItsOwnerReferenceRepairedWithoutANewGeneration() throws {
        let stored = try Self.apply(Self.plan(Self.devices(2), []), to: [])
        let newUID = "6f1c1f0e-0000-4000-8000-000000000002"
        let actions = try Self.plan(Self.devices(2), stored, uid: newUID)
        guard case .update(let planned)? = actions.first, actions.count == 1 else { Issue.record("\(actions)"); return }
        let slice = try Self.json(planned)
        #expect(slice[path: ["metadata", "ownerReferences"]]?.arrayValue?.map { $0["uid"]?.stringValue } == [newUID])
        #expect(slice[path: ["spec", "pool", "generation"]]?.intValue == 1)
        #expect(slice[path: ["metadata", "resourceVersion"]] != nil, "an update carries the stored resourceVersion")
    }

    @Test func otherSlicesAreNeverTouched() throws {
        let foreignDriver = Self.stored(driver: "gpu.example.com", generation: 7)
        let otherNode = Self.stored(node: "worker-2", name: "worker-1-automagic.dev-5", generation: 7)
        let unnumbered = Self.stored(name: "worker-1-automagic.dev-extra", generation: 7)
        #expect(ResourceSlicePlanning.isOwn(try ResourceSliceSummary(Self.stored(generation: 7)), node: Self.node))
        for s in [foreignDriver, otherNode, unnumbered] { #expect(!ResourceSlicePlanning.isOwn(try ResourceSliceSummary(s), node: Self.node)) }
        let actions = try Self.plan(Self.devices(1), [foreignDriver, otherNode, unnumbered])
        #expect(actions.count == 1)
        if case .create(let planned)? = actions.first {
            let s = try Self.json(planned)
            #expect(s[path: ["metadata", "name"]]?.stringValue == "worker-1-automagic.dev-0")
            #expect(s[path: ["spec", "pool", "generation"]]?.intValue == 1, "a foreign slice's generation does not count")
        } else {
            Issue.record("expected a create: \(actions)")
        }
    }

    @Test func aNodeNameTooLongForSliceNamesIsNamed() throws {
        #expect(ResourceSlicePlanning.nameError(node: Self.node) == nil)
        let fits = String(repeating: "a", count: 253 - "-automagic.dev-9999".count)
        #expect(ResourceSlicePlanning.nameError(node: fits) == nil)
        let message = try #require(ResourceSlicePlanning.nameError(node: fits + "a"))
        #expect(message.contains("too long for ResourceSlice names") && message.contains("up to \(fits.count) characters"), "\(message)")
    }

    /// JSON text of `value` with every object's keys in reverse order and spaces around the
    /// punctuation: the same value as the agent writes it, in another layout (a real API server
    /// writes a typed object's fields in its Go struct's order).
    static func otherLayout(_ value: JSONValue) -> String {
        switch value {
        case .array(let a): return "[ " + a.map(otherLayout).joined(separator: " , ") + " ]"
        case .object(let o):
            return "{ " + o.keys.sorted(by: >).map { k in
                JSONValue.string(k).jsonString() + " : " + otherLayout(o[k] ?? .null)
            }.joined(separator: " , ") + " }"
        default: return value.jsonString()
        }
    }

    @Test func digestsAreEqualExactlyWhenTheBytesAre() {
        #expect(ContentDigest(of: Array("abc".utf8)) == ContentDigest(of: Array("abc".utf8)))
        #expect(ContentDigest(of: Array("abc".utf8)) != ContentDigest(of: Array("abd".utf8)))
        #expect(ContentDigest(of: []) != ContentDigest(of: [0]))
        #expect(ContentDigest(of: [0]) != ContentDigest(of: [0, 0]))
        // Every one of 20,000 distinct inputs (one-byte edits of a device list's JSON, and prefixes
        // of it) gets its own digest.
        let base = Array(#"[{"name":"pci-0000-3b-00-0","attributes":{"driver":{"string":"ice"}}}]"#.utf8)
        var inputs = Set<[UInt8]>()
        for i in base.indices { for b: UInt8 in [0x30, 0x41, 0x7a] { var v = base; v[i] = b; inputs.insert(v) } }
        for n in 0...base.count { inputs.insert(Array(base.prefix(n))) }
        var random = SystemRandomNumberGenerator()
        while inputs.count < 20_000 { inputs.insert((0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }) }
        #expect(Set(inputs.map { ContentDigest(of: $0) }).count == inputs.count)
    }

    /// The spec the planner writes is byte for byte the canonical JSON of the same spec as a
    /// `JSONValue` (what a stored slice's digest is taken of), escapes included.
    @Test func theWrittenSpecIsTheCanonicalJSONOfTheSpec() throws {
        let devices: [JSONValue] = [
            ["name": "a", "attributes": ["note": ["string": "quote \" backslash \\ é \n"], "mtu": ["int": 9000], "up": ["bool": true]]],
            ["name": "b", "attributes": [:]],
        ]
        let spec = ResourceSlicePlanning.spec(
            node: "worker-1", generation: 3, count: 2, devicesJSON: ResourceSlicePlanning.devicesJSON(devices.map { $0.serialized() }[...]))
        let tree: JSONValue = [
            "driver": "automagic.dev", "nodeName": "worker-1", "devices": .array(devices),
            "pool": ["name": "worker-1", "generation": 3, "resourceSliceCount": 2],
        ]
        #expect(String(decoding: spec, as: UTF8.self) == tree.jsonString())
        #expect(try JSONValue.parse(spec) == tree)
    }

    /// A slice read back from the server (straight from its bytes, in any key order and layout)
    /// has the digests of what was written: planning again writes nothing; a changed device or
    /// pool field in the stored copy is written back.
    @Test func aSliceReadBackInAnotherLayoutNeedsNoWrite() throws {
        let devices = Self.devices(3)
        let stored = try Self.apply(Self.plan(devices, []), to: [])
        let slice = try #require(stored.first)
        let read = try JSONReader.decode(ResourceSliceSummary.self, from: Array(Self.otherLayout(slice).utf8))
        #expect(read == (try ResourceSliceSummary(slice)))
        #expect(read.metadata.name == "worker-1-automagic.dev-0" && read.metadata.resourceVersion == "100")
        #expect(read.generation == 1 && read.resourceSliceCount == 1 && read.poolName == "worker-1")
        #expect(ResourceSlicePlanning.plan(node: Self.node, nodeUID: Self.uid, devices: devices, current: [read]).isEmpty)

        var edited = slice
        edited[path: ["spec", "devices"]] = .array(Array((slice[path: ["spec", "devices"]]?.arrayValue ?? []).dropLast()))
        let shorter = try JSONReader.decode(ResourceSliceSummary.self, from: Array(Self.otherLayout(edited).utf8))
        #expect(shorter.devicesDigest != read.devicesDigest && shorter.specDigest != read.specDigest)
        let repair = ResourceSlicePlanning.plan(node: Self.node, nodeUID: Self.uid, devices: devices, current: [shorter])
        guard case .update(let planned)? = repair.first, repair.count == 1 else { Issue.record("\(repair)"); return }
        #expect(try Self.json(planned)[path: ["spec", "pool", "generation"]] == 2)

        var extra = slice
        extra[path: ["spec", "allNodes"]] = false
        let withExtra = try ResourceSliceSummary(extra)
        #expect(withExtra.devicesDigest == read.devicesDigest && withExtra.specDigest != read.specDigest)
        let cleanup = ResourceSlicePlanning.plan(node: Self.node, nodeUID: Self.uid, devices: devices, current: [withExtra])
        guard case .update(let rewritten)? = cleanup.first, cleanup.count == 1 else { Issue.record("\(cleanup)"); return }
        #expect(try Self.json(rewritten)[path: ["spec", "allNodes"]] == nil)
        #expect(try Self.json(rewritten)[path: ["spec", "pool", "generation"]] == 1, "same devices: same generation")
    }

    /// A summary holds digests, not devices: encoding one (writing it back) is refused with a
    /// message saying so, not a slice without devices.
    @Test func aSummaryCannotBeWrittenBack() throws {
        let summary = try ResourceSliceSummary(Self.stored(generation: 1))
        let error = try #require(throws: EncodingError.self) { try JSONEncoder().encode(summary) }
        #expect("\(error)".contains("held as a summary"), "\(error)")
    }
}
