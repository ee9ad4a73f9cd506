import AutomagicAPI
import KubeCore
import Resolver

/// `kubectl automagic status`: every network on every node, from what the agents report in their
/// NodeDevices, checked against the shared resolver run locally on the same data.
public struct StatusReport: Codable, Sendable, Hashable {
    /// Every node known from Node objects or NodeDevices, in natural name order.
    public var nodes: [StatusNode]
    /// Every NetworkDeviceMap, by name.
    public var networks: [StatusNetwork]
}

/// A node column (or row) of the status matrix.
public struct StatusNode: Codable, Sendable, Hashable {
    /// The node's name.
    public var name: String
    /// Whether its agent published a NodeDevice.
    public var hasNodeDevice: Bool
    /// Whether a Node object of that name exists.
    public var nodeExists: Bool
    /// When the agent last probed the devices.
    public var probedAt: String?
    /// The agent's version.
    public var agentVersion: String?
}

/// One network (a map) with its per-node cells and the controller's view.
public struct StatusNetwork: Codable, Sendable, Hashable {
    /// The network (the map's name).
    public var name: String
    /// `spec.exclusive`.
    public var exclusive: Bool
    /// The map's validation problems (the resolver's), when it is invalid.
    public var invalid: [String]?
    /// `status.conditions` as the controller wrote them.
    public var conditions: [Condition]
    /// `status.nodes` as the controller wrote it.
    public var counts: NodeCounts?
    /// Whether the controller's status is for the current generation (nil: no status).
    public var statusCurrent: Bool?
    /// One cell per node, in the order of ``StatusReport/nodes``.
    public var cells: [StatusCell]
    /// Set when the devices the network resolved to are evidently on different networks: their LLDP
    /// neighbours advertise different VLANs (`worker-1 ens6f0 [100]; worker-3 eno3 [200]`).
    public var vlanMismatch: String?
}

/// What one network is on one node.
public struct StatusCell: Codable, Sendable, Hashable {
    /// The kind of cell.
    public enum State: String, Codable, Sendable, Hashable {
        /// The agent reports a device.
        case resolved = "Resolved"
        /// The agent reports the network unresolved.
        case unresolved = "Unresolved"
        /// The map does not select the node.
        case notSelected = "NotSelected"
        /// The map selects the node but the node has no NodeDevice (no agent).
        case noNodeDevice = "NoNodeDevice"
        /// The map selects the node but its agent has not reported the network yet.
        case notReported = "NotReported"
        /// The map is invalid.
        case invalid = "Invalid"
    }

    /// The node.
    public var node: String
    /// The kind of cell.
    public var state: State
    /// The device the agent reports.
    public var device: String?
    /// The rule the agent reports.
    public var rule: String?
    /// The agent's (or, without one, the resolver's) one-line account.
    public var message: String?
    /// What the resolver gives from the current maps and devices, when it differs from the agent's report
    /// ("" for no device). Set for `notReported` cells too.
    public var resolverDevice: String?
    /// Exclusive-device conflicts on this node (the resolver's and the controller's).
    public var conflicts: [String]?
    /// Exclusive networks: the devices the device plugin offers on this node, one per pod (from
    /// the current maps and devices). Nil for shared networks.
    public var candidates: [String]? = nil
}

extension StatusReport {
    /// Builds the report from a snapshot: agent reports first, the local resolution to check them.
    public static func build(_ snapshot: ClusterSnapshot) -> StatusReport {
        let nodeNames = snapshot.nodeNames
        var nodes: [StatusNode] = []
        var resolutions: [String: NodeResolution] = [:]
        let (compiled, invalid) = Resolver.compile(snapshot.maps)
        let invalidByName = Dictionary(invalid.map { ($0.network, $0) }, uniquingKeysWith: { a, _ in a })
        for name in nodeNames {
            let nd = snapshot.nodeDevices[name]
            nodes.append(StatusNode(name: name, hasNodeDevice: nd != nil, nodeExists: snapshot.nodeExists(name),
                                    probedAt: nd?.status?.probedAt, agentVersion: nd?.status?.agentVersion))
            if let nd {
                resolutions[name] = Resolver.resolve(node: NodeInfo(name: name, labels: snapshot.labels(of: name)),
                                                     devices: nd.status?.devices ?? [], compiled: compiled, detail: .summary)
            }
        }
        var networks: [StatusNetwork] = []
        for map in snapshot.maps {
            let network = map.network
            var cells: [StatusCell] = []
            for name in nodeNames {
                var cell = StatusCell(node: name, state: .notSelected)
                let selected = map.spec.nodeSelector.map { $0.matches(snapshot.labels(of: name)) } ?? true
                var conflicts: [String] = []
                for c in map.status?.conflicts ?? [] where c.node == name { conflicts.append(c.message) }
                if let bad = invalidByName[network] {
                    cell.state = .invalid
                    cell.message = bad.message
                } else if let nd = snapshot.nodeDevices[name] {
                    let local = resolutions[name]?[network]
                    if map.spec.isExclusive, let local, local.outcome != .notSelected { cell.candidates = local.availableDevices }
                    for c in local?.conflicts ?? [] where !conflicts.contains(c.message) { conflicts.append(c.message) }
                    if let reported = nd.status?.networks?.first(where: { $0.network == network }) {
                        cell.state = reported.device == nil ? .unresolved : .resolved
                        cell.device = reported.device
                        cell.rule = reported.rule
                        cell.message = reported.message
                        if let local, local.outcome != .notSelected, local.device != reported.device {
                            cell.resolverDevice = local.device ?? ""
                        } else if let local, local.outcome == .notSelected {
                            // The agent still reports a network its node is no longer selected for.
                            cell.resolverDevice = ""
                        }
                    } else if selected {
                        cell.state = .notReported
                        cell.resolverDevice = local?.device ?? ""
                        cell.message = local?.message
                    }
                } else if selected {
                    cell.state = .noNodeDevice
                    cell.message = "node \(name) has no NodeDevice (is the agent running there?)"
                }
                cell.conflicts = conflicts.isEmpty ? nil : conflicts
                cells.append(cell)
            }
            let current: Bool? = map.status.map { s in
                guard let g = map.metadata.generation else { return true }
                return s.observedGeneration == g
            }
            networks.append(StatusNetwork(
                name: network, exclusive: map.spec.isExclusive,
                invalid: invalidByName[network].map { $0.validationErrors.map(\.description) },
                conditions: map.status?.conditions ?? [], counts: map.status?.nodes, statusCurrent: current, cells: cells,
                vlanMismatch: vlanMismatch(cells, snapshot)))
        }
        return StatusReport(nodes: nodes, networks: networks)
    }
}

/// `worker-1 ens6f0 [100]; worker-3 eno3 [200]` when resolved devices advertise different LLDP VLAN sets.
func vlanMismatch(_ cells: [StatusCell], _ snapshot: ClusterSnapshot) -> String? {
    var seen: [(String, [Int])] = []
    for cell in cells where cell.state == .resolved {
        guard let device = cell.device,
              let d = snapshot.nodeDevices[cell.node]?.status?.devices?.first(where: { $0.name == device }),
              let vlans = d.lldp?.vlanIDs, !vlans.isEmpty else { continue }
        seen.append(("\(cell.node) \(device) [\(vlans.map(String.init).joined(separator: ","))]", vlans.sorted()))
    }
    guard Set(seen.map(\.1)).count > 1 else { return nil }
    return seen.map(\.0).joined(separator: "; ")
}

/// Which way round the status matrix is drawn.
public enum MatrixRows: String, Sendable, CaseIterable {
    /// Networks as rows while there are at most ``StatusRenderer/maxNodeColumns`` nodes, else nodes as rows.
    case auto
    /// One row per network, one column per node.
    case networks
    /// One row per node, one column per network.
    case nodes
}

/// Renders a ``StatusReport`` as a table with notes and a conditions footer.
public struct StatusRenderer: Sendable {
    /// Most nodes drawn as columns under `--rows auto`.
    public static let maxNodeColumns = 6
    /// Colour on or off.
    public var color: Bool
    /// Orientation.
    public var rows: MatrixRows

    /// A renderer.
    public init(color: Bool, rows: MatrixRows = .auto) {
        self.color = color
        self.rows = rows
    }

    /// The cell's text and style, and its note (if any).
    func render(_ cell: StatusCell, network: String) -> (Styled, [String]) {
        var notes: [String] = []
        var styled: Styled
        switch cell.state {
        case .resolved:
            styled = Styled(cell.device ?? "?", .green)
        case .unresolved:
            styled = Styled(color ? "✗" : "none", .red)
            notes.append("\(network) on \(cell.node): unresolved: \(cell.message ?? "no reason given")")
        case .notSelected:
            styled = Styled("-", .dim)
        case .noNodeDevice:
            styled = Styled("?", .yellow)
        case .notReported:
            styled = Styled("pending", .yellow)
            let now = cell.resolverDevice.flatMap { $0.isEmpty ? nil : $0 } ?? "no device"
            notes.append("\(network) on \(cell.node): the agent has not reported this network yet (the resolver gives \(now))")
        case .invalid:
            styled = Styled("invalid", .red)
        }
        if cell.state == .resolved || cell.state == .unresolved, let now = cell.resolverDevice {
            styled.text += "*"
            styled.style = .yellow
            let reported = cell.device ?? "no device"
            notes.append("\(network) on \(cell.node): the agent reports \(reported) but the resolver now gives \(now.isEmpty ? "no device" : now) (agent not caught up, or maps/labels changed)")
        }
        if let conflicts = cell.conflicts, !conflicts.isEmpty {
            styled.text += "!"
            if styled.style == .green { styled.style = .yellow }
            for c in conflicts { notes.append("\(network) on \(cell.node): conflict: \(c)") }
        }
        return (styled, notes)
    }

    /// The whole output: matrix, legend, notes, conditions footer.
    public func render(_ report: StatusReport) -> String {
        if report.networks.isEmpty {
            return "No NetworkDeviceMaps found. Create one (kubectl apply -f MAP.yaml); try it first with 'kubectl automagic preview -f MAP.yaml'.\n"
        }
        var notes: [String] = []
        var grid: [[Styled]] = []  // [network][node]
        for network in report.networks {
            var row: [Styled] = []
            for cell in network.cells {
                let (styled, cellNotes) = render(cell, network: network.name)
                row.append(styled)
                notes += cellNotes
            }
            grid.append(row)
            if let m = network.vlanMismatch {
                notes.append("\(network.name): the devices are on different VLANs by LLDP, so probably on different networks: \(m)")
            }
        }
        let byNode = rows == .nodes || (rows == .auto && report.nodes.count > Self.maxNodeColumns)
        var table: Table
        if byNode {
            table = Table(headers: ["NODE"] + report.networks.map(\.name))
            for (j, node) in report.nodes.enumerated() {
                table.rows.append([nodeLabel(node)] + grid.map { $0[j] })
            }
        } else {
            table = Table(headers: ["NETWORK"] + report.nodes.map { node in node.name + (node.hasNodeDevice ? "" : "?") })
            for (i, network) in report.networks.enumerated() {
                table.rows.append([Styled(network.name)] + grid[i])
            }
        }
        var out = table.render(color: color)
        let missing = report.nodes.filter { !$0.hasNodeDevice }
        for node in missing {
            notes.insert("node \(node.name) has no NodeDevice (is the agent running there?)", at: 0)
        }
        for node in report.nodes where node.hasNodeDevice && !node.nodeExists {
            notes.append("node \(node.name) has a NodeDevice but no Node object: node selectors see no labels")
        }
        out += "\n" + Style.dim.apply("legend: device = resolved, - = not selected, \(color ? "✗" : "none") = no device, ? = no NodeDevice, * = agent differs from resolver, ! = conflict", color: color) + "\n"
        if !notes.isEmpty {
            out += "\nNotes:\n"
            for n in notes { out += "  " + n + "\n" }
        }
        out += "\n" + footer(report)
        return out
    }

    func nodeLabel(_ node: StatusNode) -> Styled {
        node.hasNodeDevice ? Styled(node.name) : Styled(node.name + "?", .yellow)
    }

    /// The controller's conditions per map.
    func footer(_ report: StatusReport) -> String {
        var table = Table(headers: ["NETWORK", "READY", "DEGRADED", "CONFLICT", "NODES", "MESSAGE"])
        for n in report.networks {
            func cond(_ type: String, bad: String) -> Styled {
                guard let c = n.conditions.first(where: { $0.type == type }) else { return Styled("-", .dim) }
                return Styled(c.status, c.status == bad ? (type == "Ready" ? .red : .yellow) : (c.status == "Unknown" ? .yellow : .green))
            }
            let counts = n.counts.map { "\($0.matched)/\($0.total)" } ?? "-"
            var message = ""
            if n.invalid != nil {
                message = "invalid spec: " + (n.invalid ?? []).joined(separator: "; ")
            } else if n.conditions.isEmpty {
                message = "no status yet (is the controller running?)"
            } else {
                let bad = n.conditions.filter { ($0.type == "Ready" && $0.status != "True") || ($0.type != "Ready" && $0.status == "True") }
                // Ready=False and Degraded=True usually carry the same text: say it once, for both.
                var groups: [(types: [String], text: String)] = []
                for c in bad.isEmpty ? n.conditions.filter({ $0.type == "Ready" }) : bad {
                    let text = c.message.isEmpty ? c.reason : c.message
                    if let i = groups.firstIndex(where: { $0.text == text }) { groups[i].types.append(c.type) } else { groups.append(([c.type], text)) }
                }
                message = groups.map { "\($0.types.joined(separator: "/")): \($0.text)" }.joined(separator: "; ")
                if n.statusCurrent == false { message = "(status is for an older generation) " + message }
            }
            table.rows.append([Styled(n.name), cond("Ready", bad: "False"), cond("Degraded", bad: "True"),
                               cond("Conflict", bad: "True"), Styled(counts), Styled(message)])
        }
        return table.render(color: color)
    }
}
