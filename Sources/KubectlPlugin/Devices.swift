import AutomagicAPI
import Resolver

/// `kubectl automagic devices NODE`: the devices the node's agent published.
public struct DevicesReport: Codable, Sendable, Hashable {
    /// The node.
    public var node: String
    /// When the agent probed the devices.
    public var probedAt: String?
    /// The agent's version.
    public var agentVersion: String?
    /// The devices, in natural name order.
    public var devices: [NetworkDevice]
    /// The node's network resolutions as the agent reports them.
    public var networks: [NodeNetworkStatus]
}

extension DevicesReport {
    /// The report for `node`.
    public static func build(_ snapshot: ClusterSnapshot, node: String) throws(PluginError) -> DevicesReport {
        guard let nd = snapshot.nodeDevices[node] else {
            throw .noNodeDevice(node, nodeExists: snapshot.nodes.map { $0[node] != nil } ?? false,
                                known: NaturalOrder.sorted(snapshot.nodeDevices.keys))
        }
        let devices = (nd.status?.devices ?? []).sorted { NaturalOrder.less($0.name, $1.name) }
        return DevicesReport(node: node, probedAt: nd.status?.probedAt, agentVersion: nd.status?.agentVersion,
                             devices: devices, networks: nd.status?.networks ?? [])
    }
}

/// `25G`, `1G`, `2500M`.
func describeSpeed(_ mbps: Int?) -> String {
    guard let mbps, mbps > 0 else { return "-" }
    return mbps >= 1000 && mbps % 1000 == 0 ? "\(mbps / 1000)G" : "\(mbps)M"
}

/// Renders a ``DevicesReport`` as a table.
public struct DevicesRenderer: Sendable {
    /// Colour on or off.
    public var color: Bool

    /// A renderer.
    public init(color: Bool) { self.color = color }

    /// The table, with a line naming the node and probe time.
    public func render(_ report: DevicesReport) -> String {
        var networksByDevice: [String: [String]] = [:]
        for n in report.networks { if let d = n.device { networksByDevice[d, default: []].append(n.network) } }
        var table = Table(headers: ["NAME", "KIND", "DRIVER", "PCI", "MAC", "MTU", "STATE", "SPEED", "ADDRESSES", "NEIGHBOUR", "VLANS", "NETWORKS"])
        for d in report.devices {
            let state = d.operState ?? "-"
            let stateStyle: Style = state == "up" ? .green : (state == "down" || state == "lowerlayerdown" ? .red : .plain)
            var neighbour = "-"
            if let l = d.lldp {
                neighbour = [l.systemName ?? l.chassisID, l.portID].compactMap { $0 }.joined(separator: "/")
                if neighbour.isEmpty { neighbour = "?" }
            }
            let vlans = (d.lldp?.vlanIDs ?? []).map(String.init).joined(separator: ",")
            let networks = (networksByDevice[d.name] ?? []).joined(separator: ",")
            table.rows.append([
                Styled(d.name), Styled(d.kind?.rawValue ?? "-"), Styled(d.driver ?? "-"), Styled(d.pciAddress ?? "-"),
                Styled(d.mac ?? "-"), Styled(d.mtu.map(String.init) ?? "-"), Styled(state, stateStyle),
                Styled(describeSpeed(d.speedMbps)), Styled((d.addresses ?? []).isEmpty ? "-" : (d.addresses ?? []).joined(separator: ",")),
                Styled(neighbour), Styled(vlans.isEmpty ? "-" : vlans), Styled(networks.isEmpty ? "-" : networks, networks.isEmpty ? .plain : .green),
            ])
        }
        var out = ""
        if report.devices.isEmpty {
            out += "Node \(report.node) has a NodeDevice but no devices in it yet (has the agent probed?).\n"
        } else {
            out += table.render(color: color)
        }
        var facts: [String] = []
        if let p = report.probedAt { facts.append("probed at \(p)") }
        if let v = report.agentVersion { facts.append("agent \(v)") }
        if !facts.isEmpty { out += Style.dim.apply("\nnode \(report.node): " + facts.joined(separator: ", "), color: color) + "\n" }
        return out
    }
}
