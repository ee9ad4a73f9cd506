import AutomagicAPI
import JSON
import KubeCore
import KubeRuntime
import Testing

@testable import Agent

/// What the agent's caches keep of watched objects: everything but `metadata.managedFields`.
@Suite struct CachedObjectTests {
    static let managed: [JSONValue] = [["manager": "automagic-agent", "operation": "Update", "fieldsType": "FieldsV1",
                                        "fieldsV1": ["f:status": ["f:devices": [:]]]]]

    @Test func typedObjectsLoseOnlyTheirManagedFields() {
        var meta = ObjectMeta(name: "worker-1")
        meta.resourceVersion = "42"
        meta.labels = ["a": "b"]
        meta.managedFields = Self.managed
        let kept = CachedObject.withoutManagedFields(NodeDevice(metadata: meta))
        #expect(kept.metadata.managedFields == nil)
        #expect(kept.metadata.name == "worker-1" && kept.metadata.resourceVersion == "42" && kept.metadata.labels == ["a": "b"])
    }

    @Test func dynamicObjectsLoseOnlyTheirManagedFields() {
        let map = DynamicObject(["apiVersion": "automagic.dev/v1alpha1", "kind": "NetworkDeviceMap",
                                 "metadata": ["name": "storage", "resourceVersion": "7", "managedFields": .array(Self.managed)],
                                 "spec": ["network": "storage"]])
        let kept = CachedObject.withoutManagedFields(map)
        #expect(kept.json[path: ["metadata", "managedFields"]] == nil)
        var expected = map.json
        expected[path: ["metadata", "managedFields"]] = nil
        #expect(kept.json == expected)
        #expect(kept.json[path: ["metadata", "resourceVersion"]] == "7" && kept.json[path: ["spec", "network"]] == "storage")
    }

    @Test func everyObjectOfAnEventIsTrimmed() {
        var meta = ObjectMeta(name: "n")
        meta.managedFields = Self.managed
        let event = WatcherEvent<NodeDevice>.replaced([NodeDevice(metadata: meta), NodeDevice(metadata: meta)])
        guard case .replaced(let objects) = event.map(CachedObject.withoutManagedFields) else {
            Issue.record("the event changed kind")
            return
        }
        #expect(objects.count == 2 && objects.allSatisfy { $0.metadata.managedFields == nil })
    }
}
