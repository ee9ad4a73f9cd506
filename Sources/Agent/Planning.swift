import AutomagicAPI
import KubeCore
import MappingFile
import Resolver

/// Pure decisions of the agent (no I/O): what the mapping file and the `NodeDevice` status
/// should say, and whether a write is needed.
public enum Planning {
    /// Condition type: the agent probed, resolved and wrote the mapping file.
    public static let readyCondition = "Ready"
    /// Condition type: some maps were rejected by the resolver and skipped on this node.
    public static let invalidMapsCondition = "InvalidMaps"

    /// The networks of the mapping file for a resolution: every map that selects the node;
    /// resolved ones name the device (with its MAC and PCI address), unresolved and invalid
    /// ones carry an empty device and the reason, so the plugin can say why. Exclusive networks
    /// also list their candidates: every device the map selects here that no other network holds
    /// (the resolver's `availableDevices`, in its order), with MAC, PCI address and NUMA node.
    public static func mappingNetworks(
        resolution: NodeResolution, maps: [String: NetworkDeviceMap], devices: [NetworkDevice]
    ) -> [String: NetworkMapping] {
        var byName: [String: NetworkDevice] = [:]
        for d in devices { byName[d.name] = d }
        var out: [String: NetworkMapping] = [:]
        for n in resolution.networks where n.outcome != .notSelected {
            let attachment = maps[n.network]?.spec.attachment.map {
                Attachment(type: $0.type.rawValue, mode: $0.mode, mtu: $0.mtu.map(Int64.init))
            }
            let exclusive = maps[n.network]?.spec.isExclusive ?? false
            // Allocated by the scheduler through DRA: the CNI plugin attaches the prepared device.
            let dra = maps[n.network]?.spec.isDRA ?? false
            // An exclusive network's pods each get one of these from the device plugin.
            let candidates: [DeviceCandidate] = exclusive ? n.availableDevices.map { name in
                let d = byName[name]
                return DeviceCandidate(name: name, mac: d?.mac, pciAddress: d?.pciAddress, numaNode: d?.numaNode)
            } : []
            if n.outcome == .resolved, let device = n.device {
                let d = byName[device]
                out[n.network] = NetworkMapping(
                    device: device, map: n.network, attachment: attachment, mac: d?.mac, pciAddress: d?.pciAddress,
                    exclusive: exclusive, candidates: candidates, dra: dra)
            } else {
                out[n.network] = NetworkMapping(
                    device: "", map: n.network, attachment: attachment, message: "\(n.outcome.rawValue): \(n.message)",
                    exclusive: exclusive, candidates: candidates, dra: dra)
            }
        }
        return out
    }

    /// The next mapping to write, or nil when `networks` (and the node) equal the current file's and
    /// it is in the format they need (a file an older agent wrote is rewritten once): the generation
    /// increases by one on every content change and `updatedAt` is refreshed.
    public static func nextMapping(
        current: NodeNetworkMapping?, node: String, networks: [String: NetworkMapping], now: String
    ) -> NodeNetworkMapping? {
        if let current, current.node == node, current.networks == networks,
           current.formatVersion == NodeNetworkMapping.requiredFormatVersion(for: networks) { return nil }
        return NodeNetworkMapping(node: node, generation: (current?.generation ?? 0) + 1, updatedAt: now, networks: networks)
    }

    /// The status with everything that changes without meaning stripped: `probedAt`, the
    /// neighbours' `lastHeard` and the conditions' transition times. Two statuses with equal
    /// keys need no write.
    public static func comparisonKey(_ status: NodeDeviceStatus?) -> NodeDeviceStatus? {
        guard var s = status else { return nil }
        s.probedAt = nil
        s.devices = s.devices?.map { d in
            var d = d
            d.lldp?.lastHeard = nil
            return d
        }
        s.conditions = s.conditions?.map { c in
            var c = c
            c.lastTransitionTime = ""
            return c
        }.sorted { $0.type < $1.type }
        return s
    }

    /// Whether `desired` differs from `published` in anything but timestamps.
    public static func needsPublish(desired: NodeDeviceStatus, published: NodeDeviceStatus?) -> Bool {
        comparisonKey(desired) != comparisonKey(published)
    }

    /// Conditions with the transition time kept from `previous` when the status did not change.
    public static func conditions(
        _ fresh: [Condition], previous: [Condition]?
    ) -> [Condition] {
        fresh.map { c in
            var c = c
            if let old = previous?.first(where: { $0.type == c.type }), old.status == c.status {
                c.lastTransitionTime = old.lastTransitionTime
            }
            return c
        }
    }

    /// The agent's conditions for a resolution.
    public static func agentConditions(
        resolution: NodeResolution, mappingError: String?, now: String
    ) -> [Condition] {
        let invalid = resolution.networks.filter { $0.outcome == .invalid }
        var out: [Condition] = []
        if let mappingError {
            out.append(Condition(type: readyCondition, status: "False", lastTransitionTime: now,
                                 reason: "MappingFileWriteFailed", message: mappingError))
        } else {
            let resolved = resolution.networks.filter { $0.outcome == .resolved }.count
            let selected = resolution.networks.filter { $0.outcome != .notSelected }.count
            out.append(Condition(type: readyCondition, status: "True", lastTransitionTime: now,
                                 reason: "MappingFileWritten",
                                 message: "\(resolved) of \(selected) networks that select this node resolved"))
        }
        if invalid.isEmpty {
            out.append(Condition(type: invalidMapsCondition, status: "False", lastTransitionTime: now,
                                 reason: "AllMapsValid", message: "every map is usable"))
        } else {
            let text = invalid.map { "\($0.network): \($0.message)" }.joined(separator: "; ")
            out.append(Condition(type: invalidMapsCondition, status: "True", lastTransitionTime: now,
                                 reason: "MapsSkipped", message: "skipped \(invalid.count) invalid map(s): \(text)"))
        }
        return out
    }

    /// Everything one resolution of the node decides before anything is written: the maps decoded
    /// (one that cannot be decoded is an invalid network of its own), resolved against the node and
    /// its devices, the mapping file's networks and the next file (nil when its content is unchanged),
    /// the per-network statuses and each network's outcome.
    static func resolvePlan(
        node: String, labels: [String: String], devices: [NetworkDevice], maps: [DynamicObject],
        current: NodeNetworkMapping?, now: String
    ) -> ResolvePlan {
        var decoded: [NetworkDeviceMap] = []
        var undecodable: [NodeNetworkStatus] = []
        for object in maps {
            do {
                decoded.append(try object.json.decode(NetworkDeviceMap.self))
            } catch {
                let name = object.json[path: ["metadata", "name"]]?.stringValue ?? "?"
                undecodable.append(NodeNetworkStatus(network: name, message: "invalid spec: cannot decode the map: \(error)"))
            }
        }
        let resolution = Resolver.resolve(node: NodeInfo(name: node, labels: labels), devices: devices, maps: decoded, detail: .summary)
        var byName: [String: NetworkDeviceMap] = [:]
        for m in decoded { byName[m.network] = m }
        var networks = mappingNetworks(resolution: resolution, maps: byName, devices: devices)
        for u in undecodable {
            networks[u.network] = NetworkMapping(device: "", map: u.network, message: "Invalid: \(u.message ?? "")")
        }
        var results: [String: String] = [:]
        for n in resolution.networks { results[n.network] = n.outcome.rawValue }
        for u in undecodable { results[u.network] = NetworkResolution.Outcome.invalid.rawValue }
        return ResolvePlan(
            resolution: resolution, networks: networks,
            next: nextMapping(current: current, node: node, networks: networks, now: now),
            statuses: (resolution.networkStatuses + undecodable).sorted { $0.network < $1.network },
            results: results)
    }
}

/// One resolution's decisions (``Planning/resolvePlan(node:labels:devices:maps:current:now:)``), applied
/// by the agent with one file write and one state update.
struct ResolvePlan: Equatable {
    var resolution: NodeResolution
    /// The mapping file's networks.
    var networks: [String: NetworkMapping]
    /// The file to write; nil when the current one says the same.
    var next: NodeNetworkMapping?
    /// The `NodeDevice` status's networks, sorted by name.
    var statuses: [NodeNetworkStatus]
    /// Each network's outcome (`Resolved`, `Unresolved`, `Invalid`, `NotSelected`): the resolution metric's label.
    var results: [String: String]

    /// The networks whose map is invalid (or cannot be decoded).
    var invalid: Set<String> {
        Set(results.filter { $0.value == NetworkResolution.Outcome.invalid.rawValue }.keys)
    }
}
