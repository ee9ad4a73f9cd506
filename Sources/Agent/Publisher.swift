import AutomagicAPI
import KubeClient
import KubeCore
import KubeRuntime
import Synchronization

/// Writes one node's `NodeDevice` and nothing else: every write goes through
/// ``checkOwn(_:)``, which refuses an object named after any other node.
///
/// ```swift
/// let publisher = NodeDevicePublisher(nodeName: "worker-1", client: client.resource(NodeDevice.self))
/// let nd = try await publisher.ensureExists(owner: owner, current: nil)
/// _ = try await publisher.writeStatus(status, current: nd)
/// ```
public struct NodeDevicePublisher: Sendable {
    /// The only `NodeDevice` this publisher writes.
    public let nodeName: String
    /// The typed client.
    public let client: ResourceClient<NodeDevice>
    /// The field manager named in writes.
    public static let fieldManager = "automagic-agent"

    /// A publisher for node `nodeName`.
    public init(nodeName: String, client: ResourceClient<NodeDevice>) {
        self.nodeName = nodeName
        self.client = client
    }

    /// Throws ``AgentError/foreignObject(kind:name:node:)`` unless `object` is this node's.
    public func checkOwn(_ object: NodeDevice) throws(AgentError) {
        guard object.metadata.name == nodeName else {
            throw .foreignObject(kind: "NodeDevice", name: object.metadata.name ?? "", node: nodeName)
        }
    }

    /// Makes sure the `NodeDevice` exists and carries `owner` (the Node) as owner reference:
    /// creates it, or adds the reference to an existing one. Returns the stored object.
    public func ensureExists(owner: OwnerReference, current: NodeDevice?) async throws(AgentError) -> NodeDevice {
        if let current {
            try checkOwn(current)
            if current.metadata.ownerReferences?.contains(where: { $0.uid == owner.uid }) == true { return current }
            return try await addOwner(owner)
        }
        var object = NodeDevice(name: nodeName)
        object.metadata.ownerReferences = [owner]
        try checkOwn(object)
        do {
            return try await client.create(object, fieldManager: Self.fieldManager)
        } catch where error.isAlreadyExists {
            return try await addOwner(owner)
        } catch {
            throw .publish(node: nodeName, step: "create", cause: "\(error)")
        }
    }

    private func addOwner(_ owner: OwnerReference) async throws(AgentError) -> NodeDevice {
        let nodeName = self.nodeName
        do {
            return try await retryOnConflict(what: "NodeDevice '\(nodeName)'") {
                var object = try await client.get(nodeName)
                try checkOwn(object)
                var owners = object.metadata.ownerReferences ?? []
                if owners.contains(where: { $0.uid == owner.uid }) { return object }
                owners.removeAll { $0.kind == "Node" && $0.apiVersion == "v1" }
                owners.append(owner)
                object.metadata.ownerReferences = owners
                return try await client.update(object, fieldManager: Self.fieldManager)
            }
        } catch let error as AgentError {
            throw error
        } catch {
            throw .publish(node: nodeName, step: "set owner reference of", cause: "\(error)")
        }
    }

    /// Writes `status` through the status subresource unless the stored status already says
    /// the same (timestamps aside). Starts from `current`; on 409 Conflict re-reads and
    /// retries. Returns the stored object, or nil when nothing needed writing.
    public func writeStatus(_ status: NodeDeviceStatus, current: NodeDevice) async throws(AgentError) -> NodeDevice? {
        try checkOwn(current)
        let nodeName = self.nodeName
        let first = Mutex<NodeDevice?>(current)
        do {
            return try await retryOnConflict(what: "NodeDevice '\(nodeName)' status") { () async throws -> NodeDevice? in
                let cached = first.withLock { v -> NodeDevice? in defer { v = nil }; return v }
                var object: NodeDevice
                if let cached { object = cached } else { object = try await client.get(nodeName) }
                try checkOwn(object)
                guard Planning.needsPublish(desired: status, published: object.status) else { return nil }
                var fresh = status
                fresh.conditions = status.conditions.map { Planning.conditions($0, previous: object.status?.conditions) }
                object.status = fresh
                return try await client.updateStatus(object, fieldManager: Self.fieldManager)
            }
        } catch let error as AgentError {
            throw error
        } catch {
            throw .publish(node: nodeName, step: "update status of", cause: "\(error)")
        }
    }
}
