import AutomagicAPI
import Foundation
import JSON
import KubeClient
import KubeCore
import LabTesting
import Logging
import Testing
import TestSupport
@testable import Controller

/// The API server a test talks to (LabTesting's ``TestAPIServer``: a lab API server started
/// in-process, or the cluster named by `AUTOMAGIC_TEST_KUBECONFIG`) with the CRDs of `crds/`
/// installed. Every object a test creates carries its unique prefix.
final class TestCluster: Sendable {
    let server: TestAPIServer
    let prefix: String

    var client: KubernetesClient { server.client }
    var lab: TestLab? { server.lab }
    var isRealCluster: Bool { server.isRealCluster }

    init(server: TestAPIServer, prefix: String) {
        self.server = server
        self.prefix = prefix
    }

    /// - Parameter servesResourceAPI: whether the lab serves `resource.k8s.io/v1` (false: a server before 1.34).
    static func start(servesResourceAPI: Bool = true) async throws -> TestCluster {
        let server = try TestAPIServer(lab: { $0.servesResourceAPI = servesResourceAPI }, client: { $0.qps = 0 })
        do {
            try await server.client.installRepositoryCRDs()
        } catch {
            server.stop()
            throw error
        }
        return TestCluster(server: server, prefix: uniquePrefix())
    }

    /// A minimal NetworkAttachmentDefinition CRD (Multus' is not installed in the lab).
    func installNADCRD() async throws {
        let crd: JSONValue = [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": "network-attachment-definitions.k8s.cni.cncf.io"],
            "spec": [
                "group": "k8s.cni.cncf.io", "scope": "Namespaced",
                "names": ["kind": "NetworkAttachmentDefinition", "plural": "network-attachment-definitions",
                          "singular": "network-attachment-definition", "shortNames": ["net-attach-def"]],
                "versions": [[
                    "name": "v1", "served": true, "storage": true,
                    "schema": ["openAPIV3Schema": [
                        "type": "object",
                        "properties": ["spec": ["type": "object", "properties": ["config": ["type": "string"]]]],
                    ]],
                ]],
            ],
        ]
        do {
            _ = try await client.dynamic(.customResourceDefinitions).create(DynamicObject(crd))
        } catch where error.isAlreadyExists {
        }
        try await client.waitUntilServed("/apis/k8s.cni.cncf.io/v1/network-attachment-definitions")
    }

    func name(_ suffix: String) -> String { "\(prefix)-\(suffix)" }

    var nodes: ResourceClient<Node> { client.resource(Node.self) }
    var nodeDevices: ResourceClient<NodeDevice> { client.resource(NodeDevice.self) }
    var maps: ResourceClient<NetworkDeviceMap> { client.resource(NetworkDeviceMap.self) }
    var namespaces: ResourceClient<Namespace> { client.resource(Namespace.self) }
    var nads: ResourceClient<DynamicObject> { client.dynamic(.networkAttachmentDefinitions) }
    var events: ResourceClient<Event> { client.resource(Event.self, namespace: "default") }

    @discardableResult
    func createNode(_ suffix: String, labels: [String: String] = [:]) async throws -> Node {
        let name = name(suffix)
        var all = labels
        all["automagic.dev/test"] = prefix
        all["kubernetes.io/hostname"] = name
        return try await nodes.create(Node(metadata: ObjectMeta(name: name, labels: all)))
    }

    /// Writes the node's NodeDevice as its agent would (create, then status).
    @discardableResult
    func publish(_ suffix: String, devices: [NetworkDevice], owned: Bool = true) async throws -> NodeDevice {
        let name = name(suffix)
        var meta = ObjectMeta(name: name, labels: ["automagic.dev/test": prefix])
        if owned, let node = try await nodes.getIfExists(name) {
            meta.ownerReferences = [OwnerReference(apiVersion: "v1", kind: "Node", name: name, uid: node.metadata.uid ?? "")]
        }
        var nd: NodeDevice
        if let existing = try await nodeDevices.getIfExists(name) {
            nd = existing
        } else {
            nd = try await nodeDevices.create(NodeDevice(metadata: meta))
        }
        nd.status = NodeDeviceStatus(devices: devices, probedAt: KubeTime.format(Date()), agentVersion: "test")
        return try await nodeDevices.updateStatus(nd)
    }

    @discardableResult
    func createMap(_ suffix: String, spec: NetworkDeviceMapSpec) async throws -> NetworkDeviceMap {
        // Only this test's nodes: on a real cluster the maps must not reach (and label) real nodes.
        var spec = spec
        var selector = spec.nodeSelector ?? LabelSelector()
        selector.matchLabels = (selector.matchLabels ?? [:]).merging(["automagic.dev/test": prefix]) { a, _ in a }
        spec.nodeSelector = selector
        var map = NetworkDeviceMap(name: name(suffix), spec: spec)
        map.metadata.labels = ["automagic.dev/test": prefix]
        return try await maps.create(map)
    }

    func map(_ suffix: String) async throws -> NetworkDeviceMap { try await maps.get(name(suffix)) }
    func node(_ suffix: String) async throws -> ClusterNode { try await client.resource(ClusterNode.self).get(name(suffix)) }

    /// A controller with short periods, running until the returned task is cancelled.
    func startController(_ configure: (inout ControllerOptions) -> Void = { _ in }) -> (AutomagicController, Task<Void, any Error>) {
        var options = ControllerOptions()
        options.statusDebounce = .milliseconds(100)
        options.nadRetryPeriod = .seconds(1)
        options.resyncPeriod = .seconds(30)
        configure(&options)
        var logger = Logger(label: "test.controller")
        logger.logLevel = .warning
        let controller = AutomagicController(client: client, options: options, logger: logger)
        let task = Task { try await controller.run() }
        return (controller, task)
    }

    /// The prefix of objects a test creates as if another test shared the cluster (their names and
    /// `automagic.dev/test` label); `cleanUp()` deletes them too.
    var otherTestPrefix: String { "zz-" + prefix }

    /// Deletes what the test created (real clusters), stops the lab server. An object already gone
    /// is fine (a NodeDevice collected with its Node); any other failure is recorded as an issue of
    /// the test, since on a real cluster it would be a leak.
    func cleanUp() async {
        if isRealCluster {
            let selector = ListOptions(labelSelector: "automagic.dev/test in (\(prefix),\(otherTestPrefix))")
            func each(_ kind: String, _ list: () async throws -> [String], _ delete: (String) async throws -> Void) async {
                do {
                    for name in try await list() {
                        do {
                            try await delete(name)
                        } catch let error as KubeClientError where error.isNotFound {
                        } catch {
                            Issue.record("cleanup of \(prefix): deleting \(kind) \(name) failed: \(error)")
                        }
                    }
                } catch {
                    Issue.record("cleanup of \(prefix): listing its \(kind)s failed: \(error)")
                }
            }
            await each("NetworkDeviceMap", { try await maps.list(selector).items.map(\.network) }) { try await maps.delete($0) }
            await each("NodeDevice", { try await nodeDevices.list(selector).items.compactMap(\.metadata.name) }) { try await nodeDevices.delete($0) }
            await each("Node", { try await nodes.list(selector).items.compactMap(\.metadata.name) }) { try await nodes.delete($0) }
            await each("Namespace", { try await namespaces.list(selector).items.compactMap(\.metadata.name) }) { try await namespaces.delete($0) }
        }
        server.stop()
    }

    /// Runs `body` with a fresh cluster and cleans up whether it threw or not.
    static func with<R>(servesResourceAPI: Bool = true, _ body: (TestCluster) async throws -> R) async throws -> R {
        let cluster = try await TestCluster.start(servesResourceAPI: servesResourceAPI)
        return try await withCleanup({ try await body(cluster) }, cleanup: cluster.cleanUp)
    }
}

/// A physical device with the given attributes.
func device(_ name: String, driver: String = "ice", speed: Int? = 25_000, mtu: Int = 1500, addresses: [String]? = nil,
            vlans: [Int]? = nil) -> NetworkDevice {
    var d = NetworkDevice(name: name, kind: .physical, mtu: mtu, operState: "up", carrier: true)
    d.speedMbps = speed
    d.driver = driver
    d.addresses = addresses
    if let vlans { d.lldp = LLDPNeighbor(systemName: "tor-1", vlanIDs: vlans) }
    return d
}

func expr(_ key: String, _ op: MatchOperator, _ values: [String]? = nil) -> DeviceMatchExpression {
    DeviceMatchExpression(key: key, operator: op, values: values)
}
