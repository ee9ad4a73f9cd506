import AutomagicAPI
import JSON
import KubeCore
import Resolver
import Testing
@testable import Controller

@Suite struct StatusBuilderTests {
    func map(_ name: String = "storage", generation: Int64 = 3) -> NetworkDeviceMap {
        var m = NetworkDeviceMap(name: name, spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [
            DeviceMatchExpression(key: "driver", operator: .in, values: ["ice"]),
        ])]))
        m.metadata.generation = generation
        return m
    }

    @Test func allResolvedIsReadyAndEmitsOneEvent() throws {
        var a = MapAggregate()
        a.selected = 4
        a.matched = 4
        let (status, events) = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), previous: nil, now: "2026-11-29T00:00:00Z")
        #expect(status.nodes == NodeCounts(matched: 4, unmatched: 0, total: 4))
        #expect(status.observedGeneration == 3)
        let ready = try #require(status.conditions?[type: "Ready"])
        #expect(ready.status == "True")
        #expect(ready.observedGeneration == 3)
        #expect(status.conditions?.map(\.type) == ["Ready", "Degraded", "Conflict"])
        #expect(events == [MapEvent(type: "Normal", reason: "Ready", message: "storage resolves on all 4 selected nodes")])

        // The same inputs later: nothing changes, no event, lastTransitionTime kept.
        let (again, none) = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), previous: status, now: "2026-11-29T01:00:00Z")
        #expect(again == status)
        #expect(none.isEmpty)
    }

    @Test func deviceClassConditionOnlyForDRAMapsAndAFailureDegrades() throws {
        var a = MapAggregate()
        a.selected = 2
        a.matched = 2
        let rendered = DeviceClassReport(rendered: true, reason: "Rendered", message: "DeviceClass storage.automagic.dev selects …")
        let (ok, _) = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), deviceClass: rendered, previous: nil, now: "t0")
        #expect(ok.conditions?.map(\.type) == ["Ready", "Degraded", "Conflict", "DeviceClass"])
        #expect(ok.conditions?[type: "DeviceClass"]?.status == "True")
        #expect(ok.conditions?[type: "Degraded"]?.status == "False")

        let unavailable = DeviceClassReport(rendered: false, reason: "DRAUnavailable", message: "the API server does not serve resource.k8s.io/v1 DeviceClasses")
        let (bad, events) = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), deviceClass: unavailable, previous: ok, now: "t1")
        #expect(bad.conditions?[type: "DeviceClass"]?.status == "False" && bad.conditions?[type: "DeviceClass"]?.reason == "DRAUnavailable")
        let degraded = try #require(bad.conditions?[type: "Degraded"])
        #expect(degraded.status == "True" && degraded.reason == "DRAUnavailable" && degraded.message.contains("resource.k8s.io/v1"))
        #expect(events.contains { $0.reason == "Degraded" })
        #expect(bad.conditions?[type: "Ready"]?.status == "True", "the nodes still resolve the network")

        // No longer a dra map: the condition goes.
        let (plain, _) = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), deviceClass: nil, previous: bad, now: "t2")
        #expect(plain.conditions?[type: "DeviceClass"] == nil)
        #expect(plain.conditions?[type: "Degraded"]?.status == "False")
    }

    /// The devices another network holds are what the DeviceClass of a dra network excludes.
    @Test func heldDevicesOfDRANetworksAreIndexedPerNode() throws {
        func named(_ name: String, _ created: String, _ spec: NetworkDeviceMapSpec) -> NetworkDeviceMap {
            var m = NetworkDeviceMap(name: name, spec: spec)
            m.metadata.creationTimestamp = created
            return m
        }
        let ice = DeviceRule(expressions: [DeviceMatchExpression(key: "driver", operator: .in, values: ["ice"])])
        let storage = named("storage", "2026-01-01T00:00:00Z", NetworkDeviceMapSpec(rules: [ice]))
        let passthrough = named("passthrough", "2026-02-01T00:00:00Z", NetworkDeviceMapSpec(rules: [ice], exclusive: true, dra: true))
        let index = ClusterIndex()
        index.updateMaps([storage, passthrough])
        let devices = [NetworkDevice(name: "ens1", driver: "ice"), NetworkDevice(name: "ens2", driver: "ice")]
        let results = ClusterIndex.resolve(node: "n1", labels: ["zone": "a"], input: .devices(devices), maps: index.maps)
        #expect(results["passthrough"]?.held == ["ens1"], "storage (older) holds ens1")
        #expect(results["storage"]?.held == nil, "only dra networks keep held devices")
        _ = index.store("n1", labels: ["zone": "a"], input: .devices(devices), version: index.maps.version, results: results)
        let inputs = index.draInputs("passthrough")
        #expect(inputs.nodes == [NodeInfo(name: "n1", labels: ["zone": "a"])])
        #expect(inputs.held == ["n1": ["ens1"]])
    }

    @Test func draNetworksGetNoResourceNameAnnotation() {
        var m = map()
        m.spec.exclusive = true
        #expect(NADRenderer.resourceName(for: m) == "automagic.dev/storage")
        m.spec.dra = true
        #expect(NADRenderer.resourceName(for: m) == nil)
    }

    @Test func degradedNamesNodesAndKeepsTransitionTimes() throws {
        var a = MapAggregate()
        a.selected = 10
        a.matched = 3
        a.unmatched = (0..<7).map { UnmatchedNode(node: "n\($0)", reason: "no device matched any rule") }
        let first = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), previous: nil, now: "2026-11-29T00:00:00Z")
        let degraded = try #require(first.status.conditions?[type: "Degraded"])
        #expect(degraded.status == "True")
        #expect(degraded.message.hasPrefix("7 of 10 selected nodes do not resolve storage: n0 (no device matched any rule)"))
        #expect(degraded.message.hasSuffix("and 2 more"))
        #expect(first.events.map(\.reason) == ["Degraded"])

        // One more node fails: message changes, transition time and status stay; no new event.
        a.matched = 2
        a.unmatched.append(UnmatchedNode(node: "n7", reason: "x"))
        let second = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), previous: first.status, now: "2026-11-29T00:05:00Z")
        let d2 = try #require(second.status.conditions?[type: "Degraded"])
        #expect(d2.lastTransitionTime == "2026-11-29T00:00:00Z")
        #expect(d2.message.contains("8 of 10"))
        #expect(second.events.isEmpty)

        // Recovery: Ready flips (event), Degraded flips with a new transition time.
        a.matched = 10
        a.unmatched = []
        let third = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), previous: second.status, now: "2026-11-29T00:10:00Z")
        #expect(third.status.conditions?[type: "Degraded"]?.status == "False")
        #expect(third.status.conditions?[type: "Degraded"]?.lastTransitionTime == "2026-11-29T00:10:00Z")
        #expect(third.events.map(\.reason) == ["Ready"])
    }

    @Test func unmatchedListIsCappedAndClipped() {
        var a = MapAggregate()
        a.selected = 120
        a.unmatched = (0..<120).map { UnmatchedNode(node: String(format: "n%03d", $0), reason: String(repeating: "x", count: 5000)) }
        let status = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), previous: nil, now: "2026-11-29T00:00:00Z").status
        #expect(status.unmatchedNodes?.count == 50)
        #expect(status.nodes?.unmatched == 120)
        #expect(status.unmatchedNodes?.allSatisfy { $0.reason.utf8.count <= 4096 } == true)
    }

    @Test func invalidSpecIsReported() throws {
        var a = MapAggregate()
        a.selected = 2
        a.validationErrors = ["spec.rules[0].devices.matchExpressions[0].values[0]: invalid regular expression"]
        let (status, events) = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), previous: nil, now: "2026-11-29T00:00:00Z")
        #expect(status.conditions?[type: "Ready"]?.reason == "InvalidSpec")
        #expect(status.conditions?[type: "Degraded"]?.message.contains("invalid regular expression") == true)
        #expect(status.nodes == NodeCounts(matched: 0, unmatched: 2, total: 2))
        #expect(events.map(\.reason) == ["Degraded"])
    }

    @Test func nadProblemsAreDegradedButNotUnready() throws {
        var a = MapAggregate()
        a.selected = 1
        a.matched = 1
        var nad = NADReport()
        nad.crdMissing = true
        nad.missingNamespaces = ["team-b"]
        let (status, _) = StatusBuilder.build(map: map(), aggregate: a, nad: nad, previous: nil, now: "2026-11-29T00:00:00Z")
        #expect(status.conditions?[type: "Ready"]?.status == "True")
        let degraded = try #require(status.conditions?[type: "Degraded"])
        #expect(degraded.reason == "NADCRDMissing")
        #expect(degraded.message.contains("not installed"))
        #expect(degraded.message.contains("team-b"))
    }

    @Test func consistencyChecks() {
        var a = MapAggregate()
        a.mtus = [9000: ValueGroup(count: 3, examples: ["a", "b", "c"]), 1500: ValueGroup(count: 1, examples: ["d"])]
        a.speeds = [25_000: ValueGroup(count: 2, examples: ["a", "b"]), 10_000: ValueGroup(count: 2, examples: ["c", "d"])]
        var problems = StatusBuilder.consistencyProblems(a)
        #expect(problems.count == 1)  // 10 G vs 25 G is not "widely"
        #expect(problems.first?.contains("9000 on 3 nodes (a, b, c)") == true)
        #expect(problems.first?.contains("1500 on 1 node (d)") == true)

        a.mtus = [1500: ValueGroup(count: 2, examples: ["a", "b"]), 1450: ValueGroup(count: 1, examples: ["c"])]
        a.speeds = [100_000: ValueGroup(count: 1, examples: ["a"]), 1_000: ValueGroup(count: 1, examples: ["b"])]
        a.vlanSets = [[100, 101]: ValueGroup(count: 1, examples: ["a"]), [101, 102]: ValueGroup(count: 1, examples: ["b"])]
        a.subnetSets = [["10.0.0.0/24"]: ValueGroup(count: 1, examples: ["a"]), ["10.0.1.0/24"]: ValueGroup(count: 1, examples: ["b"])]
        problems = StatusBuilder.consistencyProblems(a)
        #expect(problems.count == 2)  // speed and subnets; VLAN sets overlap, MTUs close
        #expect(problems.contains { $0.hasPrefix("link speed differs widely") })
        #expect(problems.contains { $0.hasPrefix("devices are in disjoint subnets") })
    }

    @Test func exclusiveConflictsAreDeduplicated() throws {
        var a = MapAggregate()
        a.selected = 1
        a.matched = 1
        let c = DeviceConflict(node: "n1", device: "ens1f0", network: "other", winner: "other", message: "held")
        a.conflicts = [c, c]
        let (status, events) = StatusBuilder.build(map: map(), aggregate: a, nad: NADReport(), previous: nil, now: "2026-11-29T00:00:00Z")
        #expect(status.conflicts == [c])
        #expect(status.conditions?[type: "Conflict"]?.reason == "ExclusiveDeviceConflict")
        #expect(events.map(\.reason).contains("Conflict"))
    }
}

@Suite struct NADRendererTests {
    @Test func configAndOwnership() throws {
        var map = NetworkDeviceMap(name: "storage", spec: NetworkDeviceMapSpec(
            rules: [], networkAttachmentDefinition: NADTemplate(namespaces: ["b", "a", "b"], ipam: ["type": "static"])))
        map.metadata.uid = "u-1"
        #expect(NADRenderer.namespaces(of: map) == ["a", "b"])
        #expect(NADRenderer.config(for: map) == #"{"cniVersion":"1.0.0","ipam":{"type":"static"},"name":"storage","network":"storage","type":"automagic"}"#)
        let nad = NADRenderer.render(map, namespace: "a")
        #expect(nad.metadata.namespace == "a")
        #expect(nad.metadata.ownerReferences == [OwnerReference(apiVersion: "automagic.dev/v1alpha1", kind: "NetworkDeviceMap", name: "storage", uid: "u-1", controller: true)])
        #expect(NADRenderer.isUpToDate(nad, for: map))
        // A user's extra label survives a re-render; a changed template is detected.
        var edited = nad
        edited.metadata.labels?["team"] = "x"
        map.spec.networkAttachmentDefinition?.ipam = ["type": "dhcp"]
        #expect(!NADRenderer.isUpToDate(edited, for: map))
        let rerendered = NADRenderer.render(map, namespace: "a", existing: edited)
        #expect(rerendered.metadata.labels?["team"] == "x")
        #expect(NADRenderer.isUpToDate(rerendered, for: map))
    }

    @Test func exclusiveNetworksNameTheirDevicePluginResource() throws {
        var map = NetworkDeviceMap(name: "fast", spec: NetworkDeviceMapSpec(
            rules: [], exclusive: true, networkAttachmentDefinition: NADTemplate(namespaces: ["a"])))
        map.metadata.uid = "u-2"
        let nad = NADRenderer.render(map, namespace: "a")
        #expect(nad.metadata.annotations == ["k8s.v1.cni.cncf.io/resourceName": "automagic.dev/fast"])
        #expect(NADRenderer.isUpToDate(nad, for: map))
        var removed = nad
        removed.metadata.annotations = nil
        #expect(!NADRenderer.isUpToDate(removed, for: map))
        // Shared again: the controller's resource name goes, a user's annotation stays.
        map.spec.exclusive = false
        var annotated = nad
        annotated.metadata.annotations?["team"] = "x"
        #expect(!NADRenderer.isUpToDate(annotated, for: map))
        let shared = NADRenderer.render(map, namespace: "a", existing: annotated)
        #expect(shared.metadata.annotations == ["team": "x"])
        #expect(NADRenderer.isUpToDate(shared, for: map))
        // Another resource name set by hand on a shared network's NAD is not the controller's to remove.
        var foreign = shared
        foreign.metadata.annotations?["k8s.v1.cni.cncf.io/resourceName"] = "intel.com/sriov"
        #expect(NADRenderer.isUpToDate(foreign, for: map))
    }
}

@Suite struct ClusterIndexTests {
    func compiledMaps(_ maps: [NetworkDeviceMap]) -> ClusterIndex {
        let index = ClusterIndex()
        index.updateMaps(maps)
        return index
    }

    @Test func resolvesAggregatesAndReportsChanges() throws {
        var exclusive = NetworkDeviceMap(name: "sriov", spec: NetworkDeviceMapSpec(
            rules: [DeviceRule(expressions: [DeviceMatchExpression(key: "speedMbps", operator: .gt, values: ["50000"])])], exclusive: true))
        exclusive.metadata.uid = "u1"
        let storage = NetworkDeviceMap(name: "storage", spec: NetworkDeviceMapSpec(
            nodeSelector: LabelSelector(matchLabels: ["worker": ""]),
            rules: [DeviceRule(expressions: [DeviceMatchExpression(key: "driver", operator: .in, values: ["ice"])])]))
        let index = compiledMaps([exclusive, storage])
        let snapshot = index.maps
        let devices = DeviceInput.devices([
            device("ens1f0", driver: "ice", speed: 100_000), device("ens1f1", driver: "ice", speed: 100_000), device("eno1", driver: "tg3", speed: 1000),
        ])
        let r1 = ClusterIndex.resolve(node: "n1", labels: ["worker": ""], input: devices, maps: snapshot)
        #expect(r1["sriov"]?.device == "ens1f0")
        // storage may not share ens1f0 with the exclusive network: a conflict, it falls back to ens1f1,
        // which leaves one free device for the exclusive network.
        #expect(r1["storage"]?.device == "ens1f1")
        #expect(r1["storage"]?.conflictCount == 1)
        var (changed, outdated) = index.store("n1", labels: ["worker": ""], input: devices, version: snapshot.version, results: r1)
        #expect(Set(changed) == ["sriov", "storage"])
        #expect(!outdated)

        let r2 = ClusterIndex.resolve(node: "n2", labels: [:], input: .missing, maps: snapshot)
        #expect(r2["sriov"]?.missing == .noNodeDevice)
        #expect(r2["storage"] == nil)  // not selected
        (changed, _) = index.store("n2", labels: [:], input: .missing, version: snapshot.version, results: r2)
        #expect(changed == ["sriov"])

        var sriov = try #require(index.aggregate("sriov"))
        #expect(sriov.selected == 2)
        #expect(sriov.matched == 1)
        #expect(sriov.unmatched == [UnmatchedNode(node: "n2", reason: "no NodeDevice published (agent not running?)")])
        #expect(sriov.conflictCount == 1)
        #expect(sriov.conflicts.isEmpty)  // details are re-derived for listed nodes only
        ClusterIndex.fillDetails(&sriov, network: "sriov", maps: snapshot)
        #expect(sriov.conflicts == [DeviceConflict(node: "n1", device: "ens1f0", network: "storage", winner: "sriov",
                                                   message: "device ens1f0 is wanted by sriov and storage (at least one exclusive); sriov keeps it")])
        var storageAggregate = try #require(index.aggregate("storage"))
        ClusterIndex.fillDetails(&storageAggregate, network: "storage", maps: snapshot)
        #expect(storageAggregate.conflicts.first?.message == "device ens1f0 is wanted by sriov and storage (at least one exclusive); sriov keeps it")
        #expect(index.labels("n1") == ["networks.automagic.dev/sriov": "true", "networks.automagic.dev/storage": "true"])

        // Same inputs: nothing to do. A map change: everything is stale until resolved again.
        #expect(!index.needsResolve("n1", labels: ["worker": ""], input: devices))
        #expect(!index.updateMaps([exclusive, storage]))
        var changedStorage = storage
        changedStorage.spec.rules[0].devices.matchExpressions[0].values = ["tg3"]
        #expect(index.updateMaps([exclusive, changedStorage]))
        #expect(index.needsResolve("n1", labels: ["worker": ""], input: devices))
        #expect(index.aggregate("sriov")?.staleNodes == 2)
        #expect(Set(index.remove("n1")).isSuperset(of: ["sriov", "storage"]))
        #expect(index.aggregate("nope") == nil)
    }

    @Test func subnetsIgnoreLinkLocal() {
        #expect(ClusterIndex.subnets(["192.168.60.5/24", "fe80::1/64", "2001:db8::5/64", "169.254.1.1/16", "bogus"])
            == ["192.168.60.0/24", "2001:db8::/64"])
    }
}

/// Issue 16: a map whose nodeSelector selects no node can never place a pod.
@Suite struct EmptyMapStatusTests {
    @Test func aMapThatSelectsNoNodeIsNotReadyAndDegraded() throws {
        let map = NetworkDeviceMap(name: "nowhere", spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [
            DeviceMatchExpression(key: "driver", operator: .in, values: ["ice"]),
        ])]))
        let a = MapAggregate()  // selected == 0
        let (status, events) = StatusBuilder.build(map: map, aggregate: a, nad: NADReport(), previous: nil, now: "2026-12-06T00:00:00Z")
        #expect(status.nodes == NodeCounts(matched: 0, unmatched: 0, total: 0))
        let ready = try #require(status.conditions?[type: "Ready"])
        #expect(ready.status == "False")
        #expect(ready.reason == "NoNodesSelected")
        #expect(ready.message.contains("no pod can get nowhere"), "\(ready.message)")
        let degraded = try #require(status.conditions?[type: "Degraded"])
        #expect(degraded.status == "True")
        #expect(degraded.reason == "NoNodesSelected")
        #expect(events.map(\.reason) == ["Degraded"], "\(events)")
    }
}
