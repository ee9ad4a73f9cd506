import Testing
import JSON
@testable import KubeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite struct LabelSelectorTests {
    @Test func parsesSetBasedSyntax() throws {
        let s = try LabelSelectorString.parse("tier in (gold,silver),!applied-by, env!=dev,zone=a,gen>3")
        #expect(s.requirements.count == 5)
        #expect(s.matches(["tier": "gold", "env": "prod", "zone": "a", "gen": "4"]))
        #expect(!s.matches(["tier": "gold", "env": "prod", "zone": "a", "gen": "3"]))
        #expect(!s.matches(["tier": "gold", "applied-by": "x", "zone": "a", "gen": "4"]))
        #expect(!s.matches(["tier": "bronze", "zone": "a", "gen": "4"]))
    }

    @Test func errorWordingMatchesAPIServer() {
        #expect(throws: SelectorParseError(message: "unable to parse requirement: found '=', expected: identifier")) {
            try LabelSelectorString.parse("=gold")
        }
    }

    @Test(arguments: ["a in (x", "a in x", "a,", "a=b=c", "-bad=x", "a>x"])
    func rejectsMalformed(_ text: String) {
        #expect(throws: SelectorParseError.self) { try LabelSelectorString.parse(text) }
    }

    @Test func structuredSelectorMatchesAndFormats() throws {
        let sel = LabelSelector(matchLabels: ["role": "worker"], matchExpressions: [
            .init(key: "zone", operator: .in, values: ["b", "a"]), .init(key: "legacy", operator: .doesNotExist),
        ])
        #expect(sel.matches(["role": "worker", "zone": "a"]))
        #expect(!sel.matches(["role": "worker", "zone": "c"]))
        #expect(!sel.matches(["role": "worker", "zone": "a", "legacy": ""]))
        let back = try LabelSelectorString.parse(sel.queryString)
        #expect(back.matches(["role": "worker", "zone": "b"]))
        #expect(LabelSelector().matches([:]))
    }

    @Test func fieldSelector() throws {
        let f = try FieldSelector.parse("metadata.name=w1,metadata.namespace!=kube-system")
        #expect(f.matches(["metadata.name": "w1", "metadata.namespace": "default"]))
        #expect(!f.matches(["metadata.name": "w1", "metadata.namespace": "kube-system"]))
        #expect(throws: SelectorParseError.self) { try FieldSelector.parse("metadata.name") }
    }
}

@Suite struct CoreTypeTests {
    @Test func timeRoundTrip() throws {
        let d = try #require(KubeTime.parse("2026-11-28T22:58:09Z"))
        #expect(KubeTime.format(d) == "2026-11-28T22:58:09Z")
        let m = try #require(KubeTime.parse("2026-11-28T22:58:09.123456Z"))
        #expect(KubeTime.formatMicro(m) == "2026-11-28T22:58:09.123456Z")
        #expect(KubeTime.parse("2026-11-28T23:58:09+01:00") == d)
        #expect(KubeTime.parse("yesterday") == nil)
        #expect(KubeTime.parse("2026-13-28T22:58:09Z") == nil)
    }

    @Test func watchEventDecoding() throws {
        let line = #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#
        let ev = try JSONValue.parse(line).decode(WatchEvent<Node>.self)
        guard case .error(let st) = ev else { Issue.record("expected error event"); return }
        #expect(st.code == 410)
        let bm = try JSONValue.parse(#"{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"42"}}}"#).decode(WatchEvent<Node>.self)
        #expect(bm.resourceVersion == "42")
    }

    @Test func pathsAndListDecoding() throws {
        #expect(ResourceType.nodes.path(name: "w 1", subresource: "status") == "/api/v1/nodes/w%201/status")
        #expect(ResourceType.leases.path(namespace: "kube-system", name: "x") == "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x")
        #expect(ResourceType.leases.path() == "/apis/coordination.k8s.io/v1/leases")
        let list = try JSONValue.parse(#"{"kind":"NodeList","metadata":{"resourceVersion":"7","continue":"abc"},"items":null}"#).decode(ObjectList<Node>.self)
        #expect(list.items.isEmpty && list.metadata.continueToken == "abc")
    }

    @Test func conditionsKeepTransitionTime() {
        var cs: [Condition] = []
        cs.set(Condition(type: "Ready", status: "True", lastTransitionTime: "t1", reason: "A", message: ""))
        #expect(cs.set(Condition(type: "Ready", status: "True", lastTransitionTime: "t2", reason: "A", message: "")) == false)
        #expect(cs[type: "Ready"]?.lastTransitionTime == "t1")
        cs.set(Condition(type: "Ready", status: "False", lastTransitionTime: "t3", reason: "B", message: ""))
        #expect(cs[type: "Ready"]?.lastTransitionTime == "t3")
    }

    @Test func dynamicObjectMetadata() throws {
        var o = DynamicObject(["apiVersion": "v1", "kind": "Node", "metadata": ["name": "n1"]])
        #expect(o.metadata.name == "n1")
        o.metadata.labels = ["a": "b"]
        #expect(o.json[path: ["metadata", "labels", "a"]] == "b")
    }
}

@Suite struct JSONValueCodableBridgeTests {
    @Test func encodesAndDecodesThroughFoundationsCoders() throws {
        struct S: Codable, Equatable { var name: String; var mtu: Int? }
        let v = try JSONValue(encoding: S(name: "eth0", mtu: 9000))
        #expect(v["mtu"] == .int(9000))
        #expect(try v.decode(S.self) == S(name: "eth0", mtu: 9000))
        #expect(throws: DecodingError.self) { try JSONValue.object(["name": 1]).decode(S.self) }
    }
}
