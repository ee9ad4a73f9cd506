import AutomagicAPI
import DeviceProbe
import Foundation
import KubeClient
import KubeCore
import Logging
import MappingFile
import Resolver
import Testing

@testable import Agent

@Suite struct PlanningTests {
    let resolvedNet = ["storage": NetworkMapping(device: "eth1", map: "storage")]

    @Test func firstMappingStartsAtGenerationOne() throws {
        let next = try #require(Planning.nextMapping(current: nil, node: "n1", networks: resolvedNet, now: "t1"))
        #expect(next.generation == 1)
        #expect(next.updatedAt == "t1")
        #expect(next.networks == resolvedNet)
    }

    @Test func unchangedContentIsNotRewritten() {
        let current = NodeNetworkMapping(node: "n1", generation: 7, updatedAt: "t0", networks: resolvedNet)
        #expect(Planning.nextMapping(current: current, node: "n1", networks: resolvedNet, now: "t1") == nil)
    }

    @Test func changedContentIncrementsGeneration() throws {
        let current = NodeNetworkMapping(node: "n1", generation: 7, updatedAt: "t0", networks: resolvedNet)
        let next = try #require(Planning.nextMapping(current: current, node: "n1", networks: [:], now: "t1"))
        #expect(next.generation == 8)
        #expect(next.networks.isEmpty)
        let otherNode = try #require(Planning.nextMapping(current: current, node: "n2", networks: resolvedNet, now: "t1"))
        #expect(otherNode.generation == 8)
        #expect(otherNode.node == "n2")
    }

    @Test func timestampsAloneNeedNoPublish() {
        let lldp = LLDPNeighbor(chassisID: "c", portID: "p", lastHeard: "2026-01-01T00:00:00Z")
        let a = NodeDeviceStatus(
            devices: [NetworkDevice(name: "eth0", lldp: lldp)], probedAt: "2026-01-01T00:00:00Z", agentVersion: "1",
            conditions: [Condition(type: "Ready", status: "True", lastTransitionTime: "2026-01-01T00:00:00Z", reason: "R", message: "m")])
        var b = a
        b.probedAt = "2026-02-02T00:00:00Z"
        b.devices?[0].lldp?.lastHeard = "2026-02-02T00:00:00Z"
        b.conditions?[0].lastTransitionTime = "2026-02-02T00:00:00Z"
        #expect(!Planning.needsPublish(desired: b, published: a))
        var c = b
        c.devices?[0].mtu = 9000
        #expect(Planning.needsPublish(desired: c, published: a))
        var d = b
        d.conditions?[0].status = "False"
        #expect(Planning.needsPublish(desired: d, published: a))
        #expect(Planning.needsPublish(desired: a, published: nil))
    }

    @Test func conditionTransitionTimeKeptWhileStatusUnchanged() {
        let old = [Condition(type: "Ready", status: "True", lastTransitionTime: "T0", reason: "R", message: "m")]
        let same = Planning.conditions([Condition(type: "Ready", status: "True", lastTransitionTime: "T1", reason: "R", message: "m2")], previous: old)
        #expect(same[0].lastTransitionTime == "T0")
        let flipped = Planning.conditions([Condition(type: "Ready", status: "False", lastTransitionTime: "T1", reason: "R", message: "m")], previous: old)
        #expect(flipped[0].lastTransitionTime == "T1")
    }

    @Test func mappingNetworksCarryDeviceFactsAndReasons() {
        let devices = [NetworkDevice(name: "eth1", mac: "aa:bb:cc:dd:ee:01", pciAddress: "0000:5e:00.1"), NetworkDevice(name: "eth2")]
        let maps = [
            makeMap("storage", [DeviceMatchExpression(key: "name", operator: "In", values: ["eth1"])]),
            makeMap("missing", [DeviceMatchExpression(key: "name", operator: "In", values: ["nope"])]),
            makeMap("elsewhere", [DeviceMatchExpression(key: "name", operator: "Exists")],
                    nodeSelector: LabelSelector(matchLabels: ["zone": "b"])),
            makeMap("broken", [DeviceMatchExpression(key: "no.such.field", operator: "In", values: ["x"])]),
        ]
        let resolution = Resolver.resolve(node: NodeInfo(name: "n1", labels: ["zone": "a"]), devices: devices, maps: maps)
        var byName: [String: NetworkDeviceMap] = [:]
        for m in maps { byName[m.network] = m }
        let networks = Planning.mappingNetworks(resolution: resolution, maps: byName, devices: devices)
        #expect(networks["storage"]?.device == "eth1")
        #expect(networks["storage"]?.mac == "aa:bb:cc:dd:ee:01")
        #expect(networks["storage"]?.pciAddress == "0000:5e:00.1")
        #expect(networks["storage"]?.attachment?.type == "macvlan")
        #expect(networks["missing"]?.device == "")
        #expect(networks["missing"]?.message?.hasPrefix("Unresolved") == true)
        #expect(networks["elsewhere"] == nil)
        #expect(networks["broken"]?.device == "")
        #expect(networks["broken"]?.message?.hasPrefix("Invalid") == true)
        let conditions = Planning.agentConditions(resolution: resolution, mappingError: nil, now: "T")
        let invalid = conditions.first { $0.type == Planning.invalidMapsCondition }
        #expect(invalid?.status == "True")
        #expect(invalid?.message.contains("broken") == true)
    }

    @Test func exclusiveNetworksListEveryCandidateWithItsFacts() throws {
        let devices = [
            NetworkDevice(name: "ens5f0", mac: "3c:fd:fe:aa:bb:00", driver: "ice", pciAddress: "0000:05:00.0", numaNode: 0),
            NetworkDevice(name: "ens6f0", mac: "3c:fd:fe:aa:cc:00", driver: "ice", pciAddress: "0000:af:00.0", numaNode: 1),
            NetworkDevice(name: "ens7f0", mac: "3c:fd:fe:aa:dd:00", driver: "ice"),
            NetworkDevice(name: "eth9", driver: "virtio_net"),
        ]
        var fast = makeMap("fast", [DeviceMatchExpression(key: "driver", operator: "In", values: ["ice"])])
        fast.spec.exclusive = true
        fast.spec.attachment = AttachmentSpec(type: .hostDevice)
        fast.metadata.creationTimestamp = "2026-02-01T00:00:00Z"
        // An older shared network holds ens7f0: it is no candidate of the exclusive one.
        var storage = makeMap("storage", [DeviceMatchExpression(key: "name", operator: "In", values: ["ens7f0"])])
        storage.metadata.creationTimestamp = "2026-01-01T00:00:00Z"
        let maps = [fast, storage]
        let resolution = Resolver.resolve(node: NodeInfo(name: "n1"), devices: devices, maps: maps, detail: .summary)
        var byName: [String: NetworkDeviceMap] = [:]
        for m in maps { byName[m.network] = m }
        let networks = Planning.mappingNetworks(resolution: resolution, maps: byName, devices: devices)
        let f = try #require(networks["fast"])
        #expect(f.exclusive)
        #expect(f.device == "ens5f0")
        #expect(f.candidates == [
            DeviceCandidate(name: "ens5f0", mac: "3c:fd:fe:aa:bb:00", pciAddress: "0000:05:00.0", numaNode: 0),
            DeviceCandidate(name: "ens6f0", mac: "3c:fd:fe:aa:cc:00", pciAddress: "0000:af:00.0", numaNode: 1),
        ])
        let s = try #require(networks["storage"])
        #expect(!s.exclusive && s.candidates.isEmpty && s.device == "ens7f0")
        // Written and read back through the file, in format 2.
        let mapping = try #require(Planning.nextMapping(current: nil, node: "n1", networks: networks, now: "t"))
        let back = try MappingFile.decode(MappingFile.encode(mapping), path: "m.json")
        #expect(back.formatVersion == 2 && back.networks == networks)
        #expect(!f.dra)

        // The same map allocated through DRA: its entry says so and the file becomes format 3.
        fast.spec.dra = true
        let draMaps = [fast, storage]
        let draResolution = Resolver.resolve(node: NodeInfo(name: "n1"), devices: devices, maps: draMaps, detail: .summary)
        byName["fast"] = fast
        let draNetworks = Planning.mappingNetworks(resolution: draResolution, maps: byName, devices: devices)
        #expect(draNetworks["fast"]?.dra == true && draNetworks["fast"]?.candidates == f.candidates)
        #expect(draNetworks["storage"]?.dra == false)
        let draMapping = try #require(Planning.nextMapping(current: mapping, node: "n1", networks: draNetworks, now: "t2"))
        #expect(draMapping.formatVersion == 3 && draMapping.generation == mapping.generation + 1)
    }

    @Test func aFileOfAnOlderFormatIsRewrittenOnce() throws {
        let old = NodeNetworkMapping(node: "n1", generation: 4, updatedAt: "t0", networks: resolvedNet, formatVersion: 1)
        let next = try #require(Planning.nextMapping(current: old, node: "n1", networks: resolvedNet, now: "t1"))
        #expect(next.formatVersion == 2, "no dra network: format 2, which readers of format 2 still read")
        #expect(next.generation == 5)
        #expect(Planning.nextMapping(current: next, node: "n1", networks: resolvedNet, now: "t2") == nil)
    }

    @Test func devicesAreSortedByName() {
        let sorted = DeviceConversion.sorted([NetworkDevice(name: "b"), NetworkDevice(name: "a"), NetworkDevice(name: "B")])
        #expect(sorted.map(\.name) == ["B", "a", "b"])
    }
}

@Suite struct ConfigurationTests {
    @Test(arguments: ["", "Worker_1", "-bad", "a..b", String(repeating: "a", count: 254)])
    func badNodeNamesAreRefused(_ name: String) {
        #expect(throws: AgentError.self) { try AgentConfiguration(nodeName: name).validate() }
    }

    @Test func goodConfigurationValidates() throws {
        try AgentConfiguration(nodeName: "worker-1.example").validate()
        #expect(throws: AgentError.self) { try AgentConfiguration(nodeName: "w", mappingFile: "relative.json").validate() }
    }

    @Test func durations() {
        #expect(AgentConfiguration.parseDuration("5m") == .seconds(300))
        #expect(AgentConfiguration.parseDuration("30s") == .seconds(30))
        #expect(AgentConfiguration.parseDuration("250ms") == .milliseconds(250))
        #expect(AgentConfiguration.parseDuration("1h") == .seconds(3600))
        #expect(AgentConfiguration.parseDuration("1.5s") == .milliseconds(1500))
        #expect(AgentConfiguration.parseDuration("90") == .seconds(90))
        for bad in ["", "0s", "-1m", "5d", "m", "abc", "nan", "infs"] {
            #expect(AgentConfiguration.parseDuration(bad) == nil, "\(bad)")
        }
    }

    @Test func directoryOfPath() {
        #expect(NodeAgent.directory(of: "/run/automagic/mapping.json") == "/run/automagic")
        #expect(NodeAgent.directory(of: "/mapping.json") == "/")
    }
}

@Suite struct PublisherGuardTests {
    /// The guard runs before any request: the client points at nothing.
    func publisher() throws -> NodeDevicePublisher {
        let client = try KubernetesClient(configuration: ClientConfiguration(server: "https://127.0.0.1:1"))
        return NodeDevicePublisher(nodeName: "worker-1", client: client.resource(NodeDevice.self))
    }

    @Test func refusesToWriteAnotherNodesStatus() async throws {
        let p = try publisher()
        let foreign = NodeDevice(name: "worker-2")
        await #expect {
            _ = try await p.writeStatus(NodeDeviceStatus(devices: []), current: foreign)
        } throws: { error in
            guard case AgentError.foreignObject(let kind, let name, let node) = error else { return false }
            return kind == "NodeDevice" && name == "worker-2" && node == "worker-1"
                && "\(error)" == "failed to write NodeDevice 'worker-2': it belongs to another node (this agent runs for node 'worker-1')"
        }
        await #expect {
            _ = try await p.ensureExists(owner: OwnerReference(apiVersion: "v1", kind: "Node", name: "worker-2", uid: "u"), current: foreign)
        } throws: { error in
            if case AgentError.foreignObject = error { return true }
            return false
        }
        #expect(throws: AgentError.self) { try p.checkOwn(foreign) }
        try p.checkOwn(NodeDevice(name: "worker-1"))
    }

    @Test func refusesToWriteAnotherNodesResourceSliceAndSaysSo() throws {
        let client = try KubernetesClient(configuration: ClientConfiguration(server: "https://127.0.0.1:1"))
        let slices = ResourceSlicePublisher(node: "worker-1", client: client,
                                            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let error = try #require(throws: AgentError.self) {
            try slices.check(name: "worker-2-automagic.dev-0", nodeName: "worker-2", driver: "automagic.dev")
        }
        #expect("\(error)" == "failed to write ResourceSlice 'worker-2-automagic.dev-0': it belongs to another node (this agent runs for node 'worker-1')")
    }
}

@Suite struct EventPlanTests {
    @Test func onlyEdgesBecomeEvents() {
        let a = [NodeNetworkStatus(network: "storage", device: "eth1", message: "m"), NodeNetworkStatus(network: "bad", message: "invalid spec: x")]
        // First resolution: only the problems.
        let first = EventPlan.items(previous: nil, current: a, invalid: ["bad"], previousInvalid: [], mappingError: nil, previousMappingError: nil)
        #expect(first.map(\.reason) == ["InvalidMap"])
        #expect(first[0].message.contains("bad"))
        // Nothing changed: nothing to say.
        #expect(EventPlan.items(previous: a, current: a, invalid: ["bad"], previousInvalid: ["bad"], mappingError: nil, previousMappingError: nil).isEmpty)
        // A device change, a lost device, a new mapping failure.
        let b = [NodeNetworkStatus(network: "storage", device: "eth2", message: "m")]
        #expect(EventPlan.items(previous: a, current: b, invalid: [], previousInvalid: ["bad"], mappingError: "boom", previousMappingError: nil)
            .map(\.reason) == ["NetworkResolved", "MappingFileWriteFailed"])
        let c = [NodeNetworkStatus(network: "storage", message: "no device")]
        let lost = EventPlan.items(previous: b, current: c, invalid: [], previousInvalid: [], mappingError: "boom", previousMappingError: "boom")
        #expect(lost == [EventPlan.Item(type: "Warning", reason: "NetworkUnresolved", message: "network 'storage' lost device 'eth2': no device")])
    }

    @Test func eventsAreAboutTheNodeDeviceInDefault() {
        let e = EventRecorder.event(node: "worker-1", uid: "u1", type: "Warning", reason: "InvalidMap", message: "m", now: Date())
        #expect(e.metadata.namespace == "default")
        #expect(e.metadata.name?.hasPrefix("worker-1.") == true)
        #expect(e.involvedObject.kind == "NodeDevice")
        #expect(e.involvedObject.name == "worker-1")
        #expect(e.involvedObject.uid == "u1")
        #expect(e.involvedObject.apiVersion == "automagic.dev/v1alpha1")
    }
}
