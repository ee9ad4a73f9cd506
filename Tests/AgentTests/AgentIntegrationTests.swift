import AutomagicAPI
import Foundation
import JSON
import KubeClient
import KubeCore
import MappingFile
import Testing
import TestSupport

@testable import Agent

/// End to end: a network namespace with veth pairs as the node's devices, the lab API server
/// in-process over HTTPS, and the agent in-process probing that namespace.
/// Root is required (CI runs as root); each test removes its namespace and server.
@Suite(.serialized) struct AgentIntegrationTests {
    @Test func publishesDevicesResolvesMapsAndStaysIdle() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("stor0", "stor0p")
        try netns.veth("mgmt0", "mgmt0p")
        try netns.ip("addr", "add", "10.77.1.5/24", "dev", "mgmt0")
        // A map the resolver rejects: an unknown key that slipped past validation on an old server.
        let broken = makeMap("broken", [DeviceMatchExpression(key: "no.such.field", operator: "In", values: ["x"])])
        let lab = try await LabFixture(nodeName: "node-a", labels: ["zone": "a"], legacyMaps: [broken])
        defer { lab.cleanup() }
        _ = try await lab.maps.create(makeMap("storage", [DeviceMatchExpression(key: "name", operator: "Matches", values: ["^stor"])]))
        _ = try await lab.maps.create(makeMap("mgmt", [DeviceMatchExpression(key: "addresses", operator: "InCIDR", values: ["10.77.1.0/24"])]))
        _ = try await lab.maps.create(makeMap("elsewhere", [DeviceMatchExpression(key: "name", operator: "Exists")],
                                              nodeSelector: LabelSelector(matchLabels: ["zone": "b"])))
        #expect(try await lab.maps.get("broken").spec.rules.first?.devices.matchExpressions.first?.key == "no.such.field")
        let dir = try makeTempDir("amagent", inMemory: true)
        defer { removeTestFiles(dir) }
        // A stale temporary from a crashed writer is cleaned at start.
        let stale = "\(dir)/\(AtomicFile.temporaryPrefix)crashed"
        #expect(FileManager.default.createFile(atPath: stale, contents: Data("{".utf8)))

        let fixture = try AgentFixture(lab: lab, netns: netns, mappingPath: "\(dir)/mapping.json")
        defer { fixture.task.cancel() }

        // Mapping file.
        #expect(try await eventually { try fixture.mapping()?.networks["mgmt"]?.device == "mgmt0" })
        let mapping = try MappingFile.read(path: fixture.mappingPath)
        #expect(mapping.node == "node-a")
        #expect(mapping.generation >= 1)
        #expect(mapping.networks["storage"]?.device == "stor0")
        #expect(mapping.networks["storage"]?.attachment == Attachment(type: "macvlan", mode: "bridge"))
        #expect(mapping.networks["storage"]?.mac?.count == 17)
        #expect(mapping.networks["elsewhere"] == nil)
        #expect(mapping.networks["broken"]?.device == "")
        #expect(mapping.networks["broken"]?.message?.contains("no.such.field") == true)
        #expect(!FileManager.default.fileExists(atPath: stale))

        // NodeDevice: devices, owner, networks, conditions.
        #expect(try await eventually {
            let nd = try await lab.nodeDevices.getIfExists("node-a")
            return nd?.status?.networks?.count == 3
        })
        let nd = try await lab.nodeDevices.get("node-a")
        let owner = try #require(nd.metadata.ownerReferences?.first)
        #expect(owner.kind == "Node" && owner.name == "node-a" && owner.uid == lab.nodeUID && owner.apiVersion == "v1")
        #expect(owner.blockOwnerDeletion == nil)
        let status = try #require(nd.status)
        let kernelNames = try netns.linkNames()
        #expect(status.devices?.map(\.name).sorted() == kernelNames)
        #expect(status.deviceCount == kernelNames.count)
        #expect(status.devices?.first { $0.name == "mgmt0" }?.addresses == ["10.77.1.5/24"])
        #expect(status.devices?.first { $0.name == "stor0" }?.kind == .veth)
        #expect(status.agentVersion == AgentVersion.current)
        #expect(status.probedAt != nil)
        #expect(status.networks?.first { $0.network == "storage" }?.device == "stor0")
        #expect(status.networks?.first { $0.network == "broken" }?.device == nil)
        #expect(status.networks?.first { $0.network == "broken" }?.message?.contains("no.such.field") == true)
        #expect(status.conditions?.first { $0.type == "Ready" }?.status == "True")
        #expect(status.conditions?.first { $0.type == "InvalidMaps" }?.status == "True")
        #expect(await eventually { fixture.agent.isReady })

        // An Event about the skipped map, in namespace default, on the NodeDevice.
        let events = lab.client.resource(Event.self, namespace: "default")
        #expect(try await eventually {
            let list = try await events.list()
            return list.items.contains { $0.reason == "InvalidMap" && $0.involvedObject.name == "node-a" } == true
        })

        // Idle: re-probing and re-resolving an unchanged node writes nothing.
        try await Task.sleep(for: .milliseconds(300))
        let eventCount = try await events.list().items.count
        let rv = try await lab.nodeDevices.get("node-a").metadata.resourceVersion
        let publishes = fixture.agent.metrics.value("automagic_agent_publishes_total")
        let writes = fixture.agent.metrics.value("automagic_agent_mapping_writes_total")
        let generation = try MappingFile.read(path: fixture.mappingPath).generation
        for _ in 0..<3 {
            fixture.agent.requestResync()
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(fixture.agent.metrics.value("automagic_agent_probes_total") >= 3)
        #expect(try await lab.nodeDevices.get("node-a").metadata.resourceVersion == rv)
        #expect(fixture.agent.metrics.value("automagic_agent_publishes_total") == publishes)
        #expect(fixture.agent.metrics.value("automagic_agent_mapping_writes_total") == writes)
        #expect(try MappingFile.read(path: fixture.mappingPath).generation == generation)
        #expect(try await events.list().items.count == eventCount)
        #expect(fixture.agent.metrics.value("automagic_agent_resolutions", labels: ["network": "broken", "result": "Invalid"]) == 1)
        #expect(fixture.agent.metrics.value("automagic_agent_probe_duration_seconds_count") >= 1)
        await fixture.stop()
    }

    @Test func followsHotPlugAddressesAndMapEdits() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("base0", "base0p")
        let lab = try await LabFixture(nodeName: "node-h")
        defer { lab.cleanup() }
        _ = try await lab.maps.create(makeMap("hot", [DeviceMatchExpression(key: "name", operator: "Matches", values: ["^hot"])]))
        _ = try await lab.maps.create(makeMap("cidr", [DeviceMatchExpression(key: "addresses", operator: "InCIDR", values: ["10.88.0.0/16"])]))
        let fixture = try AgentFixture(lab: lab, netns: netns)
        defer { fixture.cleanup() }
        #expect(try await eventually { try fixture.mapping()?.networks["hot"] != nil })
        #expect(try fixture.mapping()?.networks["hot"]?.device == "")
        let g0 = try #require(try fixture.mapping()).generation

        // A matching link added appears in the file; the latency is measured from the `ip` call.
        var latencies: [Duration] = []
        for i in 0..<5 {
            let start = ContinuousClock.now
            try netns.ip("link", "add", "hot\(i)", "type", "veth", "peer", "name", "hp\(i)")
            #expect(try await eventually { try fixture.mapping()?.networks["hot"]?.device == "hot\(i)" })
            latencies.append(ContinuousClock.now - start)
            try netns.ip("link", "del", "hot\(i)")
            #expect(try await eventually { try fixture.mapping()?.networks["hot"]?.device == "" })
        }
        let events = try await lab.client.resource(Event.self, namespace: "default").list().items
        #expect(events.contains { $0.reason == "NetworkResolved" && $0.message?.contains("'hot0'") == true })
        #expect(events.contains { $0.reason == "NetworkUnresolved" })
        let median = latencies.sorted()[latencies.count / 2]
        print("hot-plug latency (ms): \(latencies.map { Int($0.components.attoseconds / 1_000_000_000_000_000 + $0.components.seconds * 1000) })")
        #expect(median < .milliseconds(1000), "median \(median)")
        #expect(try #require(try fixture.mapping()).generation > g0)

        // An address added makes the InCIDR rule match; removed, it stops matching.
        try netns.ip("addr", "add", "10.88.3.4/24", "dev", "base0")
        #expect(try await eventually { try fixture.mapping()?.networks["cidr"]?.device == "base0" })
        try netns.ip("addr", "del", "10.88.3.4/24", "dev", "base0")
        #expect(try await eventually { try fixture.mapping()?.networks["cidr"]?.device == "" })

        // Map edited: the file follows; map deleted: the network leaves the file.
        var hot = try await lab.maps.get("hot")
        hot.spec.rules = [DeviceRule(expressions: [DeviceMatchExpression(key: "name", operator: "In", values: ["base0"])])]
        _ = try await lab.maps.update(hot)
        #expect(try await eventually { try fixture.mapping()?.networks["hot"]?.device == "base0" })
        try await lab.maps.delete("hot")
        #expect(try await eventually { try fixture.mapping()?.networks["hot"] == nil })

        // The NodeDevice status follows too.
        try netns.veth("late0", "late0p")
        #expect(try await eventually {
            let nd = try await lab.nodeDevices.getIfExists("node-h")
            return nd?.status?.devices?.contains { $0.name == "late0" } == true && nd?.status?.networks?.count == 1
        })
        await fixture.stop()
    }

    /// Issue 14: the agent writes every device an exclusive map selects as a candidate (with its
    /// MAC), follows links that come and go, and drops the candidates when the map turns shared.
    @Test func writesTheCandidatesOfExclusiveNetworks() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("exc0", "exc0p")
        try netns.veth("exc1", "exc1p")
        let lab = try await LabFixture(nodeName: "node-x")
        defer { lab.cleanup() }
        var map = makeMap("excl", [DeviceMatchExpression(key: "name", operator: "Matches", values: ["^exc[0-9]$"])])
        map.spec.exclusive = true
        map.spec.attachment = AttachmentSpec(type: .hostDevice)
        _ = try await lab.maps.create(map)
        let fixture = try AgentFixture(lab: lab, netns: netns)
        defer { fixture.cleanup() }
        #expect(try await eventually { try fixture.mapping()?.networks["excl"]?.candidates.count == 2 })
        let mapping = try #require(try fixture.mapping())
        #expect(mapping.formatVersion == 2)
        let excl = try #require(mapping.networks["excl"])
        #expect(excl.exclusive && excl.device == "exc0")
        #expect(excl.candidates.map(\.name) == ["exc0", "exc1"])
        let mac1 = try #require(try netns.json("link", "show", "exc1").first?["address"] as? String)
        #expect(excl.candidates.last?.mac == mac1)
        #expect(excl.candidates.last?.deviceID == mac1)  // a veth has no PCI address

        // A candidate's link deleted: it leaves the list; the map turned shared: no candidates.
        try netns.ip("link", "del", "exc1")
        #expect(try await eventually { try fixture.mapping()?.networks["excl"]?.candidates.map(\.name) == ["exc0"] })
        var current = try await lab.maps.get("excl")
        current.spec.exclusive = false
        current.spec.attachment = AttachmentSpec(type: .macvlan, mode: "bridge")
        _ = try await lab.maps.update(current)
        #expect(try await eventually {
            let n = try fixture.mapping()?.networks["excl"]
            return n?.exclusive == false && n?.candidates.isEmpty == true && n?.device == "exc0"
        })
        await fixture.stop()
    }

    @Test func survivesAnAPIServerOutage() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("data0", "data0p")
        let lab = try await LabFixture(nodeName: "node-r", persistent: true)
        defer { lab.cleanup() }
        _ = try await lab.maps.create(makeMap("data", [DeviceMatchExpression(key: "name", operator: "Matches", values: ["^data"])]))
        _ = try await lab.maps.create(makeMap("extra", [DeviceMatchExpression(key: "name", operator: "In", values: ["extra0"])]))
        let fixture = try AgentFixture(lab: lab, netns: netns)
        defer { fixture.cleanup() }
        #expect(try await eventually { try fixture.mapping()?.networks["data"]?.device == "data0" })
        #expect(try await eventually { (try await lab.nodeDevices.getIfExists("node-r"))?.status?.networks?.count == 2 })

        // Server down: the file stays exactly as it was.
        let before = try Data(contentsOf: URL(fileURLWithPath: fixture.mappingPath))
        lab.stop()
        try await Task.sleep(for: .seconds(1.5))
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.mappingPath)) == before)
        #expect(fixture.agent.status.mappingWritten)

        // Devices still follow the kernel while the server is down (the file is local truth).
        try netns.veth("extra0", "extra0p")
        #expect(try await eventually { try fixture.mapping()?.networks["extra"]?.device == "extra0" })

        // Server back on the same port with the same data: the agent catches up.
        try lab.restart()
        #expect(try await eventually(timeout: .seconds(15)) {
            let nd = try await lab.nodeDevices.getIfExists("node-r")
            return nd?.status?.networks?.first { $0.network == "extra" }?.device == "extra0"
        })
        var data = try await lab.maps.get("data")
        data.spec.rules = [DeviceRule(expressions: [DeviceMatchExpression(key: "name", operator: "In", values: ["extra0"])])]
        _ = try await lab.maps.update(data)
        #expect(try await eventually(timeout: .seconds(15)) { try fixture.mapping()?.networks["data"]?.device == "extra0" })
        #expect(fixture.agent.metrics.value("automagic_agent_watch_restarts_total") >= 1)
        await fixture.stop()
    }

    @Test func startsWithTheAPIServerDownAndKeepsTheLastFile() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("cold0", "cold0p")
        let lab = try await LabFixture(nodeName: "node-c", persistent: true)
        defer { lab.cleanup() }
        _ = try await lab.maps.create(makeMap("cold", [DeviceMatchExpression(key: "name", operator: "In", values: ["cold0"])]))
        let dir = try makeTempDir("amagent", inMemory: true)
        defer { removeTestFiles(dir) }
        let path = "\(dir)/mapping.json"
        // The last good file from a previous run (another device then).
        let previous = NodeNetworkMapping(node: "node-c", generation: 5, updatedAt: "2026-11-28T22:00:00Z",
                                          networks: ["cold": NetworkMapping(device: "old0", map: "cold")])
        try MappingFile.write(previous, to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        lab.stop()

        let fixture = try AgentFixture(lab: lab, netns: netns, mappingPath: path)
        defer { fixture.task.cancel() }
        #expect(await eventually { fixture.agent.status.devices != nil })
        try await Task.sleep(for: .seconds(1))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(!fixture.agent.isReady)
        #expect(!fixture.agent.status.mapsSynced)

        try lab.restart()
        #expect(try await eventually(timeout: .seconds(15)) { try fixture.mapping()?.networks["cold"]?.device == "cold0" })
        #expect(try fixture.mapping()?.generation == 6)
        #expect(await eventually { fixture.agent.isReady })
        await fixture.stop()
    }

    @Test func unwritableMappingDirectoryIsAClearErrorAndNotReady() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("x0", "x0p")
        let lab = try await LabFixture(nodeName: "node-u")
        defer { lab.cleanup() }
        let dir = try makeTempDir("amagent", inMemory: true)
        defer { removeTestFiles(dir) }
        // The mapping "directory" is a regular file: even root cannot create the mapping file there.
        #expect(FileManager.default.createFile(atPath: "\(dir)/blocker", contents: Data()))
        let path = "\(dir)/blocker/mapping.json"
        let fixture = try AgentFixture(lab: lab, netns: netns, mappingPath: path)
        defer { fixture.task.cancel() }
        #expect(await eventually { fixture.agent.status.mappingError != nil && fixture.agent.status.devices != nil })
        let error = try #require(fixture.agent.status.mappingError)
        #expect(error.contains(path))
        #expect(error.hasPrefix("failed to write mapping file"))
        #expect(!fixture.agent.isReady)
        let readiness = fixture.agent.health.run(readiness: true)
        #expect(readiness.first { $0.name == "mapping-file" }?.failure != nil)
        // The NodeDevice says so too.
        #expect(try await eventually {
            let nd = try await lab.nodeDevices.getIfExists("node-u")
            return nd?.status?.conditions?.first { $0.type == "Ready" }?.reason == "MappingFileWriteFailed"
        })
        #expect(fixture.agent.metrics.value("automagic_agent_errors_total", labels: ["step": "mapping-file"]) >= 1)
        await fixture.stop()
    }
}

import DeviceProbe

/// LLDP (issue 9, agent side): a neighbour heard on a listened device is published in its
/// `lldp` fields and selectable by maps.
@Suite(.serialized) struct AgentLLDPTests {
    @Test func neighbourIsPublishedAndSelectable() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("uplink0", "uplink0p")
        try netns.veth("other0", "other0p")
        let lab = try await LabFixture(nodeName: "node-l")
        defer { lab.cleanup() }
        _ = try await lab.maps.create(makeMap("tor", [
            DeviceMatchExpression(key: "lldp.systemName", operator: "Matches", values: ["^tor-r1-"]),
            DeviceMatchExpression(key: "lldp.vlanIDs", operator: "In", values: ["100"]),
        ]))
        let fixture = try AgentFixture(lab: lab, netns: netns, lldp: .on(["uplink*"]))
        defer { fixture.cleanup() }
        #expect(try await eventually { try fixture.mapping()?.networks["tor"]?.device == "" })

        let switchMAC: [UInt8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]
        var frame = LLDPFrameBuilder(source: switchMAC, chassisID: .mac(switchMAC), portID: .interfaceName("Ethernet7"))
        frame.systemName = "tor-r1-a"
        frame.portDescription = "server-7 port 1"
        frame.portVLANID = 100
        let sender = try FrameSender(netnsPath: netns.path)
        defer { sender.shutdown() }
        // Sent from the far end of both pairs: only the listened device (uplink0) takes it.
        try sender.send(frame.frame(), on: "uplink0p")
        try sender.send(frame.frame(), on: "other0p")

        #expect(try await eventually { try fixture.mapping()?.networks["tor"]?.device == "uplink0" })
        #expect(try await eventually {
            let nd = try await lab.nodeDevices.getIfExists("node-l")
            return nd?.status?.devices?.first { $0.name == "uplink0" }?.lldp?.systemName == "tor-r1-a"
        })
        let devices = try #require(try await lab.nodeDevices.get("node-l").status?.devices)
        let lldp = try #require(devices.first { $0.name == "uplink0" }?.lldp)
        #expect(lldp.chassisID == "02:11:22:33:44:55")
        #expect(lldp.portID == "Ethernet7")
        #expect(lldp.vlanIDs == [100])
        #expect(lldp.lastHeard != nil)
        #expect(devices.first { $0.name == "other0" }?.lldp == nil)
        await fixture.stop()
    }
}

/// `automagic-agent --once` in a namespace: the devices the kernel reports, in the status shape.
@Suite struct OnceTests {
    @Test func onceProbesTheNamespace() throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("once0", "once0p")
        try netns.ip("addr", "add", "10.99.0.1/24", "dev", "once0")
        let text = try OnceProbe.json(netnsPath: netns.path)
        let value = try JSONValue.parse(text)
        let devices = try #require(value["devices"]?.arrayValue)
        #expect(devices.compactMap { $0["name"]?.stringValue }.sorted() == (try netns.linkNames()))
        #expect(value["deviceCount"]?.intValue == 2)
        let once0 = try #require(devices.first { $0["name"]?.stringValue == "once0" })
        #expect(once0["addresses"] == ["10.99.0.1/24"])
        #expect(once0["kind"]?.stringValue == "veth")
        #expect(throws: AgentError.self) { try OnceProbe.json(netnsPath: "/var/run/netns/am-does-not-exist") }
    }
}
