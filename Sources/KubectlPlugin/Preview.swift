import AutomagicAPI
import KubeCore
import Resolver

/// `kubectl automagic preview -f MAP.yaml`: what a map would resolve to on every node before it is
/// applied, from the live NodeDevices, Node labels and the other maps (exclusive conflicts included).
public struct PreviewReport: Codable, Sendable, Hashable {
    /// One entry per map in the file.
    public var maps: [PreviewMap]
}

/// The preview of one map.
public struct PreviewMap: Codable, Sendable, Hashable {
    /// The network (map name).
    public var network: String
    /// Whether a map of that name exists (the preview then shows the change from it).
    public var replacesExisting: Bool
    /// One entry per node.
    public var nodes: [PreviewNode]
    /// Other networks whose device would change on some node because of this map.
    public var affected: [PreviewChange]
    /// Counts over selected nodes with a NodeDevice.
    public var resolved: Int
    /// Selected nodes with a NodeDevice where nothing would resolve.
    public var unresolved: Int
    /// Selected nodes without a NodeDevice (nothing can be said there).
    public var withoutNodeDevice: Int
    /// Nodes `spec.nodeSelector` selects.
    public var selected: Int = 0
    /// Why this map would place no pod anywhere (it selects no node, or resolves on none); nil otherwise.
    public var warning: String?
}

/// The would-be result on one node.
public struct PreviewNode: Codable, Sendable, Hashable {
    /// The node.
    public var node: String
    /// `Resolved`, `Unresolved`, `NotSelected` or `NoNodeDevice`.
    public var outcome: String
    /// The device it would get.
    public var device: String?
    /// The rule that would choose it.
    public var rule: String?
    /// The resolver's one-line account.
    public var message: String
    /// Exclusive-device conflicts with existing maps on this node.
    public var conflicts: [String]?
    /// When replacing an existing map: the device it resolves to now ("" for none); nil when unchanged or new.
    public var currentDevice: String?
}

/// A change to another network caused by the previewed map.
public struct PreviewChange: Codable, Sendable, Hashable {
    /// The node.
    public var node: String
    /// The other network.
    public var network: String
    /// Its device now ("" for none).
    public var before: String
    /// Its device with the previewed map applied ("" for none).
    public var after: String
}

extension PreviewReport {
    /// Validates every map (throwing the resolver's errors with field paths) and previews each against the cluster.
    public static func build(_ snapshot: ClusterSnapshot, maps: [NetworkDeviceMap], path: String) throws(PluginError) -> PreviewReport {
        for map in maps {
            let errors = Resolver.validate(map)
            if !errors.isEmpty { throw .invalidMap(name: map.network, path: path, errors: errors) }
        }
        var seen = Set<String>()
        for map in maps where !seen.insert(map.network).inserted {
            throw .usage("map file '\(path)' defines NetworkDeviceMap '\(map.network)' twice")
        }
        // The cluster as it would be: the file's maps replace same-named ones (keeping their creation
        // time, which sets conflict priority, as an update would); new maps are the newest.
        var after = snapshot.maps.filter { existing in !maps.contains { $0.network == existing.network } }
        for var map in maps {
            if let existing = snapshot.map(map.network) {
                map.metadata.creationTimestamp = existing.metadata.creationTimestamp
            } else {
                map.metadata.creationTimestamp = nil
            }
            after.append(map)
        }
        let before = Resolver.compile(snapshot.maps).compiled
        let afterCompiled = Resolver.compile(after).compiled
        var previews = maps.map { map in
            PreviewMap(network: map.network, replacesExisting: snapshot.map(map.network) != nil, nodes: [], affected: [],
                       resolved: 0, unresolved: 0, withoutNodeDevice: 0)
        }
        for name in snapshot.nodeNames {
            let labels = snapshot.labels(of: name)
            let info = NodeInfo(name: name, labels: labels)
            let nd = snapshot.nodeDevices[name]
            let devices = nd?.status?.devices ?? []
            let now = nd.map { _ in Resolver.resolve(node: info, devices: devices, compiled: before, detail: .summary) }
            let next = nd.map { _ in Resolver.resolve(node: info, devices: devices, compiled: afterCompiled, detail: .summary) }
            for (i, map) in maps.enumerated() {
                let selected = map.spec.nodeSelector.map { $0.matches(labels) } ?? true
                if selected { previews[i].selected += 1 }
                guard let next, let r = next[map.network] else {
                    previews[i].nodes.append(PreviewNode(
                        node: name, outcome: selected ? "NoNodeDevice" : "NotSelected", device: nil, rule: nil,
                        message: selected ? "node \(name) has no NodeDevice (is the agent running there?)" : "node \(name) is not selected by spec.nodeSelector",
                        conflicts: nil, currentDevice: nil))
                    if selected { previews[i].withoutNodeDevice += 1 }
                    continue
                }
                var entry = PreviewNode(node: name, outcome: r.outcome.rawValue, device: r.device, rule: r.rule?.description,
                                        message: r.message, conflicts: r.conflicts.isEmpty ? nil : r.conflicts.map(\.message),
                                        currentDevice: nil)
                if previews[i].replacesExisting, let current = now?[map.network], current.device != r.device {
                    entry.currentDevice = current.device ?? ""
                }
                switch r.outcome {
                case .resolved: previews[i].resolved += 1
                case .unresolved: previews[i].unresolved += 1
                default: break
                }
                previews[i].nodes.append(entry)
            }
            // Other networks that would change here.
            if let now, let next {
                for other in next.networks where !maps.contains(where: { $0.network == other.network }) {
                    let was = now[other.network]?.device ?? ""
                    let will = other.device ?? ""
                    guard was != will else { continue }
                    // Attribute the change to the file's maps (all of them, when several).
                    for i in previews.indices {
                        previews[i].affected.append(PreviewChange(node: name, network: other.network, before: was, after: will))
                    }
                }
            }
        }
        for i in previews.indices where previews[i].resolved == 0 {
            previews[i].warning = previews[i].selected == 0
                ? "spec.nodeSelector selects none of the \(snapshot.nodeNames.count) node\(snapshot.nodeNames.count == 1 ? "" : "s"): no pod could get this network"
                : "it would resolve on none of the \(previews[i].selected) selected node\(previews[i].selected == 1 ? "" : "s"): no pod could get this network"
        }
        return PreviewReport(maps: previews)
    }
}

/// Renders a ``PreviewReport`` for people.
public struct PreviewRenderer: Sendable {
    /// Colour on or off.
    public var color: Bool

    /// A renderer.
    public init(color: Bool) { self.color = color }

    /// Per map: a summary line, a NODE/DEVICE/RULE/DETAIL table, conflicts and effects on other networks.
    public func render(_ report: PreviewReport) -> String {
        var out = ""
        for (k, m) in report.maps.enumerated() {
            if k > 0 { out += "\n" }
            let verb = m.replacesExisting ? "replacing the existing map" : "new map"
            var summary = "NetworkDeviceMap \(m.network) (\(verb)): valid; would resolve on \(m.resolved) node\(m.resolved == 1 ? "" : "s")"
            if m.unresolved > 0 { summary += ", unresolved on \(m.unresolved)" }
            if m.withoutNodeDevice > 0 { summary += ", \(m.withoutNodeDevice) selected node\(m.withoutNodeDevice == 1 ? " has" : "s have") no NodeDevice" }
            out += Style.bold.apply(summary, color: color) + "\n"
            if let w = m.warning { out += Style.yellow.apply("warning: " + w, color: color) + "\n" }
            var headers = ["NODE", "DEVICE", "RULE"]
            if m.replacesExisting { headers.append("NOW") }
            headers.append("DETAIL")
            var table = Table(headers: headers)
            var notes: [String] = []
            for n in m.nodes {
                let device: Styled
                switch n.outcome {
                case "Resolved": device = Styled((n.device ?? "") + ((n.conflicts ?? []).isEmpty ? "" : "!"), (n.conflicts ?? []).isEmpty ? .green : .yellow)
                case "NotSelected": device = Styled("-", .dim)
                case "NoNodeDevice": device = Styled("?", .yellow)
                default: device = Styled(color ? "✗" : "none", .red)
                }
                var row = [Styled(n.node), device, Styled(n.rule ?? "-")]
                if m.replacesExisting {
                    row.append(n.currentDevice.map { Styled($0.isEmpty ? "none" : $0, .yellow) } ?? Styled("same", .dim))
                }
                row.append(Styled(n.outcome == "Resolved" ? "" : n.message))
                table.rows.append(row)
                for c in n.conflicts ?? [] { notes.append("\(n.node): conflict: \(c)") }
            }
            out += table.render(color: color)
            for a in m.affected {
                notes.append("\(a.node): network \(a.network) would change from \(a.before.isEmpty ? "no device" : a.before) to \(a.after.isEmpty ? "no device" : a.after)")
            }
            if !notes.isEmpty {
                out += "\nNotes:\n"
                for n in notes { out += "  " + Style.yellow.apply(n, color: color) + "\n" }
            }
        }
        return out
    }
}
