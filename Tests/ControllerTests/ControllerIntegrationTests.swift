import AutomagicAPI
import Foundation
import JSON
import KubeClient
import KubeCore
import KubeRuntime
import LabTesting
import Testing
import TestSupport
@testable import Controller

/// End-to-end tests: simulated nodes (Node and NodeDevice objects written as agents would) against the
/// lab API server (or `AUTOMAGIC_TEST_KUBECONFIG`), with the controller running in-process.
@Suite(.timeLimit(.minutes(2))) struct ControllerIntegrationTests {
    static let worker = ["node-role.kubernetes.io/worker": ""]

    @Test func statusAndLabelsFollowTheNodesAndNoCapacityIsWritten() async throws {
        try await TestCluster.with { c in
            try await c.createNode("n1", labels: Self.worker.merging(["keep": "me"]) { a, _ in a })
            try await c.createNode("n2", labels: Self.worker)
            try await c.createNode("n3")
            try await c.createNode("n4", labels: Self.worker)  // no agent
            try await c.publish("n1", devices: [device("ens1f0", driver: "ice"), device("ens2f0", driver: "mlx5_core", speed: 100_000),
                                                device("ens2f1", driver: "mlx5_core", speed: 100_000)])
            try await c.publish("n2", devices: [device("eno1", driver: "i40e")])
            try await c.publish("n3", devices: [device("ens1f0", driver: "ice")])
            let storage = c.name("storage"), fast = c.name("fast")
            try await c.createMap("storage", spec: NetworkDeviceMapSpec(
                nodeSelector: LabelSelector(matchLabels: Self.worker),
                rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])]))
            try await c.createMap("fast", spec: NetworkDeviceMapSpec(
                rules: [DeviceRule(expressions: [expr("speedMbps", .gt, ["50000"])])], exclusive: true,
                attachment: AttachmentSpec(type: .hostDevice)))
            let (controller, task) = c.startController()
            defer { task.cancel() }

            try await waitUntil("storage status") {
                let s = try await c.map("storage").status
                return s?.nodes == NodeCounts(matched: 1, unmatched: 2, total: 3)
            }
            let status = try #require(try await c.map("storage").status)
            #expect(status.observedGeneration == 1)
            #expect(status.unmatchedNodes?.map(\.node) == [c.name("n2"), c.name("n4")])
            #expect(status.unmatchedNodes?.last?.reason == "no NodeDevice published (agent not running?)")
            let ready = try #require(status.conditions?[type: "Ready"])
            #expect(ready.status == "False")
            #expect(ready.reason == "NodesUnresolved")
            let degraded = try #require(status.conditions?[type: "Degraded"])
            #expect(degraded.status == "True")
            #expect(degraded.message.contains("2 of 3 selected nodes"))
            #expect(degraded.message.contains(c.name("n4")))
            #expect(status.conditions?[type: "Conflict"]?.status == "False")

            // Labels; no capacity for the exclusive network (its device plugin advertises it through the kubelet).
            try await waitUntil("labels on n1") {
                let n1 = try await c.node("n1")
                return n1.labels[Automagic.networkLabel(for: storage)] == "true" && n1.labels[Automagic.networkLabel(for: fast)] == "true"
            }
            let n1 = try await c.node("n1")
            #expect(n1.labels["keep"] == "me")
            #expect(n1.capacity[Automagic.extendedResource(for: fast)] == nil)
            #expect(controller.metrics.writeCounts["nodes/status", default: 0] == 0)
            #expect(try await c.node("n2").labels[Automagic.networkLabel(for: storage)] == nil)
            #expect(try await c.node("n3").labels[Automagic.networkLabel(for: storage)] == nil)  // not selected

            // The agent on n2 now reports an ice device: n2 resolves, gets the label.
            try await c.publish("n2", devices: [device("eno1", driver: "i40e"), device("ens3f0", driver: "ice")])
            try await waitUntil("n2 resolved") {
                try await c.map("storage").status?.nodes == NodeCounts(matched: 2, unmatched: 1, total: 3)
            }
            try await waitUntil("label on n2") { try await c.node("n2").labels[Automagic.networkLabel(for: storage)] == "true" }

            // Events for the transitions: Degraded for storage.
            try await waitUntil("Degraded event") {
                try await c.events.list().items.contains { $0.involvedObject.name == storage && $0.reason == "Degraded" }
            }
            let event = try #require(try await c.events.list().items.first { $0.involvedObject.name == storage })
            #expect(event.reportingComponent == "automagic-controller")
            #expect(event.involvedObject.kind == "NetworkDeviceMap")

            // Maps deleted: their labels go, other labels stay.
            try await c.maps.delete(storage)
            try await c.maps.delete(fast)
            try await waitUntil("labels removed") {
                let n1 = try await c.node("n1"), n2 = try await c.node("n2")
                return n1.labels[Automagic.networkLabel(for: storage)] == nil && n2.labels[Automagic.networkLabel(for: storage)] == nil
                    && n1.labels[Automagic.networkLabel(for: fast)] == nil
            }
            #expect(try await c.node("n1").labels["keep"] == "me")
            try await waitUntil("node writes counted") { controller.metrics.writeCounts["nodes", default: 0] >= 3 }
        }
    }

    @Test func multusNetworkAttachmentDefinitions() async throws {
        try await TestCluster.with { c in
            try await c.installNADCRD()
            let teamA = c.name("team-a"), teamB = c.name("team-b")
            _ = try await c.namespaces.create(Namespace(metadata: ObjectMeta(name: teamA, labels: ["automagic.dev/test": c.prefix])))
            try await c.createNode("n1")
            try await c.publish("n1", devices: [device("ens1f0")])
            let network = c.name("storage")
            let map = try await c.createMap("storage", spec: NetworkDeviceMapSpec(
                rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])],
                networkAttachmentDefinition: NADTemplate(namespaces: [teamA, teamB], ipam: ["type": "whereabouts", "range": "192.168.60.0/24"])))
            let (_, task) = c.startController()
            defer { task.cancel() }

            try await waitUntil("NAD in team-a") { try await c.nads.inNamespace(teamA).getIfExists(network) != nil }
            let nad = try await c.nads.inNamespace(teamA).get(network)
            let config = try JSONValue.parse(try #require(nad.json[path: ["spec", "config"]]?.stringValue))
            #expect(config["type"] == "automagic")
            #expect(config["network"] == .string(network))
            #expect(config["cniVersion"] == "1.0.0")
            #expect(config[path: ["ipam", "type"]] == "whereabouts")
            #expect(nad.metadata.labels?[NADRenderer.managedByLabel] == "automagic")
            #expect(nad.metadata.annotations?[NADRenderer.resourceNameAnnotation] == nil)  // a shared network
            let owner = try #require(nad.metadata.ownerReferences?.first)
            #expect(owner.uid == map.metadata.uid)
            #expect(owner.kind == "NetworkDeviceMap")
            #expect(owner.blockOwnerDeletion == nil)

            // team-b does not exist: status and an Event say so.
            try await waitUntil("namespace reported missing") {
                let degraded = try await c.map("storage").status?.conditions?[type: "Degraded"]
                return degraded?.status == "True" && degraded?.message.contains(teamB) == true
            }
            try await waitUntil("NamespaceNotFound event") {
                try await c.events.list().items.contains { $0.involvedObject.name == network && $0.reason == "NamespaceNotFound" }
            }
            // The namespace appears: its NAD follows, the status recovers.
            _ = try await c.namespaces.create(Namespace(metadata: ObjectMeta(name: teamB, labels: ["automagic.dev/test": c.prefix])))
            try await waitUntil("NAD in team-b") { try await c.nads.inNamespace(teamB).getIfExists(network) != nil }
            try await waitUntil("Degraded cleared") {
                try await c.map("storage").status?.conditions?[type: "Degraded"]?.status == "False"
            }

            // The map changes: the NADs follow; a namespace leaves the list: its NAD goes.
            _ = try await c.maps.modify(network) { m in
                m.spec.networkAttachmentDefinition = NADTemplate(namespaces: [teamB], ipam: ["type": "static"])
            }
            try await waitUntil("NAD updated and removed") {
                let b = try await c.nads.inNamespace(teamB).get(network)
                let config = try JSONValue.parse(b.json[path: ["spec", "config"]]?.stringValue ?? "")
                let a = try await c.nads.inNamespace(teamA).getIfExists(network)
                return config[path: ["ipam", "type"]] == "static" && a == nil
            }
            // Exclusive: the NAD names the device plugin's resource, for Multus; shared again: it goes,
            // and an annotation of someone else's stays.
            _ = try await c.maps.modify(network) { $0.spec.exclusive = true }
            try await waitUntil("resourceName annotation") {
                try await c.nads.inNamespace(teamB).get(network).metadata.annotations?[NADRenderer.resourceNameAnnotation]
                    == "automagic.dev/\(network)"
            }
            _ = try await c.maps.modify(network) { $0.spec.exclusive = false }
            try await waitUntil("resourceName annotation removed") {
                try await c.nads.inNamespace(teamB).get(network).metadata.annotations?[NADRenderer.resourceNameAnnotation] == nil
            }
            // The template goes: every NAD goes.
            _ = try await c.maps.modify(network) { $0.spec.networkAttachmentDefinition = nil }
            try await waitUntil("NADs removed") { try await c.nads.inNamespace(teamB).getIfExists(network) == nil }
        }
    }

    /// NADs edited, deleted or copied by hand are repaired from the NAD watch, long before the
    /// periodic NAD resync (set to an hour here, so only the watch can explain the repair).
    @Test func handEditedNADsAreRepairedFromTheWatch() async throws {
        try await TestCluster.with { c in
            try await c.installNADCRD()
            let teamA = c.name("team-a"), teamB = c.name("team-b")
            for ns in [teamA, teamB] {
                _ = try await c.namespaces.create(Namespace(metadata: ObjectMeta(name: ns, labels: ["automagic.dev/test": c.prefix])))
            }
            try await c.createNode("n1")
            try await c.publish("n1", devices: [device("ens1f0")])
            let network = c.name("storage")
            let map = try await c.createMap("storage", spec: NetworkDeviceMapSpec(
                rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])],
                networkAttachmentDefinition: NADTemplate(namespaces: [teamA], ipam: ["type": "static"])))
            let (controller, task) = c.startController { o in
                o.nadResyncPeriod = .seconds(3600)
                o.resyncPeriod = .seconds(3600)
            }
            defer { task.cancel() }
            let nadsA = c.nads.inNamespace(teamA)
            try await waitUntil("NAD in team-a") { try await nadsA.getIfExists(network) != nil }
            let rendered = try #require(try await nadsA.get(network).json[path: ["spec", "config"]]?.stringValue)
            try await waitUntil("the NAD watch is running") { controller.nads.hasSynced }

            // spec.config edited by hand: put back.
            _ = try await nadsA.modify(network) { nad in nad.json["spec"] = ["config": #"{"cniVersion":"1.0.0","type":"macvlan"}"#] }
            try await waitUntil("config restored") {
                try await nadsA.get(network).json[path: ["spec", "config"]]?.stringValue == rendered
            }
            // Deleted by hand: created again.
            let before = try await nadsA.get(network).metadata.uid
            try await nadsA.delete(network)
            try await waitUntil("NAD re-created") {
                guard let again = try await nadsA.getIfExists(network) else { return false }
                return again.metadata.uid != before
            }
            // A managed-looking copy in a namespace the map does not list: removed.
            _ = try await c.nads.inNamespace(teamB).create(NADRenderer.render(map, namespace: teamB))
            try await waitUntil("stray copy removed") { try await c.nads.inNamespace(teamB).getIfExists(network) == nil }
            #expect(try await nadsA.get(network).json[path: ["spec", "config"]]?.stringValue == rendered)
        }
    }

    @Test(.enabled(if: RealCluster.isAbsent, "installs the NetworkAttachmentDefinition CRD: a real cluster may have Multus' already"))
    func missingNADCRDIsReportedAndRetried() async throws {
        try await TestCluster.with { c in
            let teamA = c.name("team-a")
            _ = try await c.namespaces.create(Namespace(metadata: ObjectMeta(name: teamA, labels: ["automagic.dev/test": c.prefix])))
            try await c.createNode("n1")
            try await c.publish("n1", devices: [device("ens1f0")])
            let network = c.name("storage")
            try await c.createMap("storage", spec: NetworkDeviceMapSpec(
                rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])],
                networkAttachmentDefinition: NADTemplate(namespaces: [teamA])))
            let (_, task) = c.startController()
            defer { task.cancel() }
            try await waitUntil("CRD missing reported") {
                let s = try await c.map("storage").status
                let degraded = s?.conditions?[type: "Degraded"]
                return degraded?.reason == "NADCRDMissing" && degraded?.message.contains("not installed") == true
                    && s?.conditions?[type: "Ready"]?.status == "True"
            }
            try await c.installNADCRD()
            try await waitUntil("NAD created after the CRD appeared", timeout: .seconds(30)) {
                try await c.nads.inNamespace(teamA).getIfExists(network) != nil
            }
            try await waitUntil("Degraded cleared") {
                try await c.map("storage").status?.conditions?[type: "Degraded"]?.status == "False"
            }
        }
    }

    /// A `dra` network: its DeviceClass is rendered, owned by the map, follows the map's rules,
    /// excludes nothing while no other network holds a device, and goes when the map stops being
    /// `dra`; its NAD names no device-plugin resource although the network is exclusive.
    @Test func draNetworkGetsItsDeviceClass() async throws {
        try await TestCluster.with { c in
            try await c.installNADCRD()
            let classes = c.client.dynamic(deviceClassResource)
            let team = c.name("team")
            _ = try await c.namespaces.create(Namespace(metadata: ObjectMeta(name: team, labels: ["automagic.dev/test": c.prefix])))
            try await c.createNode("n1")
            try await c.publish("n1", devices: [device("ens1f0")])
            let network = c.name("passthrough")
            let className = network + ".automagic.dev"
            let map = try await c.createMap("passthrough", spec: NetworkDeviceMapSpec(
                rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])], exclusive: true,
                networkAttachmentDefinition: NADTemplate(namespaces: [team]), dra: true))
            let (_, task) = c.startController()
            defer { task.cancel() }
            try await waitUntil("DeviceClass rendered") {
                try await c.map("passthrough").status?.conditions?[type: "DeviceClass"]?.reason == "Rendered"
            }
            let dc = try await classes.get(className)
            #expect(dc.metadata.ownerReferences?.first?.uid == map.metadata.uid)
            #expect(dc.metadata.labels?["automagic.dev/network"] == network)
            #expect(dc.json["spec"]?["selectors"]?[1]?["cel"]?["expression"]?.stringValue?.contains(#"in ["ice"]"#) == true, "\(dc.json)")
            // The rules change: the class follows.
            _ = try await c.maps.modify(network) { $0.spec.rules = [DeviceRule(expressions: [expr("driver", .in, ["mlx5_core"])])] }
            try await waitUntil("DeviceClass updated") {
                try await classes.get(className).json["spec"]?["selectors"]?[1]?["cel"]?["expression"]?.stringValue?.contains("mlx5_core") == true
            }
            try await waitUntil("NAD") { try await c.nads.inNamespace(team).getIfExists(network) != nil }
            #expect(try await c.nads.inNamespace(team).get(network).metadata.annotations?[NADRenderer.resourceNameAnnotation] == nil)
            // No longer dra: the device plugin's resource; the condition and the class go.
            _ = try await c.maps.modify(network) { $0.spec.dra = false }
            try await waitUntil("resourceName, no DeviceClass condition, no class") {
                let annotation = try await c.nads.inNamespace(team).get(network).metadata.annotations?[NADRenderer.resourceNameAnnotation]
                let condition = try await c.map("passthrough").status?.conditions?[type: "DeviceClass"]
                let gone = try await classes.getIfExists(className) == nil
                return annotation == "automagic.dev/\(network)" && condition == nil && gone
            }
        }
    }

    /// A `dra` network on a server without `resource.k8s.io/v1` (before 1.34): the map says so in
    /// `DeviceClass` and `Degraded`, and nothing is retried in a hot loop.
    @Test(.enabled(if: RealCluster.isAbsent,
                   "lab only: the lab can play a server without resource.k8s.io/v1"))
    func draNetworkOnAServerWithoutDRA() async throws {
        try await TestCluster.with(servesResourceAPI: false) { c in
            try await c.createNode("n1")
            try await c.publish("n1", devices: [device("ens1f0")])
            try await c.createMap("passthrough", spec: NetworkDeviceMapSpec(
                rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])], exclusive: true, dra: true))
            let (_, task) = c.startController()
            defer { task.cancel() }
            try await waitUntil("DeviceClass condition") {
                let s = try await c.map("passthrough").status
                return s?.conditions?[type: "DeviceClass"]?.reason == "DRAUnavailable"
                    && s?.conditions?[type: "DeviceClass"]?.status == "False"
                    && s?.conditions?[type: "Degraded"]?.reason == "DRAUnavailable"
                    && s?.conditions?[type: "Ready"]?.status == "True"
            }
        }
    }

    @Test func nodeDeviceOfDeletedNodeIsRemoved() async throws {
        try await TestCluster.with { c in
            try await c.createNode("n1")
            try await c.createNode("n2")
            // Created without an owner (as before the Node existed), so only the controller removes it.
            try await c.publish("n1", devices: [device("ens1f0")], owned: false)
            try await c.publish("n2", devices: [device("ens1f0")], owned: false)
            let (controller, task) = c.startController()
            defer { task.cancel() }
            try await waitUntil("controller synced") { controller.hasSynced }
            try await c.nodes.delete(c.name("n1"))
            try await waitUntil("NodeDevice of n1 deleted") { try await c.nodeDevices.getIfExists(c.name("n1")) == nil }
            #expect(try await c.nodeDevices.getIfExists(c.name("n2")) != nil)
            // The counter is bumped when the DELETE returns, a moment after the object is gone.
            try await waitUntil("the deletion counted") { controller.metrics.writeCounts["nodedevices"] == 1 }
        }
    }

    @Test func consistencyConflictsAcrossNodes() async throws {
        try await TestCluster.with { c in
            // Same device name, different VLANs by LLDP and disjoint subnets: evidently different networks.
            try await c.createNode("n1")
            try await c.createNode("n2")
            try await c.publish("n1", devices: [device("ens1f0", mtu: 9000, addresses: ["192.168.50.11/24"], vlans: [100])])
            try await c.publish("n2", devices: [device("ens1f0", mtu: 1500, addresses: ["192.168.60.12/24"], vlans: [200])])
            try await c.createMap("tenant", spec: NetworkDeviceMapSpec(
                rules: [DeviceRule(expressions: [expr("addresses", .inCIDR, ["192.168.0.0/16"])])]))
            let (_, task) = c.startController()
            defer { task.cancel() }
            try await waitUntil("Conflict condition") {
                try await c.map("tenant").status?.conditions?[type: "Conflict"]?.status == "True"
            }
            let conflict = try #require(try await c.map("tenant").status?.conditions?[type: "Conflict"])
            #expect(conflict.reason == "InconsistentDevices")
            #expect(conflict.message.contains("VLAN 100"))
            #expect(conflict.message.contains("VLAN 200"))
            #expect(conflict.message.contains("disjoint subnets"))
            #expect(conflict.message.contains("MTU"))
            try await waitUntil("Conflict event") {
                try await c.events.list().items.contains { $0.involvedObject.name == c.name("tenant") && $0.reason == "Conflict" }
            }
        }
    }

    @Test func badInputIsReportedNotFatal() async throws {
        try await TestCluster.with { c in
            try await c.createNode("n1")
            // A NodeDevice from a newer agent: fields this build does not know (kept or pruned by the server).
            let name = c.name("n1")
            let nd = try await c.nodeDevices.create(NodeDevice(metadata: ObjectMeta(name: name, labels: ["automagic.dev/test": c.prefix])))
            var body: JSONValue = try JSONValue(encoding: nd)
            body["status"] = [
                "devices": [["name": "ens1f0", "kind": "physical", "driver": "ice", "futureField": ["x": 1]]],
                "futureStatus": "yes", "probedAt": .string(KubeTime.format(Date())),
            ]
            _ = try await c.client.request(
                "PUT", path: "/apis/automagic.dev/v1alpha1/nodedevices/\(name)/status", body: body.serialized(), contentType: "application/json")
            // A map the resolver rejects (the regular expression does not compile), and a good one.
            try await c.createMap("broken", spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [expr("name", .matches, ["(["])])]))
            try await c.createMap("good", spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])]))
            let (controller, task) = c.startController()
            defer { task.cancel() }
            try await waitUntil("broken map reported") {
                let s = try await c.map("broken").status
                return s?.conditions?[type: "Ready"]?.reason == "InvalidSpec" && s?.conditions?[type: "Degraded"]?.status == "True"
            }
            try await waitUntil("good map resolved despite the newer agent's fields") {
                try await c.map("good").status?.nodes == NodeCounts(matched: 1, unmatched: 0, total: 1)
            }
            let broken = try await c.map("broken").status
            #expect(broken?.nodes == NodeCounts(matched: 0, unmatched: 1, total: 1))
            #expect(broken?.conditions?[type: "Degraded"]?.message.contains("invalid") == true)
            try await waitUntil("Degraded event for the broken map") {
                try await c.events.list().items.contains { $0.involvedObject.name == c.name("broken") && $0.reason == "Degraded" }
            }
            #expect(controller.hasSynced)
            #expect(!task.isCancelled)
        }
    }

    @Test func racingWritesConvergeWithoutLostUpdates() async throws {
        try await TestCluster.with { c in
            for i in 0..<4 {
                try await c.createNode("n\(i)")
                try await c.publish("n\(i)", devices: [device("ens1f0", driver: i % 2 == 0 ? "ice" : "i40e")])
            }
            let network = c.name("storage")
            try await c.createMap("storage", spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])]))
            let (controller, task) = c.startController { $0.statusDebounce = .milliseconds(10) }
            defer { task.cancel() }
            // Other writers race the controller on the same objects: map metadata (status PUTs get 409),
            // node labels (merge patches must not clobber them), device changes.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for k in 0..<15 {
                        _ = try await c.maps.modify(network) { $0.metadata.annotations = ["racer": "\(k)"] }
                    }
                }
                group.addTask {
                    for k in 0..<15 {
                        _ = try await c.nodes.patch(c.name("n\(k % 4)"), .merge(["metadata": ["labels": ["racer-\(k)": "x"]]]))
                    }
                }
                group.addTask {
                    for k in 0..<6 {
                        try await c.publish("n1", devices: [device("ens1f0", driver: k % 2 == 0 ? "ice" : "i40e")])
                    }
                    try await c.publish("n1", devices: [device("ens1f0", driver: "ice")])
                }
                try await group.waitForAll()
            }
            try await waitUntil("converged") {
                let s = try await c.map("storage").status
                let labels = try await (0..<4).asyncMap { try await c.node("n\($0)").labels }
                return s?.nodes == NodeCounts(matched: 3, unmatched: 1, total: 4)
                    && labels.filter { $0[Automagic.networkLabel(for: network)] == "true" }.count == 3
            }
            let labels = try await (0..<4).asyncMap { try await c.node("n\($0)").labels }
            for k in 0..<15 { #expect(labels[k % 4]["racer-\(k)"] == "x") }
            #expect(try await c.map("storage").metadata.annotations?["racer"] == "14")
            try await waitUntil("status writes counted") { controller.metrics.writeCounts["networkdevicemaps/status", default: 0] >= 1 }
        }
    }

    @Test func steadyStateWritesNothing() async throws {
        try await TestCluster.with { c in
            for i in 0..<3 {
                try await c.createNode("n\(i)", labels: Self.worker)
                try await c.publish("n\(i)", devices: [device("ens1f0"), device("ens2f0", speed: 100_000)])
            }
            try await c.createMap("a", spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])]))
            try await c.createMap("b", spec: NetworkDeviceMapSpec(
                rules: [DeviceRule(expressions: [expr("speedMbps", .gt, ["50000"])])], exclusive: true))
            let (controller, task) = c.startController { $0.resyncPeriod = .milliseconds(300) }
            defer { task.cancel() }
            try await waitUntil("converged") {
                let a = try await c.map("a").status?.nodes?.matched, b = try await c.map("b").status?.nodes?.matched
                let labels = try await c.node("n2").labels
                return a == 3 && b == 3 && labels[Automagic.networkLabel(for: c.name("b"))] == "true"
            }
            try await Task.sleep(for: .seconds(1))
            // Only this test's objects count: on a shared cluster the controller also reconciles
            // other tests' maps and nodes, which change on their own.
            let before = controller.metrics.writes(toObjectsNamed: c.prefix)
            #expect(!before.isEmpty, "the convergence was written")
            // Agents re-publish the same devices (new probedAt): no writes either.
            for i in 0..<3 { try await c.publish("n\(i)", devices: [device("ens1f0"), device("ens2f0", speed: 100_000)]) }
            // Meanwhile another test sharing the cluster adds its own node and map: this controller
            // reconciles every map, so it writes that map's status; those writes are not this test's.
            let other = c.otherTestPrefix
            _ = try await c.nodes.create(Node(metadata: ObjectMeta(name: other + "-n0", labels: ["automagic.dev/test": other])))
            var foreign = NetworkDeviceMap(name: other + "-net", spec: NetworkDeviceMapSpec(
                nodeSelector: LabelSelector(matchLabels: ["automagic.dev/test": other]), rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])]))
            foreign.metadata.labels = ["automagic.dev/test": other]
            _ = try await c.maps.create(foreign)
            try await waitUntil("the other test's map written") { !controller.metrics.writes(toObjectsNamed: other).isEmpty }
            try await Task.sleep(for: .seconds(2))
            #expect(controller.metrics.writes(toObjectsNamed: c.prefix) == before)
            let reconciles = sampleValue(
                controller.metrics.registry.emitToString(), "automagic_controller_reconciles_total",
                labels: ["kind": "NetworkDeviceMap", "result": "success"])
            #expect(try #require(reconciles) > 4)
        }
    }

    @Test func leaderElectionOneActsTheOtherTakesOver() async throws {
        try await TestCluster.with { c in
            try await c.createNode("n1")
            try await c.publish("n1", devices: [device("ens1f0")])
            try await c.createMap("a", spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])]))
            let lease = c.name("lease")
            func election(_ identity: String) -> (inout ControllerOptions) -> Void {
                { options in
                    var le = LeaderElectionOptions(namespace: "default", identity: identity)
                    le.leaseName = lease
                    le.leaseDuration = .seconds(4)
                    le.renewDeadline = .seconds(3)
                    le.retryPeriod = .milliseconds(500)
                    options.leaderElection = le
                }
            }
            let (first, firstTask) = c.startController(election("first"))
            try await waitUntil("first leads") { first.isLeading }
            let (second, secondTask) = c.startController(election("second"))
            defer { secondTask.cancel() }
            try await waitUntil("status by the leader") { try await c.map("a").status?.nodes?.matched == 1 }
            try await Task.sleep(for: .seconds(1))
            #expect(!second.isLeading)
            #expect(second.metrics.totalWrites == 0)
            #expect(second.hasSynced)  // a warm standby

            firstTask.cancel()
            _ = await firstTask.result
            let stopped = ContinuousClock.now
            try await waitUntil("second leads", timeout: .seconds(10)) { second.isLeading }
            #expect(ContinuousClock.now - stopped < .seconds(4))
            let holder = try await c.client.resource(Lease.self, namespace: "default").get(lease).spec?.holderIdentity
            #expect(holder == "second")
            // The new leader acts.
            try await c.createMap("b", spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [expr("driver", .in, ["ice"])])]))
            try await waitUntil("status by the new leader") { try await c.map("b").status?.nodes?.matched == 1 }
            try await waitUntil("writes by the new leader counted") { second.metrics.writeCounts["networkdevicemaps/status", default: 0] >= 1 }
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
