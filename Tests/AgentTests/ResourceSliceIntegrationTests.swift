import AutomagicAPI
import DRA
import Foundation
import JSON
import KubeClient
import KubeCore
import KubeRuntime
import LabTesting
import Logging
import Testing
import TestSupport

@testable import Agent

/// Where the slice tests run: the lab API server, or the cluster `AUTOMAGIC_TEST_KUBECONFIG`
/// names (Kubernetes 1.34+: resource.k8s.io/v1), with a Node object of a unique name.
final class SliceCluster: @unchecked Sendable {
    let lab: LabFixture?
    let client: KubernetesClient
    let kubeconfig: String
    let nodeName: String

    init(servesResourceAPI: Bool = true) async throws {
        if !RealCluster.isAbsent {
            let real = try TestAPIServer()
            lab = nil
            kubeconfig = real.kubeconfigPath
            nodeName = uniquePrefix() + "-node"
            client = real.client
            try await client.installRepositoryCRDs()
            _ = try await client.resource(Node.self).create(Node(metadata: ObjectMeta(name: nodeName)))
        } else {
            let lab = try await LabFixture(nodeName: uniquePrefix() + "-node", servesResourceAPI: servesResourceAPI)
            self.lab = lab
            kubeconfig = lab.server.kubeconfigPath
            nodeName = lab.nodeName
            client = lab.client
        }
    }

    func agentClient() throws -> KubernetesClient {
        if let lab { return try lab.agentClient() }
        return try KubernetesClient(configuration: try KubeConfigLoader.load(explicitPath: kubeconfig))
    }

    /// The node's slices (driver automagic.dev), by name.
    func slices() async throws -> [JSONValue] {
        try await client.dynamic(ResourceSlicePlanning.resourceType)
            .list(ListOptions(fieldSelector: ResourceSlicePlanning.fieldSelector(node: nodeName)))
            .items.map(\.json).sorted { ($0[path: ["metadata", "name"]]?.stringValue ?? "") < ($1[path: ["metadata", "name"]]?.stringValue ?? "") }
    }

    /// Every device entry of the node's slices, in slice order.
    func publishedDevices() async throws -> [JSONValue] {
        try await slices().flatMap { $0[path: ["spec", "devices"]]?.arrayValue ?? [] }
    }

    /// Deletes the test Node of a real cluster (its slices and NodeDevice follow by garbage
    /// collection); the lab is stopped by ``SliceRun``'s deinit.
    func deleteRealNode() async {
        guard lab == nil else { return }
        do { try await client.resource(Node.self).delete(nodeName) } catch where error.isNotFound {
        } catch {
            Issue.record("could not delete test Node \(nodeName): \(error)")
        }
    }

    /// Starts an agent for the node probing `netns`.
    func startAgent(netns: TestNetns, mappingPath: String, slices: Bool = true) throws -> NodeAgent {
        var config = AgentConfiguration(
            nodeName: nodeName, mappingFile: mappingPath, netnsPath: netns.path, lldp: nil,
            resyncPeriod: .seconds(300), debounce: .milliseconds(30), maxDelay: .milliseconds(200))
        config.retryBackoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        config.watchBackoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        config.publishResourceSlices = slices
        let logger = Logger(label: "test.agent", factory: { _ in SwiftLogNoOpLogHandler() })
        return try NodeAgent(configuration: config, client: try agentClient(), logger: logger)
    }
}

/// One test's world: a namespace with a veth pair `stor0`/`stor0p` (and what `links` adds), a
/// cluster with the Node, and the agent running. Everything is removed when it goes away, the
/// test Node of a real cluster by ``finish()``.
final class SliceRun: @unchecked Sendable {
    let netns: TestNetns
    let cluster: SliceCluster
    let dir: String
    let agent: NodeAgent
    let task: Task<Void, any Error>

    init(servesResourceAPI: Bool = true, slices: Bool = true, links: (TestNetns) throws -> Void = { _ in }) async throws {
        netns = try TestNetns()
        do {
            try netns.veth("stor0", "stor0p")
            try links(netns)
            cluster = try await SliceCluster(servesResourceAPI: servesResourceAPI)
        } catch {
            netns.remove()
            throw error
        }
        dir = try makeTempDir("amslice", inMemory: true)
        agent = try cluster.startAgent(netns: netns, mappingPath: "\(dir)/mapping.json", slices: slices)
        let agent = self.agent
        task = Task { try await agent.run() }
    }

    deinit {
        task.cancel()
        cluster.lab?.cleanup()
        removeTestFiles(dir)
        netns.remove()
    }

    func stopAgent() async {
        task.cancel()
        _ = await task.result
    }

    func finish() async {
        await stopAgent()
        await cluster.deleteRealNode()
    }
}

/// The agent publishes its node's NICs as ResourceSlices: real veths in a test namespace, the
/// real agent in-process, the lab API server (or a real 1.34+ cluster).
@Suite(.serialized) struct ResourceSliceIntegrationTests {
    static func milliseconds(_ d: Duration) -> Int { Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000) }

    /// The DRA name of each link of `netns` that has a MAC address, from `ip -j link` (not the agent's probe).
    static func deviceNames(_ netns: TestNetns) throws -> Set<String> {
        Set(try netns.json("link", "show").compactMap { link -> String? in
            guard let mac = link["address"] as? String, mac != "00:00:00:00:00:00" else { return nil }
            return DRADeviceName.name(pciAddress: nil, mac: mac)
        })
    }

    @Test func slicesEqualTheProbedDevicesFollowHotPlugWithinASecondAndStayIdle() async throws {
        let run = try await SliceRun { netns in
            try netns.veth("mgmt0", "mgmt0p")
            try netns.ip("addr", "add", "10.77.1.5/24", "dev", "mgmt0")
        }
        let (netns, cluster, agent) = (run.netns, run.cluster, run.agent)

        // The slices hold exactly the probed devices, encoded by DRAAttributes.
        #expect(try await eventually(timeout: .seconds(10)) {
            guard let probed = agent.status.devices else { return false }
            let expected = DRAAttributes.devices(probed, node: cluster.nodeName).map(\.json)
            return try await cluster.publishedDevices() == expected && !expected.isEmpty
        })
        let names = Set(try await cluster.publishedDevices().compactMap { $0["name"]?.stringValue })
        #expect(names == (try Self.deviceNames(netns)), "published \(names.sorted())")
        let slice = try #require(try await cluster.slices().first)
        #expect(slice[path: ["metadata", "name"]]?.stringValue == "\(cluster.nodeName)-automagic.dev-0")
        #expect(slice[path: ["spec", "pool", "name"]]?.stringValue == cluster.nodeName)
        #expect(slice[path: ["spec", "pool", "resourceSliceCount"]]?.intValue == 1)
        let nodeUID = try await cluster.client.resource(Node.self).get(cluster.nodeName).metadata.uid
        #expect(slice[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["uid"]?.stringValue == nodeUID)
        let mgmt = try await cluster.publishedDevices().first { $0[path: ["attributes", "name", "string"]]?.stringValue == "mgmt0" }
        #expect(mgmt?[path: ["attributes", "addresses", "string"]]?.stringValue == ",10.77.1.5/24,")
        #expect(mgmt?[path: ["attributes", "node", "string"]]?.stringValue == cluster.nodeName)

        // Hot-plug: a new veth is in the slices within a second (measured from the `ip` call), a
        // removed one leaves them; every change bumps the pool generation.
        var latencies: [Duration] = []
        var generation = slice[path: ["spec", "pool", "generation"]]?.intValue ?? 0
        for i in 0..<5 {
            let start = ContinuousClock.now
            try netns.ip("link", "add", "hot\(i)", "type", "veth", "peer", "name", "hp\(i)")
            let added = try Self.deviceNames(netns).subtracting(names)
            #expect(added.count == 2, "the veth pair: \(added)")
            #expect(try await eventually(timeout: .seconds(5), every: .milliseconds(5)) {
                added.isSubset(of: Set(try await cluster.publishedDevices().compactMap { $0["name"]?.stringValue }))
            })
            latencies.append(ContinuousClock.now - start)
            let g = try await cluster.slices().first?[path: ["spec", "pool", "generation"]]?.intValue ?? 0
            #expect(g > generation, "generation \(g) after \(generation)")
            generation = g
            try netns.ip("link", "del", "hot\(i)")
            #expect(try await eventually(timeout: .seconds(5)) {
                added.isDisjoint(with: Set(try await cluster.publishedDevices().compactMap { $0["name"]?.stringValue }))
            })
        }
        print("ResourceSlice hot-plug latency (ms): \(latencies.map(Self.milliseconds))")
        let median = latencies.sorted()[latencies.count / 2]
        #expect(median < .milliseconds(1000), "median \(median)")

        // Steady state: resyncs of an unchanged node write no slice.
        try await Task.sleep(for: .milliseconds(500))
        let before = try await cluster.slices().map { $0[path: ["metadata", "resourceVersion"]]?.stringValue ?? "" }
        let writes = try #require(agent.resourceSlices).state.withLock { $0.writes }
        for _ in 0..<3 {
            agent.requestResync()
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(agent.metrics.value("automagic_agent_probes_total") >= 3)
        #expect(try await cluster.slices().map { $0[path: ["metadata", "resourceVersion"]]?.stringValue ?? "" } == before)
        #expect(try #require(agent.resourceSlices).state.withLock { $0.writes } == writes)
        #expect(agent.metrics.value("automagic_agent_resourceslice_writes_total", labels: ["verb": "create"]) == 1)
        #expect(agent.metrics.value("automagic_agent_resourceslice_writes_total", labels: ["verb": "update"]) == 10, "5 hot-plugs, 5 removals")

        // A restarted agent (a DaemonSet rollout) finds its slices as they should be: it plans, writes nothing.
        await run.stopAgent()
        let restarted = try cluster.startAgent(netns: netns, mappingPath: "\(run.dir)/mapping.json")
        let second = Task { try await restarted.run() }
        let publisher = try #require(restarted.resourceSlices)
        #expect(try await eventually(timeout: .seconds(10)) { publisher.state.withLock { $0.plans } >= 1 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(publisher.state.withLock { $0.writes } == 0)
        #expect(try await cluster.slices().map { $0[path: ["metadata", "resourceVersion"]]?.stringValue ?? "" } == before)
        second.cancel()
        _ = await second.result
        await run.finish()
    }

    @Test func aRemovedNodesSlicesGo() async throws {
        let run = try await SliceRun()
        let cluster = run.cluster
        #expect(try await eventually(timeout: .seconds(10)) { !(try await cluster.slices().isEmpty) })
        // The agent is gone with its node (as a DaemonSet pod is); the Node is deleted.
        await run.stopAgent()
        try await cluster.client.resource(Node.self).delete(cluster.nodeName)
        #expect(try await eventually(timeout: .seconds(30), every: .milliseconds(50)) { try await cluster.slices().isEmpty })
    }

    @Test(.enabled(if: RealCluster.isAbsent, "needs a server without resource.k8s.io/v1: the lab's servesResourceAPI switch"))
    func anOlderServerGetsNoSlicesAndTheAgentGoesOn() async throws {
        let run = try await SliceRun(servesResourceAPI: false)
        let (cluster, agent) = (run.cluster, run.agent)
        let publisher = try #require(agent.resourceSlices)
        #expect(try await eventually(timeout: .seconds(10)) { publisher.state.withLock { $0.served } == false })
        // The rest of the agent works: the NodeDevice is published and the agent is ready.
        #expect(try await eventually(timeout: .seconds(10)) {
            try await cluster.lab?.nodeDevices.getIfExists(cluster.nodeName)?.status?.devices?.isEmpty == false
        })
        #expect(await eventually(timeout: .seconds(10)) { agent.isReady })
        #expect(publisher.state.withLock { $0.writes } == 0)
        await run.finish()
    }

    @Test func turnedOffItPublishesNothing() async throws {
        let run = try await SliceRun(slices: false)
        let (cluster, agent) = (run.cluster, run.agent)
        #expect(agent.resourceSlices == nil)
        #expect(try await eventually(timeout: .seconds(10)) {
            try await cluster.client.resource(NodeDevice.self).getIfExists(cluster.nodeName)?.status?.devices?.isEmpty == false
        })
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await cluster.slices().isEmpty)
        await run.finish()
        #expect(try AgentCommandLine.parse(["--no-resource-slices"]).noResourceSlices)
        #expect(try !AgentCommandLine.parse([]).noResourceSlices)
    }

    /// More than 128 NICs make a pool of two slices; when the node drops below 129 the agent
    /// deletes its second slice (its one delete right) and leaves another driver's slice alone.
    @Test func aPoolOfTwoSlicesShrinksToOneAndOtherSlicesAreLeftAlone() async throws {
        let run = try await SliceRun { netns in
            let dir = try makeTempDir("amslice-batch")
            defer { removeTestFiles(dir) }
            let batch = (0..<64).map { "link add v\($0) type veth peer name w\($0)" }.joined(separator: "\n") + "\n"
            try batch.write(toFile: "\(dir)/batch", atomically: true, encoding: .utf8)
            _ = try sh(["ip", "-n", netns.name, "-batch", "\(dir)/batch"])
        }
        let cluster = run.cluster
        let nodeUID = try #require(try await cluster.client.resource(Node.self).get(cluster.nodeName).metadata.uid)
        let foreign: JSONValue = [
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": ["name": .string("\(cluster.nodeName)-gpu.example.com-0"),
                         "ownerReferences": [["apiVersion": "v1", "kind": "Node", "name": .string(cluster.nodeName), "uid": .string(nodeUID)]]],
            "spec": ["driver": "gpu.example.com", "nodeName": .string(cluster.nodeName), "devices": [["name": "gpu-0"]],
                     "pool": ["name": .string(cluster.nodeName), "generation": 1, "resourceSliceCount": 1]],
        ]
        _ = try await cluster.client.dynamic(ResourceSlicePlanning.resourceType).create(DynamicObject(foreign))

        // 130 links: 128 + 2.
        #expect(try await eventually(timeout: .seconds(15)) { try await cluster.publishedDevices().count == 130 })
        let two = try await cluster.slices()
        #expect(two.map { $0[path: ["metadata", "name"]]?.stringValue ?? "" } == ["\(cluster.nodeName)-automagic.dev-0", "\(cluster.nodeName)-automagic.dev-1"])
        #expect(two.allSatisfy { $0[path: ["spec", "pool", "resourceSliceCount"]]?.intValue == 2 })
        // 2 links fewer: one slice, the second deleted.
        try run.netns.ip("link", "del", "v0")
        #expect(try await eventually(timeout: .seconds(10)) {
            let slices = try await cluster.slices()
            return slices.count == 1 && slices.first?[path: ["spec", "devices"]]?.arrayValue?.count == 128
                && slices.first?[path: ["spec", "pool", "resourceSliceCount"]]?.intValue == 1
        })
        #expect(run.agent.metrics.value("automagic_agent_resourceslice_writes_total", labels: ["verb": "delete"]) == 1)
        let other = try await cluster.client.dynamic(ResourceSlicePlanning.resourceType).get("\(cluster.nodeName)-gpu.example.com-0")
        #expect(other.json[path: ["spec", "driver"]]?.stringValue == "gpu.example.com")
        await run.finish()
    }

    /// Benchmark (issue 17): publishing 256 devices (two slices) and an attribute change of all
    /// of them, through the real client over HTTPS. Target: each under 500 ms on the shared
    /// 2-core CI machine — half the 1 s hot-plug budget, leaving the rest to the probe's debounce
    /// and the watch. An unchanged set writes nothing.
    @Test func publishing256DevicesFitsTheHotPlugBudget() async throws {
        let cluster = try await SliceCluster()
        let nodeUID = try #require(try await cluster.client.resource(Node.self).get(cluster.nodeName).metadata.uid)
        let publisher = ResourceSlicePublisher(
            node: cluster.nodeName, client: try cluster.agentClient(), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        func nics(mtu: Int) -> [NetworkDevice] {
            (0..<256).map { i in
                NetworkDevice(name: "ens\(i)", mac: String(format: "02:00:00:00:%02x:%02x", i / 256, i % 256), mtu: mtu,
                              speedMbps: 25000, driver: "ice", pciAddress: String(format: "0000:%02x:00.%d", 0x10 + i / 8, i % 8),
                              addresses: ["10.1.\(i).5/24"])
            }
        }
        var timings: [Duration] = []
        for (mtu, expectedWrites) in [(1500, 2), (9000, 2), (9000, 0)] {
            let start = ContinuousClock.now
            let writes = try await publisher.reconcile(devices: nics(mtu: mtu), nodeUID: nodeUID)
            timings.append(ContinuousClock.now - start)
            #expect(writes == expectedWrites, "mtu \(mtu)")
        }
        print("ResourceSlice publish of 256 devices (ms): create \(Self.milliseconds(timings[0])), update \(Self.milliseconds(timings[1])), unchanged \(Self.milliseconds(timings[2]))")
        let slices = try await cluster.slices()
        #expect(slices.map { $0[path: ["spec", "devices"]]?.arrayValue?.count ?? 0 } == [128, 128])
        #expect(slices.allSatisfy { $0[path: ["spec", "pool", "generation"]]?.intValue == 2 })
        #expect(timings[0] < .milliseconds(500) && timings[1] < .milliseconds(500), "\(timings)")
        await cluster.deleteRealNode()
        cluster.lab?.cleanup()
    }
}
