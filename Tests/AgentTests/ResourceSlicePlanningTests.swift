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

    /// `count` NICs with MACs 02:00:00:00:xx:yy (device names `mac-020000 00xxyy`).
    static func devices(_ count: Int, mtu: Int = 1500) -> [JSONValue] {
        let nics = (0..<count).map { i in
            NetworkDevice(name: "eth\(i)", mac: String(format: "02:00:00:00:%02x:%02x", i / 256, i % 256), mtu: mtu)
        }
        return DRAAttributes.devices(nics, node: node).map(\.json)
    }

    /// Applies `actions` as a server would (creates and updates stored with a new resourceVersion).
    static func apply(_ actions: [ResourceSlicePlanning.Action], to current: [JSONValue]) -> [JSONValue] {
        var byName: [String: JSONValue] = [:]
        for s in current { byName[s[path: ["metadata", "name"]]?.stringValue ?? ""] = s }
        for (i, a) in actions.enumerated() {
            switch a {
            case .create(var o), .update(var o):
                o[path: ["metadata", "resourceVersion"]] = .string(String(100 + i))
                o[path: ["metadata", "uid"]] = .string(o[path: ["metadata", "uid"]]?.stringValue ?? "uid-\(i)")
                byName[o[path: ["metadata", "name"]]?.stringValue ?? ""] = o
            case .delete(let name, _):
                byName[name] = nil
            }
        }
        return byName.keys.sorted().compactMap { byName[$0] }
    }

    static func plan(_ devices: [JSONValue], _ current: [JSONValue], uid: String = uid) -> [ResourceSlicePlanning.Action] {
        ResourceSlicePlanning.plan(node: node, nodeUID: uid, devices: devices, current: current)
    }

    @Test func firstPublishCreatesOneSliceOwnedByTheNodeAndThenNothing() throws {
        let devices = Self.devices(3)
        let actions = Self.plan(devices, [])
        #expect(actions.count == 1)
        guard case .create(let slice)? = actions.first else { Issue.record("\(actions)"); return }
        #expect(slice[path: ["metadata", "name"]]?.stringValue == "worker-1-automagic.dev-0")
        #expect(slice[path: ["spec", "driver"]]?.stringValue == "automagic.dev")
        #expect(slice[path: ["spec", "nodeName"]]?.stringValue == "worker-1")
        #expect(slice[path: ["spec", "pool"]] == ["name": "worker-1", "generation": 1, "resourceSliceCount": 1])
        #expect(slice[path: ["spec", "devices"]]?.arrayValue == devices)
        let owner = try #require(slice[path: ["metadata", "ownerReferences"]]?.arrayValue?.first)
        #expect(owner == ["apiVersion": "v1", "kind": "Node", "name": "worker-1", "uid": .string(Self.uid)])
        // Stored: planning again writes nothing.
        #expect(Self.plan(devices, Self.apply(actions, to: [])).isEmpty)
    }

    @Test func aChangedAttributeBumpsTheGenerationOfEverySlice() throws {
        let stored = Self.apply(Self.plan(Self.devices(130), []), to: [])
        #expect(stored.count == 2)
        #expect(stored.allSatisfy { $0[path: ["spec", "pool", "resourceSliceCount"]]?.intValue == 2 })
        #expect(stored.map { $0[path: ["spec", "devices"]]?.arrayValue?.count ?? 0 } == [128, 2])
        let changed = Self.plan(Self.devices(130, mtu: 9000), stored)
        #expect(changed.count == 2)
        let after = Self.apply(changed, to: stored)
        #expect(after.allSatisfy { $0[path: ["spec", "pool", "generation"]]?.intValue == 2 })
        #expect(Self.plan(Self.devices(130, mtu: 9000), after).isEmpty)
    }

    @Test func shrinkingBelow128DevicesDeletesTheSecondSlice() throws {
        let stored = Self.apply(Self.plan(Self.devices(130), []), to: [])
        let actions = Self.plan(Self.devices(100), stored)
        #expect(actions.contains(.delete(name: "worker-1-automagic.dev-1", uid: "uid-1")), "\(actions)")
        let after = Self.apply(actions, to: stored)
        #expect(after.count == 1)
        #expect(after.first?[path: ["spec", "pool"]] == ["name": "worker-1", "generation": 2, "resourceSliceCount": 1])
        // No devices at all: no slices.
        #expect(Self.apply(Self.plan([], after), to: after).isEmpty)
    }

    @Test func aNodeCreatedAgainGetsItsOwnerReferenceRepairedWithoutANewGeneration() throws {
        let stored = Self.apply(Self.plan(Self.devices(2), []), to: [])
        let newUID = "6f1c1f0e-0000-4000-8000-000000000002"
        let actions = Self.plan(Self.devices(2), stored, uid: newUID)
        guard case .update(let slice)? = actions.first, actions.count == 1 else { Issue.record("\(actions)"); return }
        #expect(slice[path: ["metadata", "ownerReferences"]]?.arrayValue?.map { $0["uid"]?.stringValue } == [newUID])
        #expect(slice[path: ["spec", "pool", "generation"]]?.intValue == 1)
        #expect(slice[path: ["metadata", "resourceVersion"]] != nil, "an update carries the stored resourceVersion")
    }

    @Test func otherSlicesAreNeverTouched() throws {
        var foreignDriver = ResourceSlicePlanning.slice(node: Self.node, nodeUID: Self.uid, index: 0, count: 1, generation: 7, devices: [])
        foreignDriver[path: ["spec", "driver"]] = "gpu.example.com"
        var otherNode = ResourceSlicePlanning.slice(node: "worker-2", nodeUID: Self.uid, index: 0, count: 1, generation: 7, devices: [])
        otherNode[path: ["metadata", "name"]] = "worker-1-automagic.dev-5"
        var unnumbered = ResourceSlicePlanning.slice(node: Self.node, nodeUID: Self.uid, index: 0, count: 1, generation: 7, devices: [])
        unnumbered[path: ["metadata", "name"]] = "worker-1-automagic.dev-extra"
        for s in [foreignDriver, otherNode, unnumbered] { #expect(!ResourceSlicePlanning.isOwn(s, node: Self.node)) }
        let actions = Self.plan(Self.devices(1), [foreignDriver, otherNode, unnumbered])
        #expect(actions.count == 1)
        if case .create(let s)? = actions.first {
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
}
