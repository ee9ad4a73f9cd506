import AutomagicAPI
import DRA
import JSON
import KubeClient
import KubeCore

/// What became of a `dra` map's DeviceClass, for its `DeviceClass` condition.
struct DeviceClassReport: Sendable, Hashable {
    /// Whether the class is rendered.
    var rendered: Bool
    var reason: String
    var message: String
}

/// The `resource.k8s.io/v1` DeviceClass resource.
let deviceClassResource = ResourceType(
    group: "resource.k8s.io", version: "v1", resource: "deviceclasses", kind: "DeviceClass", namespaced: false)

extension AutomagicController {
    /// Whether the server serves `resource.k8s.io/v1` DeviceClasses (Kubernetes 1.34+): a one-item
    /// list, repeated at most every ``ControllerOptions/nadRetryPeriod`` while the answer is no.
    func deviceClassesServed() async -> Bool {
        let now = ContinuousClock.now
        if let probe = state.withLock({ $0.deviceClassProbe }), probe.served || now - probe.at < options.nadRetryPeriod {
            return probe.served
        }
        var served = false
        do {
            let list = try await deviceClassClient.list(ListOptions(labelSelector: DeviceClassCompiler.managedSelector))
            served = true
            // Classes rendered before a restart: remembered, so that a map that stops being `dra`
            // (or goes) has its class deleted.
            let names = list.items.compactMap(\.metadata.name)
            state.withLock { s in for n in names { s.renderedClasses.insert(n) } }
        } catch where error.httpCode == 404 {
            served = false
        } catch {
            logger.debug("failed to probe resource.k8s.io/v1 DeviceClasses: \(error)")
            return state.withLock { $0.deviceClassProbe?.served ?? false }
        }
        if !served { logger.debug("resource.k8s.io/v1 DeviceClasses are not served; dra networks get no DeviceClass") }
        state.withLock { $0.deviceClassProbe = (served, now) }
        return served
    }

    /// Renders, updates or deletes the DeviceClass of `network` (`map` nil: the map is gone).
    /// Returns the report for a `dra` map, nil otherwise.
    func syncDeviceClass(network: String, map: NetworkDeviceMap?) async -> DeviceClassReport? {
        let name = DRADriver.deviceClassName(network: network)
        guard let map, map.spec.isDRA else {
            if state.withLock({ $0.renderedClasses.contains(name) }) { await deleteDeviceClass(name, network: network) }
            return nil
        }
        guard await deviceClassesServed() else {
            return DeviceClassReport(rendered: false, reason: "DRAUnavailable", message:
                "the API server does not serve resource.k8s.io/v1 DeviceClasses (Dynamic Resource Allocation, Kubernetes 1.34+): no DeviceClass is rendered and no pod can claim \(network)")
        }
        let inputs = index.draInputs(network)
        let compiled = DeviceClassCompiler.compile(map, nodes: inputs.nodes, held: inputs.held)
        guard let wanted = compiled.deviceClass(owner: NADRenderer.ownerReference(map)) else {
            if state.withLock({ $0.renderedClasses.contains(name) }) { await deleteDeviceClass(name, network: network) }
            return DeviceClassReport(rendered: false, reason: "NotExpressible",
                                     message: "no DeviceClass \(name): " + ([compiled.refusal ?? ""] + compiled.notes).joined(separator: "; "))
        }
        let rendered = DeviceClassReport(rendered: true, reason: "Rendered", message:
            "DeviceClass \(name) selects the devices the rules match on each node" +
            (compiled.notes.isEmpty ? "" : "; not expressed: " + compiled.notes.joined(separator: "; ")))
        do {
            if let existing = try await deviceClassClient.getIfExists(name) {
                guard existing.metadata.labels?[DeviceClassCompiler.networkLabel] == network else {
                    return DeviceClassReport(rendered: false, reason: "DeviceClassConflict",
                                             message: "DeviceClass \(name) exists and is not managed by automagic; left alone")
                }
                state.withLock { _ = $0.renderedClasses.insert(name) }
                if existing.json["spec"] == wanted["spec"], existing.json["metadata"]?["ownerReferences"] == wanted["metadata"]?["ownerReferences"] {
                    return rendered
                }
                var object = wanted
                object["metadata"]?["resourceVersion"] = existing.json["metadata"]?["resourceVersion"]
                _ = try await deviceClassClient.update(DynamicObject(object))
                logger.info("updated DeviceClass", metadata: ["network": "\(network)", "deviceclass": "\(name)"])
            } else {
                _ = try await deviceClassClient.create(DynamicObject(wanted))
                state.withLock { _ = $0.renderedClasses.insert(name) }
                logger.info("created DeviceClass", metadata: ["network": "\(network)", "deviceclass": "\(name)"])
            }
            metrics.wrote("deviceclasses", object: name)
            return rendered
        } catch {
            metrics.errors.increment(labels: ["kind": "DeviceClass"])
            return DeviceClassReport(rendered: false, reason: "WriteFailed", message: "failed to write DeviceClass \(name): \(error)")
        }
    }

    /// Deletes a DeviceClass this controller rendered (only one carrying its network label).
    func deleteDeviceClass(_ name: String, network: String) async {
        do {
            if let existing = try await deviceClassClient.getIfExists(name),
                existing.metadata.labels?[DeviceClassCompiler.networkLabel] == network
            {
                try await deviceClassClient.delete(name, options: DeleteOptions(preconditionUID: existing.metadata.uid))
                metrics.wrote("deviceclasses", object: name)
                logger.info("deleted DeviceClass", metadata: ["network": "\(network)", "deviceclass": "\(name)"])
            }
            state.withLock { _ = $0.renderedClasses.remove(name) }
        } catch where error.isNotFound || error.isConflict {
            state.withLock { _ = $0.renderedClasses.remove(name) }
        } catch {
            metrics.errors.increment(labels: ["kind": "DeviceClass"])
            logger.warning("failed to delete DeviceClass \(name): \(error)", metadata: ["network": "\(network)"])
        }
    }
}
