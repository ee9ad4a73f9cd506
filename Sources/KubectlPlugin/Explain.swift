import AutomagicAPI
import KubeCore
import Resolver

/// `kubectl automagic explain NETWORK [--node NODE]`: the shared resolver's account of one network on
/// each node, computed locally from the live map, NodeDevices and Node labels (so it agrees with the agent).
public struct ExplainReport: Codable, Sendable, Hashable {
    /// The network (map name).
    public var network: String
    /// `spec.nodeSelector` in label-query syntax ("" selects every node).
    public var nodeSelector: String
    /// `spec.select` in force.
    public var select: String
    /// `spec.exclusive`.
    public var exclusive: Bool
    /// `spec.attachment`, when set: `macvlan/bridge mtu 9000`.
    public var attachment: String?
    /// Validation problems when the map is invalid (then nothing was resolved).
    public var invalid: [String]?
    /// One entry per node.
    public var nodes: [ExplainNode]
}

/// The explanation on one node.
public struct ExplainNode: Codable, Sendable, Hashable {
    /// The node.
    public var node: String
    /// Whether the node has a NodeDevice (without one nothing can be resolved).
    public var hasNodeDevice: Bool
    /// Whether a Node object exists (its labels feed the node selectors).
    public var nodeExists: Bool
    /// Whether `spec.nodeSelector` selects the node.
    public var selected: Bool
    /// `Resolved`, `Unresolved`, `NotSelected`, `Invalid`, or `NoNodeDevice`.
    public var outcome: String
    /// The chosen device.
    public var device: String?
    /// The rule that chose it (`name` or `rules[i]`).
    public var rule: String?
    /// The resolver's one-line summary.
    public var message: String
    /// Each rule of the map, in order.
    public var rules: [ExplainRule]
    /// Exclusive-device conflicts on this node.
    public var conflicts: [String]?
    /// Matching devices another network kept (device → that network), from the conflicts.
    public var heldBy: [String: String]?
    /// The LLDP neighbour of the chosen device.
    public var neighbour: LLDPNeighbor?
    /// What the agent reports for this network in its NodeDevice (nil: nothing reported).
    public var agent: NodeNetworkStatus?
    /// Whether the agent's device equals the resolver's (nil when there is nothing to compare).
    public var agentAgrees: Bool?
    /// Exclusive networks: the devices the device plugin offers here, one per pod (every device the
    /// map selects that no other network holds, in the resolver's order). Nil for shared networks.
    public var candidates: [String]? = nil
}

/// One rule on one node.
public struct ExplainRule: Codable, Sendable, Hashable {
    /// Position in `spec.rules`.
    public var index: Int
    /// `spec.rules[index].name`.
    public var name: String?
    /// False when an earlier rule decided (or evaluation stopped) before this one.
    public var evaluated: Bool
    /// False when the rule's own nodeSelector excludes the node.
    public var nodeSelected: Bool?
    /// The expressions, rendered (`driver In [ice]`).
    public var expressions: [String]
    /// Devices for which every expression holds, in preference order.
    public var matched: [String]
    /// Devices that failed, each with its failing expressions.
    public var rejected: [ExplainRejection]
}

/// A device that failed a rule.
public struct ExplainRejection: Codable, Sendable, Hashable {
    /// The device.
    public var device: String
    /// One line per failing expression: `driver In [ice]: device ens5f1 has i40e`.
    public var reasons: [String]
}

extension ExplainReport {
    /// Explains `network` on `node` (every known node when nil).
    public static func build(_ snapshot: ClusterSnapshot, network: String, node: String?) throws(PluginError) -> ExplainReport {
        guard let map = snapshot.map(network) else {
            throw .networkNotFound(network, available: snapshot.maps.map(\.network))
        }
        let nodeNames: [String]
        if let node {
            guard snapshot.nodeDevices[node] != nil else {
                throw .noNodeDevice(node, nodeExists: snapshot.nodes.map { $0[node] != nil } ?? false,
                                    known: NaturalOrder.sorted(snapshot.nodeDevices.keys))
            }
            nodeNames = [node]
        } else {
            nodeNames = snapshot.nodeNames
        }
        let spec = map.spec
        var report = ExplainReport(
            network: network, nodeSelector: spec.nodeSelector?.queryString ?? "", select: spec.effectiveSelect.rawValue,
            exclusive: spec.isExclusive, attachment: spec.attachment.map(describeAttachment), invalid: nil, nodes: [])
        let errors = Resolver.validate(map)
        if !errors.isEmpty { report.invalid = errors.map(\.description) }
        // All maps take part: exclusive conflicts depend on the others.
        let (compiled, _) = Resolver.compile(snapshot.maps)
        for name in nodeNames {
            let labels = snapshot.labels(of: name)
            let selected = spec.nodeSelector.map { $0.matches(labels) } ?? true
            let nd = snapshot.nodeDevices[name]
            let agent = nd?.status?.networks?.first { $0.network == network }
            var entry = ExplainNode(
                node: name, hasNodeDevice: nd != nil, nodeExists: snapshot.nodeExists(name), selected: selected,
                outcome: "NoNodeDevice", device: nil, rule: nil, message: "", rules: [], conflicts: nil, heldBy: nil, neighbour: nil,
                agent: agent, agentAgrees: nil)
            if report.invalid != nil {
                entry.outcome = NetworkResolution.Outcome.invalid.rawValue
                entry.message = "invalid spec: " + errors.map(\.description).joined(separator: "; ")
                report.nodes.append(entry)
                continue
            }
            guard let nd else {
                entry.message = selected
                    ? "node \(name) has no NodeDevice (is the agent running there?)"
                    : "node \(name) is not selected by spec.nodeSelector"
                if !selected { entry.outcome = NetworkResolution.Outcome.notSelected.rawValue }
                report.nodes.append(entry)
                continue
            }
            let devices = nd.status?.devices ?? []
            let resolution = Resolver.resolve(node: NodeInfo(name: name, labels: labels), devices: devices, compiled: compiled, detail: .full)
            guard let r = resolution[network] else { continue }
            entry.outcome = r.outcome.rawValue
            entry.device = r.device
            entry.rule = r.rule?.description
            entry.message = r.message
            entry.conflicts = r.conflicts.isEmpty ? nil : r.conflicts.map(\.message)
            var held: [String: String] = [:]
            for c in r.conflicts where c.winner != network { held[c.device] = c.winner }
            entry.heldBy = held.isEmpty ? nil : held
            if r.outcome != .notSelected {
                entry.rules = spec.rules.enumerated().map { i, rule in
                    let exprs = rule.devices.matchExpressions.map(describeExpression)
                    guard let t = r.trace.first(where: { $0.rule.index == i }) else {
                        return ExplainRule(index: i, name: rule.name, evaluated: false, nodeSelected: nil, expressions: exprs,
                                           matched: [], rejected: [])
                    }
                    return ExplainRule(index: i, name: rule.name, evaluated: true, nodeSelected: t.nodeSelected, expressions: exprs,
                                       matched: t.matched, rejected: t.rejected.map { ExplainRejection(device: $0.device, reasons: $0.reasons) })
                }
            }
            if spec.isExclusive && r.outcome != .notSelected { entry.candidates = r.availableDevices }
            if let d = r.device { entry.neighbour = devices.first { $0.name == d }?.lldp }
            if r.outcome != .notSelected || agent != nil {
                entry.agentAgrees = agent.map { $0.device == r.device }
            }
            report.nodes.append(entry)
        }
        return report
    }
}

func describeAttachment(_ a: AttachmentSpec) -> String {
    var text = a.type.rawValue
    if let mode = a.mode { text += "/\(mode)" }
    if let mtu = a.mtu { text += " mtu \(mtu)" }
    return text
}

func describeExpression(_ e: DeviceMatchExpression) -> String {
    switch e.operator {
    case .exists, .doesNotExist: return "\(e.key) \(e.operator)"
    case .gt, .lt: return "\(e.key) \(e.operator) \((e.values ?? []).joined(separator: ", "))"
    default: return "\(e.key) \(e.operator) [\((e.values ?? []).joined(separator: ", "))]"
    }
}

/// `tor-r1-a port Ethernet1/5`, with the chassis, description and management address when known.
func describeNeighbour(_ n: LLDPNeighbor) -> String {
    var text = n.systemName ?? n.chassisID ?? "unnamed neighbour"
    if let port = n.portID { text += " port \(port)" }
    var extra: [String] = []
    if n.systemName != nil, let chassis = n.chassisID { extra.append("chassis \(chassis)") }
    if let d = n.portDescription, !d.isEmpty { extra.append("\"\(d)\"") }
    if let m = n.managementAddress { extra.append("mgmt \(m)") }
    if let heard = n.lastHeard { extra.append("heard \(heard)") }
    if !extra.isEmpty { text += " (" + extra.joined(separator: ", ") + ")" }
    return text
}

/// `100 (provider), 200` — VLAN IDs with names when the neighbour sent as many names as IDs.
func describeVLANs(_ n: LLDPNeighbor) -> String? {
    let ids = n.vlanIDs ?? []
    let names = n.vlanNames ?? []
    if ids.isEmpty { return names.isEmpty ? nil : names.joined(separator: ", ") }
    if names.count == ids.count {
        return zip(ids, names).map { "\($0) (\($1))" }.joined(separator: ", ")
    }
    var text = ids.map(String.init).joined(separator: ", ")
    if !names.isEmpty { text += " (names: \(names.joined(separator: ", ")))" }
    return text
}

/// Renders an ``ExplainReport`` for people.
public struct ExplainRenderer: Sendable {
    /// Colour on or off.
    public var color: Bool

    /// A renderer.
    public init(color: Bool) { self.color = color }

    /// The explanation text.
    public func render(_ report: ExplainReport) -> String {
        var out = Style.bold.apply("Network \(report.network)", color: color) + "\n"
        out += "  nodeSelector: \(report.nodeSelector.isEmpty ? "<none> (every node)" : report.nodeSelector)\n"
        out += "  select: \(report.select)   exclusive: \(report.exclusive)"
        if let a = report.attachment { out += "   attachment: \(a)" }
        out += "\n"
        if let invalid = report.invalid {
            out += Style.red.apply("  invalid spec:", color: color) + "\n"
            for e in invalid { out += "    \(e)\n" }
            return out
        }
        if report.nodes.isEmpty { out += "\nNo nodes: no Node objects and no NodeDevices exist.\n" }
        for n in report.nodes {
            out += "\n" + render(n)
        }
        return out
    }

    func render(_ n: ExplainNode) -> String {
        let ok = Style.green.apply("✓", color: color), bad = Style.red.apply("✗", color: color)
        var out = Style.bold.apply("Node \(n.node)", color: color) + ": "
        switch n.outcome {
        case "Resolved":
            out += Style.green.apply(n.device ?? "", color: color) + " (rule \(n.rule ?? "?"))\n"
        case "NotSelected":
            out += Style.dim.apply("not selected", color: color) + "\n"
        case "NoNodeDevice":
            out += Style.yellow.apply("no NodeDevice", color: color) + "\n"
        default:
            out += Style.red.apply(n.outcome.lowercased(), color: color) + "\n"
        }
        out += "  \(n.message)\n"
        if !n.nodeExists { out += "  note: no Node object named \(n.node): node selectors were matched against no labels\n" }
        guard n.hasNodeDevice, n.outcome != "NotSelected" else {
            if let agent = n.agent {
                out += "  agent: still reports \(agent.device ?? "no device") for this network\n"
            }
            return out
        }
        out += "  map nodeSelector: \(n.selected ? "selects" : "does not select") \(n.node)\n"
        for rule in n.rules {
            let label = rule.name.map { "rules[\(rule.index)] (\($0))" } ?? "rules[\(rule.index)]"
            out += "  \(label): \(rule.expressions.joined(separator: ", "))\n"
            guard rule.evaluated else {
                out += "    not evaluated (an earlier rule decided)\n"
                continue
            }
            if rule.nodeSelected == false {
                out += "    skipped: the rule's nodeSelector does not select \(n.node)\n"
                continue
            }
            for d in rule.matched {
                var mark = d == n.device ? "  ← chosen" : ""
                if d != n.device, let holder = n.heldBy?[d] { mark = "  (held by \(holder))" }
                out += "    \(ok) \(d)\(mark)\n"
            }
            for r in rule.rejected {
                out += "    \(bad) \(r.device)\n"
                for reason in r.reasons { out += "        \(reason)\n" }
            }
            if rule.matched.isEmpty && rule.rejected.isEmpty { out += "    no devices\n" }
        }
        for c in n.conflicts ?? [] { out += "  " + Style.yellow.apply("conflict:", color: color) + " \(c)\n" }
        if let d = n.device {
            out += "  chosen: \(d)\n"
        }
        if let candidates = n.candidates {
            let list = candidates.isEmpty ? "none" : candidates.joined(separator: ", ")
            out += "  candidates: \(list) (exclusive: the device plugin gives each pod one of them)\n"
        }
        if let d = n.device {
            if let nb = n.neighbour {
                out += "  neighbour: \(describeNeighbour(nb))\n"
                out += "  VLANs: \(describeVLANs(nb) ?? "none advertised")\n"
            } else {
                out += "  neighbour: none heard (no LLDP on \(d))\n"
            }
        }
        if let agent = n.agent {
            let agrees = n.agentAgrees == true
            let text = "agent reports \(agent.device ?? "no device")" + (agrees ? " (agrees)" : " (differs: the agent has not caught up, or the maps or labels changed)")
            out += "  " + (agrees ? text : Style.yellow.apply(text, color: color)) + "\n"
        } else if n.outcome != "NotSelected" {
            out += "  " + Style.yellow.apply("agent has not reported this network yet", color: color) + "\n"
        }
        return out
    }
}
