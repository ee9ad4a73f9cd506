import AutomagicAPI
import Foundation
import JSON
import KubeClient
import KubeCore
import KubeRuntime
import LabAPIServer
import Logging
import MappingFile
import Testing
import TestSupport

@testable import Agent

/// `crds/` of this checkout.
func repositoryCRDDirectory() throws -> String {
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { root.deleteLastPathComponent() }
    let dir = root.appendingPathComponent("crds").path
    guard FileManager.default.fileExists(atPath: dir) else { throw TestFailure("no CRDs at \(dir)") }
    return dir
}

/// A lab API server with the Automagic CRDs and a Node, plus an admin client.
final class LabFixture: @unchecked Sendable {
    var server: RunningLabServer
    let client: KubernetesClient
    let certDir: String
    let dataPath: String?
    let nodeName: String
    var nodeUID: String = ""

    /// `legacyMaps` are created while a schema-less NetworkDeviceMap CRD is installed (an old
    /// server's validation), before the repository's CRDs replace it: maps that the current
    /// schema would reject but that are stored anyway.
    /// `garbageCollection` false: dependents outlive their owner (a bare kube-apiserver, or a
    /// real cluster before its collector ran); `tokens`: bearer tokens the server accepts.
    init(nodeName: String, labels: [String: String] = [:], persistent: Bool = false,
         legacyMaps: [NetworkDeviceMap] = [], garbageCollection: Bool = true, tokens: [String: LabUser] = [:],
         servesSelfSubjectReview: Bool = true, servesResourceAPI: Bool = true) async throws {
        let dir = try makeTempDir("amlab", inMemory: true)
        certDir = dir
        dataPath = persistent ? "\(dir)/data.json" : nil
        var options = LabServerOptions()
        options.garbageCollection = garbageCollection
        options.tokens = tokens
        options.servesSelfSubjectReview = servesSelfSubjectReview
        options.servesResourceAPI = servesResourceAPI
        options.rules = [AuthorizationRule(users: Array(Set(tokens.values.map(\.name))), verbs: ["*"], apiGroups: ["*"], resources: ["*"])]
        options.certDir = dir
        options.dataPath = dataPath
        options.logger = Logger(label: "test.lab", factory: { _ in SwiftLogNoOpLogHandler() })
        server = try LabServer.start(options)
        self.nodeName = nodeName
        let config = try KubeConfigLoader.load(explicitPath: server.kubeconfigPath)
        client = try KubernetesClient(configuration: config)
        if !legacyMaps.isEmpty {
            let file = "\(dir)/legacy-crd.json"
            let crd: JSONValue = [
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
            ]
            try crd.jsonString().write(toFile: file, atomically: true, encoding: .utf8)
            try sh(["kubectl", "apply", "--kubeconfig", server.kubeconfigPath, "-f", file])
            var created = false
            for _ in 0..<100 where !created {
                do {
                    for map in legacyMaps { _ = try await client.resource(NetworkDeviceMap.self).create(map) }
                    created = true
                } catch {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            guard created else { throw TestFailure("could not create the legacy maps") }
        }
        // The repository's CRDs (structural schemas): what the agent writes must pass them.
        try sh(["kubectl", "apply", "--kubeconfig", server.kubeconfigPath, "-f", repositoryCRDDirectory()])
        for _ in 0..<100 {
            do {
                _ = try await client.resource(NodeDevice.self).list()
                _ = try await client.resource(NetworkDeviceMap.self).list()
                break
            } catch {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let node = try await client.resource(Node.self).create(Node(metadata: ObjectMeta(name: nodeName, labels: labels)))
        nodeUID = node.metadata.uid ?? ""
    }

    /// A client for the agent (its own connections, like a separate process).
    func agentClient() throws -> KubernetesClient {
        var config = try KubeConfigLoader.load(explicitPath: server.kubeconfigPath)
        config.maxRetries = 1
        config.connectTimeout = 2
        config.requestTimeout = 5
        return try KubernetesClient(configuration: config)
    }

    /// Stops the server (the snapshot is written when persistent).
    func stop() { server.stop() }

    /// Starts the server again on the same port with the same certificates and data.
    func restart() throws {
        var options = LabServerOptions()
        options.certDir = certDir
        options.dataPath = dataPath
        options.port = server.port
        options.logger = Logger(label: "test.lab", factory: { _ in SwiftLogNoOpLogHandler() })
        server = try LabServer.start(options)
    }

    var maps: ResourceClient<NetworkDeviceMap> { client.resource(NetworkDeviceMap.self) }
    var nodeDevices: ResourceClient<NodeDevice> { client.resource(NodeDevice.self) }

    func cleanup() {
        server.stop()
        removeTestFiles(certDir)
    }
}

/// A running in-process agent.
final class AgentFixture: @unchecked Sendable {
    let agent: NodeAgent
    let task: Task<Void, any Error>
    let mappingPath: String

    init(lab: LabFixture, netns: TestNetns, mappingPath: String, lldp: LLDPOptionsWrapper = .off) throws {
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
