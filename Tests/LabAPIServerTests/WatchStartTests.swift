import JSON
import Testing
@testable import LabAPIServer

/// Where a watch begins (`StoreState.startWatch`): the snapshot or the history after the requested
/// resourceVersion, or 410 Expired once that version has left the history.
@Suite struct WatchStartTests {
    static func namespace(_ name: String) -> JSONValue {
        ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]]
    }

    static func initial(_ start: StoreState.WatchStart) -> [String]? {
        guard case .events(let initial, _) = start else { return nil }
        return initial.map { "\($0.type) \($0.object.name) \($0.rv)" }
    }

    @Test func versionZeroSendsEveryObjectAsAddedAndLaterOnlyWhatFollows() throws {
        let def = BuiltinResources.namespaces
        var s = StoreState(historyLimit: 100)
        s.put(def, Self.namespace("a"), type: .added, previous: nil)           // rv 2
        s.put(def, Self.namespace("b"), type: .added, previous: nil)           // rv 3
        s.remove(def, namespace: "", name: "a")                                // rv 4
        s.put(BuiltinResources.nodes, ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "n"]], type: .added, previous: nil) // rv 5
        #expect(Self.initial(s.startWatch(storageKey: def.storageKey, namespace: nil, from: 0)) == ["added b 3"])
        #expect(Self.initial(s.startWatch(storageKey: def.storageKey, namespace: nil, from: 2)) == ["added b 3", "deleted a 4"],
                "history after rv 2, namespaces only")
        #expect(Self.initial(s.startWatch(storageKey: def.storageKey, namespace: nil, from: 5)) == [])
        #expect(Self.initial(s.startWatch(storageKey: def.storageKey, namespace: nil, from: 99)) == [], "a future version starts empty")
        #expect(s.watchers.count == 4, "each started watch is registered")
    }

    @Test func aVersionOlderThanTheHistoryIsExpiredAndRegistersNothing() {
        let def = BuiltinResources.namespaces
        var s = StoreState(historyLimit: 2)
        for i in 0..<10 { s.put(def, Self.namespace("n\(i)"), type: .added, previous: nil) }
        let oldest = s.oldestResumableRV
        #expect(oldest > 2)
        guard case .expired(let message) = s.startWatch(storageKey: def.storageKey, namespace: nil, from: 2) else {
            Issue.record("rv 2 should have expired (oldest resumable \(oldest))")
            return
        }
        #expect(message == "too old resource version: 2 (\(oldest))")
        #expect(s.watchers.isEmpty)
        #expect(Self.initial(s.startWatch(storageKey: def.storageKey, namespace: nil, from: oldest)) != nil)
    }
}
