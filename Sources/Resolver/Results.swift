import AutomagicAPI

/// The node being resolved: its name and labels (from the Node object).
public struct NodeInfo: Sendable, Hashable {
    /// The Node's name.
    public var name: String
    /// The Node's labels, matched against map and rule node selectors.
    public var labels: [String: String]

    /// A node with the given name and labels.
    public init(name: String, labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }
}

/// How much explanation to build. `.full` records, for each evaluated rule, why each device
/// failed; `.summary` only decides and writes one-line messages (the controller's resync).
public enum ExplanationDetail: Sendable, Hashable {
    /// Per-rule, per-device, per-expression reasons (for `kubectl automagic explain`).
    case full
    /// Decisions and summary messages only.
    case summary
}

/// A rule of a map: its index and optional name.
public struct RuleRef: Sendable, Hashable, CustomStringConvertible {
    /// Position in `spec.rules`.
    public var index: Int
    /// `spec.rules[index].name`, when set.
    public var name: String?

    /// A reference to rule `index` named `name`.
    public init(index: Int, name: String? = nil) {
        self.index = index
        self.name = name
    }

    /// The name when set, else `rules[<index>]` (the form written to `NodeDevice.status.networks[].rule`).
    public var description: String { name ?? "rules[\(index)]" }
    /// `rules[1] (mellanox)` or `rules[1]`.
    public var qualified: String { name.map { "rules[\(index)] (\($0))" } ?? "rules[\(index)]" }
}

/// Why one device failed one rule: each failing expression, rendered
/// (`driver In [ice]: device ens5f1 has i40e`).
public struct DeviceRejection: Sendable, Hashable {
    /// The device.
    public var device: String
    /// One line per failing expression, in expression order.
    public var reasons: [String]

    /// A rejection of `device` for `reasons`.
    public init(device: String, reasons: [String]) {
        self.device = device
        self.reasons = reasons
    }
}

/// What happened in one rule on this node (only with `ExplanationDetail.full`).
public struct RuleTrace: Sendable, Hashable {
    /// The rule.
    public var rule: RuleRef
    /// False when the rule's `nodeSelector` excludes the node (then nothing else was evaluated).
    public var nodeSelected: Bool
    /// Devices for which every expression holds, in preference order of the `select` policy.
    public var matched: [String]
    /// Devices that failed, with the reasons.
    public var rejected: [DeviceRejection]

    /// A trace with the given fields.
    public init(rule: RuleRef, nodeSelected: Bool, matched: [String], rejected: [DeviceRejection]) {
        self.rule = rule
        self.nodeSelected = nodeSelected
        self.matched = matched
        self.rejected = rejected
    }
}

/// A contest for one device between two networks on a node, where at least one is exclusive.
public struct ResolutionConflict: Sendable, Hashable {
    /// The contested device.
    public var device: String
    /// The other network.
    public var network: String
    /// The network that kept the device.
    public var winner: String
    /// Human-readable account, from this network's point of view.
    public var message: String

    /// A conflict with the given fields.
    public init(device: String, network: String, winner: String, message: String) {
        self.device = device
        self.network = network
        self.winner = winner
        self.message = message
    }
}

/// One network's result on one node.
public struct NetworkResolution: Sendable, Hashable {
    /// The kind of result.
    public enum Outcome: String, Sendable, Hashable {
        /// A device was chosen.
        case resolved = "Resolved"
        /// The map's `nodeSelector` does not select this node: the network is not expected here.
        case notSelected = "NotSelected"
        /// The node is selected but no device could be chosen (see `message`).
        case unresolved = "Unresolved"
        /// The map failed validation (see `validationErrors`); nothing was evaluated.
        case invalid = "Invalid"
    }

    /// The network (the map's name).
    public var network: String
    /// What happened.
    public var outcome: Outcome
    /// The chosen device (only when `resolved`).
    public var device: String?
    /// The rule that chose it (only when `resolved`).
    public var rule: RuleRef?
    /// One-line account: which rule chose what, or why nothing was chosen.
    public var message: String
    /// Matching devices in preference order over the rules evaluated (rule order, then `select` order).
    public var candidates: [String]
    /// For an exclusive network, its candidate set: every device the map selects here (over all
    /// rules, in preference order, the chosen device first) that no other network holds. The agent
    /// writes them to the mapping file as the network's `candidates`, which the device plugin
    /// offers to the kubelet. Empty for shared networks.
    public var availableDevices: [String]
    /// Exclusive-device conflicts this network took part in on this node.
    public var conflicts: [ResolutionConflict]
    /// Per-rule detail (empty with `ExplanationDetail.summary`, and for rules never evaluated).
    public var trace: [RuleTrace]
    /// Problems of an invalid map.
    public var validationErrors: [ValidationError]

    /// The entry for `NodeDevice.status.networks[]`.
    public var nodeNetworkStatus: NodeNetworkStatus {
        NodeNetworkStatus(network: network, device: device, rule: rule?.description, message: message)
    }

    /// A multi-line explanation: the summary, then each evaluated rule with its matched devices
    /// and each failing expression of each rejected device.
    public var explanation: String {
        var lines = ["\(network): \(outcome.rawValue): \(message)"]
        for c in conflicts { lines.append("  conflict: \(c.message)") }
        for e in validationErrors { lines.append("  invalid: \(e)") }
        for t in trace {
            guard t.nodeSelected else {
                lines.append("  \(t.rule.qualified): node not selected by the rule's nodeSelector")
                continue
            }
            let matched = t.matched.isEmpty ? "no device" : t.matched.joined(separator: ", ")
            lines.append("  \(t.rule.qualified): matched \(matched)")
            for r in t.rejected {
                for reason in r.reasons { lines.append("    \(reason)") }
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Every map's result on one node, sorted by network name.
public struct NodeResolution: Sendable, Hashable {
    /// The node.
    public var node: String
    /// One entry per map given, sorted by network name.
    public var networks: [NetworkResolution]

    /// The result for `network`, if a map of that name was given.
    public subscript(network: String) -> NetworkResolution? {
        networks.first { $0.network == network }
    }

    /// Networks resolved here, network → device.
    public var devicesByNetwork: [String: String] {
        var out: [String: String] = [:]
        for n in networks { if let d = n.device { out[n.network] = d } }
        return out
    }

    /// `NodeDevice.status.networks`: every map that selects this node (resolved, unresolved or invalid), sorted by network.
    public var networkStatuses: [NodeNetworkStatus] {
        networks.filter { $0.outcome != .notSelected }.map(\.nodeNetworkStatus)
    }
}
