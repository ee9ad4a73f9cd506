import AutomagicAPI
import KubeClient
import KubeCore
import Resolver

/// A node's name and labels as the plugin sees it.
public struct NodeSummary: Sendable, Hashable {
    /// The Node's name.
    public var name: String
    /// The Node's labels (empty when the Node object is missing or unreadable).
    public var labels: [String: String]
}

/// What the commands read from the cluster. ``KubeCluster`` reads it over the API; tests may supply it directly.
public protocol ClusterReader: Sendable {
    /// Every NetworkDeviceMap.
    func maps() async throws(PluginError) -> [NetworkDeviceMap]
    /// Every NodeDevice.
    func nodeDevices() async throws(PluginError) -> [NodeDevice]
    /// Every Node (name and labels). Nil when the user may not list Nodes.
    func nodes() async throws(PluginError) -> [NodeSummary]?
}

/// One consistent-enough view of the cluster: maps, NodeDevices and Nodes, read concurrently.
public struct ClusterSnapshot: Sendable {
    /// Maps sorted by name.
    public var maps: [NetworkDeviceMap]
    /// NodeDevices by node name.
    public var nodeDevices: [String: NodeDevice]
    /// Nodes by name; nil when Nodes could not be listed (forbidden).
    public var nodes: [String: NodeSummary]?

    /// A snapshot from parts.
    public init(maps: [NetworkDeviceMap], nodeDevices: [NodeDevice], nodes: [NodeSummary]?) {
        self.maps = maps.sorted { $0.network < $1.network }
        var byName: [String: NodeDevice] = [:]
        for nd in nodeDevices { if let n = nd.metadata.name { byName[n] = nd } }
        self.nodeDevices = byName
        if let nodes {
            var map: [String: NodeSummary] = [:]
            for n in nodes { map[n.name] = n }
            self.nodes = map
        } else {
            self.nodes = nil
        }
    }

    /// Reads everything from `reader` concurrently.
    public static func read(_ reader: any ClusterReader) async throws(PluginError) -> ClusterSnapshot {
        async let maps = capture { () async throws(PluginError) in try await reader.maps() }
        async let devices = capture { () async throws(PluginError) in try await reader.nodeDevices() }
        async let nodes = capture { () async throws(PluginError) in try await reader.nodes() }
        let (m, d, n) = await (maps, devices, nodes)
        return ClusterSnapshot(maps: try m.get(), nodeDevices: try d.get(), nodes: try n.get())
    }

    /// Every node name known from Nodes or NodeDevices, sorted naturally (`worker-2` before `worker-10`).
    public var nodeNames: [String] {
        var names = Set(nodeDevices.keys)
        for n in nodes?.keys ?? [:].keys { names.insert(n) }
        return names.sorted(by: NaturalOrder.less)
    }

    /// The labels of `node` (empty when the Node is missing).
    public func labels(of node: String) -> [String: String] { nodes?[node]?.labels ?? [:] }

    /// Whether a Node object named `node` exists (true when Nodes could not be listed: unknown).
    public func nodeExists(_ node: String) -> Bool { nodes.map { $0[node] != nil } ?? true }

    /// The map named `name`.
    public func map(_ name: String) -> NetworkDeviceMap? { maps.first { $0.network == name } }
}

func capture<T: Sendable>(_ body: () async throws(PluginError) -> T) async -> Result<T, PluginError> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// Reads the cluster through ``KubernetesClient``.
public struct KubeCluster: ClusterReader {
    /// The client.
    public let client: KubernetesClient

    /// A reader using `client`.
    public init(client: KubernetesClient) { self.client = client }

    public func maps() async throws(PluginError) -> [NetworkDeviceMap] {
        do { return try await client.resource(NetworkDeviceMap.self).listAll().items } catch {
            throw .api(what: "list networkdevicemaps.automagic.dev", error)
        }
    }

    public func nodeDevices() async throws(PluginError) -> [NodeDevice] {
        do { return try await client.resource(NodeDevice.self).listAll().items } catch {
            throw .api(what: "list nodedevices.automagic.dev", error)
        }
    }

    public func nodes() async throws(PluginError) -> [NodeSummary]? {
        do {
            return try await client.resource(Node.self).listAll().items.compactMap { node in
                node.metadata.name.map { NodeSummary(name: $0, labels: node.metadata.labels ?? [:]) }
            }
        } catch let e where e.isForbidden {
            return nil
        } catch {
            throw .api(what: "list nodes", error)
        }
    }
}

