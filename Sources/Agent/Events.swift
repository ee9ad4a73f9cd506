import AutomagicAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeClient
import KubeCore
import Logging

/// Best-effort Kubernetes Events about this node's `NodeDevice` (core/v1, namespace
/// `default`, as for every cluster-scoped object). Only edges are recorded — a network whose
/// device changed, a map that became invalid, the mapping file failing — so an idle node
/// records nothing. A failed Event is logged and dropped, never retried.
struct EventRecorder: Sendable {
    /// Events about cluster-scoped objects go to this namespace.
    static let namespace = "default"
    let client: ResourceClient<Event>
    let nodeName: String
    let logger: Logger

    init(client: KubernetesClient, nodeName: String, logger: Logger) {
        self.client = client.resource(Event.self, namespace: Self.namespace)
        self.nodeName = nodeName
        self.logger = logger
    }

    /// An Event object for the node's NodeDevice (`uid` when known).
    static func event(node: String, uid: String?, type: String, reason: String, message: String, now: Date) -> Event {
        let suffix = String(UInt64(now.timeIntervalSince1970 * 1_000_000_000), radix: 16) + String(UInt16.random(in: 0...UInt16.max), radix: 16)
        var e = Event(
            metadata: ObjectMeta(name: "\(node).\(suffix)", namespace: namespace),
            involvedObject: ObjectReference(apiVersion: Automagic.apiVersion, kind: NodeDevice.kind, name: node, uid: uid),
            reason: reason, message: String(message.prefix(1024)), type: type)
        let stamp = KubeTime.format(now)
        e.firstTimestamp = stamp
        e.lastTimestamp = stamp
        e.count = 1
        e.source = EventSource(component: "automagic-agent", host: node)
        e.reportingComponent = "automagic-agent"
        e.reportingInstance = node
        return e
    }

    /// Records an Event in the background.
    func record(uid: String?, type: String, reason: String, message: String) {
        let event = Self.event(node: nodeName, uid: uid, type: type, reason: reason, message: message, now: Date())
        let client = self.client
        let logger = self.logger
        Task {
            do {
                _ = try await client.create(event)
            } catch {
                logger.debug("dropped Event", metadata: ["reason": .string(reason), "error": .string("\(error)")])
            }
        }
    }
}

/// What changed between two resolutions, as Events to record (pure).
enum EventPlan {
    struct Item: Equatable {
        var type: String
        var reason: String
        var message: String
    }

    /// `previous` nil (first resolution after start) reports only problems, not every network.
    static func items(previous: [NodeNetworkStatus]?, current: [NodeNetworkStatus], invalid: Set<String>,
                      previousInvalid: Set<String>, mappingError: String?, previousMappingError: String?) -> [Item] {
        var out: [Item] = []
        if let previous {
            var old: [String: NodeNetworkStatus] = [:]
            for n in previous { old[n.network] = n }
            for n in current where !invalid.contains(n.network) {
                let before = old[n.network]
                guard before?.device != n.device else { continue }
                if let device = n.device {
                    out.append(Item(type: "Normal", reason: "NetworkResolved",
                                    message: "network '\(n.network)' now uses device '\(device)': \(n.message ?? "")"))
                } else if before?.device != nil {
                    out.append(Item(type: "Warning", reason: "NetworkUnresolved",
                                    message: "network '\(n.network)' lost device '\(before?.device ?? "")': \(n.message ?? "")"))
                }
            }
        }
        for name in invalid.subtracting(previousInvalid).sorted() {
            let message = current.first { $0.network == name }?.message ?? ""
            out.append(Item(type: "Warning", reason: "InvalidMap", message: "skipped map '\(name)': \(message)"))
        }
        if let mappingError, mappingError != previousMappingError {
            out.append(Item(type: "Warning", reason: "MappingFileWriteFailed", message: mappingError))
        }
        return out
    }
}
