import AutomagicAPI
import Foundation
import JSON
import KubeClient
import KubeCore
import KubeRuntime
import LabAPIServer
import LabTesting
import Logging
import MappingFile
import Testing
import TestSupport

@testable import Agent

/// A lab API server (LabTesting's ``TestLab``, files on `/dev/shm`) with the Automagic CRDs and a
/// Node, plus an admin client.
final class LabFixture: @unchecked Sendable {
    let lab: TestLab
    let nodeName: String
    var nodeUID: String = ""

    var server: RunningLabServer { lab.server }
    var client: KubernetesClient { lab.client }
    /// The lab's directory (certificates, kubeconfigs, the snapshot when persistent).
    var certDir: String { lab.directory }

    /// `legacyMaps` are created while a schema-less NetworkDeviceMap CRD is installed (an old
    /// server's validation), before the repository's CRDs replace it: maps that the current
    /// schema would reject but that are stored anyway.
    /// `garbageCollection` false: dependents outlive their owner (a bare kube-apiserver, or a
    /// real cluster before its collector ran); `tokens`: bearer tokens the server accepts.
    init(nodeName: String, labels: [String: String] = [:], persistent: Bool = false,
         legacyMaps: [NetworkDeviceMap] = [], garbageCollection: Bool = true, tokens: [String: LabUser] = [:],
         servesSelfSubjectReview: Bool = true, servesResourceAPI: Bool = true) async throws {
        lab = try TestLab(inMemory: true) { options in
            options.garbageCollection = garbageCollection
            options.tokens = tokens
            options.servesSelfSubjectReview = servesSelfSubjectReview
            options.servesResourceAPI = servesResourceAPI
            options.rules = [AuthorizationRule(users: Array(Set(tokens.values.map(\.name))), verbs: ["*"], apiGroups: ["*"], resources: ["*"])]
            if persistent, let dir = options.certDir { options.dataPath = "\(dir)/data.json" }
        }
        self.nodeName = nodeName
        do {
            if !legacyMaps.isEmpty {
                try await lab.client.applyCRD([
                    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": ["name": "networkdevicemaps.automagic.dev"],
                    "spec": [
                        "group": "automagic.dev", "scope": "Cluster",
                        "names": ["plural": "networkdevicemaps", "singular": "networkdevicemap", "kind": "NetworkDeviceMap"],
                        "versions": [[
                            "name": "v1alpha1", "served": true, "storage": true, "subresources": ["status": [:]],
                            "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]],
                        ]],
                    ],
                ])
                for map in legacyMaps { _ = try await lab.client.resource(NetworkDeviceMap.self).create(map) }
            }
            // The repository's CRDs (structural schemas): what the agent writes must pass them.
            try await lab.client.installRepositoryCRDs()
            let node = try await lab.client.resource(Node.self).create(Node(metadata: ObjectMeta(name: nodeName, labels: labels)))
            nodeUID = node.metadata.uid ?? ""
        } catch {
            lab.stop()
            throw error
        }
    }

    /// A client for the agent (its own connections, like a separate process).
    func agentClient() throws -> KubernetesClient {
        var config = try lab.clientConfiguration()
        config.maxRetries = 1
        config.connectTimeout = 2
        config.requestTimeout = 5
        return try KubernetesClient(configuration: config)
    }

    /// Stops the server, keeping its files (the snapshot is written when persistent).
    func stop() { lab.stop(keepFiles: true) }

    /// Starts the server again on the same port with the same certificates and data.
    func restart() throws { try lab.restart() }

    var maps: ResourceClient<NetworkDeviceMap> { client.resource(NetworkDeviceMap.self) }
    var nodeDevices: ResourceClient<NodeDevice> { client.resource(NodeDevice.self) }

    func cleanup() { lab.stop() }
}

/// A running in-process agent.
final class AgentFixture: @unchecked Sendable {
    let agent: NodeAgent
    let task: Task<Void, any Error>
    let mappingPath: String
    /// The temporary directory of the mapping file when the fixture made it (removed by `cleanup()`).
    let directory: String?

    /// An agent writing `mappingPath`, or without one `mapping.json` in a fresh directory on `/dev/shm`.
    init(lab: LabFixture, netns: TestNetns, mappingPath: String? = nil, lldp: LLDPOptionsWrapper = .off) throws {
        directory = mappingPath == nil ? try makeTempDir("amagent", inMemory: true) : nil
        let mappingPath = mappingPath ?? "\(directory ?? "")/mapping.json"
        self.mappingPath = mappingPath
        var config = AgentConfiguration(
            nodeName: lab.nodeName, mappingFile: mappingPath, netnsPath: netns.path, lldp: lldp.options,
            resyncPeriod: .seconds(300), debounce: .milliseconds(30), maxDelay: .milliseconds(200))
        config.retryBackoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        config.watchBackoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        let logger = Logger(label: "test.agent", factory: { _ in SwiftLogNoOpLogHandler() })
        agent = try NodeAgent(configuration: config, client: try lab.agentClient(), logger: logger)
        let agent = self.agent
        task = Task { try await agent.run() }
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }

    /// Cancels the agent and removes the directory the fixture made (for `defer`).
    func cleanup() {
        task.cancel()
        if let directory { removeTestFiles(directory) }
    }

    func mapping() throws -> NodeNetworkMapping? { try writtenMapping(at: mappingPath) }
}

import DeviceProbe

/// LLDP settings for a test agent.
struct LLDPOptionsWrapper {
    var options: LLDPOptions?
    static let off = LLDPOptionsWrapper(options: nil)
    static func on(_ patterns: [String]) -> LLDPOptionsWrapper { .init(options: LLDPOptions(physical: false, patterns: patterns)) }
}

/// A map selecting devices by `expressions`, with a macvlan attachment.
func makeMap(_ name: String, _ expressions: [DeviceMatchExpression], nodeSelector: LabelSelector? = nil) -> NetworkDeviceMap {
    NetworkDeviceMap(name: name, spec: NetworkDeviceMapSpec(
        nodeSelector: nodeSelector, rules: [DeviceRule(expressions: expressions)],
        attachment: AttachmentSpec(type: .macvlan, mode: "bridge")))
}

/// The mapping file at `path`, or nil while the agent has not written it yet. Any other failure
/// (unreadable, not a mapping file) throws: the file is replaced atomically, so a reader never
/// sees a partial one.
func writtenMapping(at path: String) throws -> NodeNetworkMapping? {
    do {
        return try MappingFile.read(path: path)
    } catch .notFound {
        return nil
    }
}

extension AgentMetrics {
    /// A sample's value as `/metrics` serves it (0 while it is not exported).
    func value(_ name: String, labels: [String: String] = [:]) -> Double {
        sampleValue(registry.emitToString(), name, labels: labels) ?? 0
    }
}
