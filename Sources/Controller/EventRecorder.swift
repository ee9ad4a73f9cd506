import AutomagicAPI
import FoundationEssentials
import KubeClient
import KubeCore
import Logging

/// Records core/v1 Events about maps (cluster-scoped, so in the `default` namespace as client-go does).
/// Failures are logged, never fatal: Events are best effort.
struct EventRecorder: Sendable {
    let events: ResourceClient<Event>
    let namespace: String
    let component: String
    let instance: String
    let metrics: ControllerMetrics
    let logger: Logger

    func record(_ event: MapEvent, about map: NetworkDeviceMap) async {
        let now = Date()
        let name = "\(map.network).\(String(UInt64(now.timeIntervalSince1970 * 1_000_000_000), radix: 16))"
        var e = Event(
            metadata: ObjectMeta(name: name, namespace: namespace),
            involvedObject: ObjectReference(
                apiVersion: Automagic.apiVersion, kind: NetworkDeviceMap.kind, name: map.network, uid: map.metadata.uid,
                resourceVersion: map.metadata.resourceVersion),
            reason: event.reason, message: String(event.message.prefix(1024)), type: event.type)
        e.source = EventSource(component: component)
        e.firstTimestamp = KubeTime.format(now)
        e.lastTimestamp = e.firstTimestamp
        e.count = 1
        e.reportingComponent = component
        e.reportingInstance = instance
        do {
            _ = try await events.create(e)
            metrics.wrote("events", object: map.network)
            logger.info("event \(event.type) \(event.reason): \(event.message)", metadata: ["network": "\(map.network)"])
        } catch {
            metrics.errors.increment(labels: ["kind": "Event"])
            logger.warning("failed to create event '\(namespace)/\(name)': \(error)", metadata: ["network": "\(map.network)"])
        }
    }
}
