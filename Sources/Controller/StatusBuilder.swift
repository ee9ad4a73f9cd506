import AutomagicAPI
import KubeCore

/// What rendering a map's NetworkAttachmentDefinitions found (folded into the `Degraded` condition).
struct NADReport: Hashable, Sendable {
    /// The NetworkAttachmentDefinition CRD (`k8s.cni.cncf.io/v1`) is not served.
    var crdMissing = false
    /// Listed namespaces that do not exist.
    var missingNamespaces: [String] = []
    /// Other failures (API errors, foreign objects in the way), one line each.
    var errors: [String] = []

    var isHealthy: Bool { !crdMissing && missingNamespaces.isEmpty && errors.isEmpty }
}

/// An Event to record about a map.
struct MapEvent: Hashable, Sendable {
    /// `Normal` or `Warning`.
    var type: String
    var reason: String
    var message: String
}

/// Computes a map's status from its aggregate: counts, capped lists, conditions (keeping
/// `lastTransitionTime` unless a status flips) and the Events the transitions deserve. Pure.
enum StatusBuilder {
    /// Ratio of the largest to the smallest MTU above which the MTUs of one network "differ widely".
    static let mtuRatio = 1.2
    /// Ratio of the highest to the lowest link speed above which speeds "differ widely".
    static let speedRatio = 4.0
    /// Nodes named in condition messages.
    static let namedInMessages = 5

    static func build(
        map: NetworkDeviceMap, aggregate a: MapAggregate, nad: NADReport, deviceClass: DeviceClassReport? = nil,
        previous: NetworkDeviceMapStatus?, now: String
    ) -> (status: NetworkDeviceMapStatus, events: [MapEvent]) {
        let network = map.network
        let generation = map.metadata.generation
        let cap = NetworkDeviceMapStatus.maxListedNodes
        var status = NetworkDeviceMapStatus(observedGeneration: generation)
        let unmatchedCount = a.validationErrors == nil ? a.unmatched.count : a.selected
        status.nodes = NodeCounts(matched: a.matched, unmatched: unmatchedCount, total: a.selected)
        status.unmatchedNodes = a.unmatched.prefix(cap).map { UnmatchedNode(node: $0.node, reason: clip($0.reason, 4096)) }
        var seen = Set<[String]>()
        status.conflicts = a.conflicts.filter { seen.insert([$0.node, $0.device, $0.network]).inserted }.prefix(cap).map {
            DeviceConflict(node: $0.node, device: $0.device, network: $0.network, winner: $0.winner, message: clip($0.message, 1024))
        }
        let inconsistencies = consistencyProblems(a)

        var conditions = previous?.conditions ?? []
        func set(_ type: String, _ value: Bool, _ reason: String, _ message: String) {
            conditions.set(Condition(
                type: type, status: value ? "True" : "False", observedGeneration: generation, lastTransitionTime: now,
                reason: reason, message: clip(message, 32768)))
        }

        // Ready and Degraded (nodes, then NAD rendering).
        var degradedParts: [String] = []
        var degradedReason: String? = nil
        if let errors = a.validationErrors {
            let text = "the spec is invalid: " + errors.joined(separator: "; ")
            set(MapConditionType.ready, false, "InvalidSpec", text)
            degradedReason = "InvalidSpec"
            degradedParts.append(text)
        } else if a.selected == 0 {
            // A map that can never place a pod is not ready (issue 16): say so in Ready and Degraded.
            let text = "no node is selected by spec.nodeSelector: no pod can get \(network)"
            set(MapConditionType.ready, false, "NoNodesSelected", text)
            degradedReason = "NoNodesSelected"
            degradedParts.append(text)
        } else if a.unmatched.isEmpty {
            set(MapConditionType.ready, true, "AllNodesResolved",
                "\(network) resolves on all \(a.selected) selected node\(a.selected == 1 ? "" : "s")")
        } else {
            let text = "\(a.unmatched.count) of \(a.selected) selected nodes do not resolve \(network): " + namedNodes(a.unmatched)
            set(MapConditionType.ready, false, "NodesUnresolved", text)
            degradedReason = "NodesUnresolved"
            degradedParts.append(text)
        }
        if nad.crdMissing {
            degradedReason = degradedReason ?? "NADCRDMissing"
            degradedParts.append(
                "the NetworkAttachmentDefinition CRD (k8s.cni.cncf.io/v1) is not installed; NADs are not rendered (retrying)")
        }
        if !nad.missingNamespaces.isEmpty {
            degradedReason = degradedReason ?? "NamespaceNotFound"
            degradedParts.append("NAD namespace\(nad.missingNamespaces.count == 1 ? "" : "s") not found: \(nad.missingNamespaces.joined(separator: ", "))")
        }
        if !nad.errors.isEmpty {
            degradedReason = degradedReason ?? "NADSyncFailed"
            degradedParts.append(contentsOf: nad.errors)
        }
        // DeviceClass (dra maps only); a class that cannot be rendered leaves the network unusable.
        if let deviceClass {
            set(MapConditionType.deviceClass, deviceClass.rendered, deviceClass.reason, deviceClass.message)
            if !deviceClass.rendered {
                degradedReason = degradedReason ?? deviceClass.reason
                degradedParts.append(deviceClass.message)
            }
        } else {
            conditions.removeAll { $0.type == MapConditionType.deviceClass }
        }
        if let degradedReason {
            set(MapConditionType.degraded, true, degradedReason, degradedParts.joined(separator: "; "))
        } else {
            set(MapConditionType.degraded, false, "AsExpected", "every selected node resolves \(network)")
        }

        // Conflict.
        var conflictParts: [String] = []
        var conflictReason: String? = nil
        if let first = a.conflicts.first {
            conflictReason = "ExclusiveDeviceConflict"
            let count = max(a.conflictCount, a.conflicts.count)
            let nodes = max(a.conflictNodes, Set(a.conflicts.map(\.node)).count)
            conflictParts.append(
                "\(count) exclusive-device conflict\(count == 1 ? "" : "s") on \(nodes) node\(nodes == 1 ? "" : "s"), e.g. on \(first.node): \(first.message)")
        }
        if !inconsistencies.isEmpty {
            conflictReason = conflictReason ?? "InconsistentDevices"
            conflictParts.append(contentsOf: inconsistencies)
        }
        if let conflictReason {
            set(MapConditionType.conflict, true, conflictReason, conflictParts.joined(separator: "; "))
        } else {
            set(MapConditionType.conflict, false, "NoConflict", "no device conflicts or inconsistencies")
        }
        conditions.sort { order($0.type) < order($1.type) }
        status.conditions = conditions

        // Events for transitions only.
        var events: [MapEvent] = []
        let before = previous?.conditions ?? []
        func flipped(_ type: String, to value: String) -> Condition? {
            guard let now = conditions[type: type], now.status == value else { return nil }
            guard let old = before[type: type] else { return now }
            if old.status != value { return now }
            if value == "True", old.reason != now.reason { return now }  // a different problem
            return nil
        }
        if let c = flipped(MapConditionType.ready, to: "True") {
            events.append(MapEvent(type: "Normal", reason: "Ready", message: c.message))
        }
        if let c = flipped(MapConditionType.degraded, to: "True") {
            events.append(MapEvent(type: "Warning", reason: "Degraded", message: "\(c.reason): \(c.message)"))
        }
        if let c = flipped(MapConditionType.conflict, to: "True") {
            events.append(MapEvent(type: "Warning", reason: "Conflict", message: "\(c.reason): \(c.message)"))
        }
        return (status, events)
    }

    /// `text` cut to at most `limit` UTF-8 bytes (the CRD's maxLength), ending in "…" when cut.
    static func clip(_ text: String, _ limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var out = ""
        var used = 0
        for c in text {
            let n = c.utf8.count
            if used + n > limit - 3 { break }
            out.append(c)
            used += n
        }
        return out + "…"
    }

    static func order(_ type: String) -> Int {
        switch type {
        case MapConditionType.ready: 0
        case MapConditionType.degraded: 1
        case MapConditionType.conflict: 2
        case MapConditionType.deviceClass: 3
        default: 4
        }
    }

    /// "a (reason), b (reason), … and 7 more".
    static func namedNodes(_ nodes: [UnmatchedNode]) -> String {
        let shown = nodes.prefix(namedInMessages).map { "\($0.node) (\($0.reason))" }.joined(separator: ", ")
        let rest = nodes.count - min(nodes.count, namedInMessages)
        return rest > 0 ? "\(shown) and \(rest) more" : shown
    }

    /// Evidence that one network resolved to devices on different networks, or of widely different capability.
    static func consistencyProblems(_ a: MapAggregate) -> [String] {
        var out: [String] = []
        if let (lo, hi) = extremes(a.mtus), Double(hi) > Double(lo) * mtuRatio {
            out.append("MTU differs widely across nodes: " + describe(a.mtus, unit: ""))
        }
        if let (lo, hi) = extremes(a.speeds), lo > 0, Double(hi) >= Double(lo) * speedRatio {
            out.append("link speed differs widely across nodes: " + describe(a.speeds, unit: " Mbps"))
        }
        if hasDisjointPair(a.vlanSets) {
            out.append("devices are on different VLANs by LLDP: " + describeSets(a.vlanSets.map { (key: "VLAN " + $0.key.map(String.init).joined(separator: ","), value: $0.value) }))
        }
        if hasDisjointPair(a.subnetSets) {
            out.append("devices are in disjoint subnets: " + describeSets(a.subnetSets.map { (key: $0.key.joined(separator: ","), value: $0.value) }))
        }
        return out
    }

    static func extremes(_ groups: [Int: ValueGroup]) -> (Int, Int)? {
        guard groups.count > 1, let lo = groups.keys.min(), let hi = groups.keys.max() else { return nil }
        return (lo, hi)
    }

    static func describe(_ groups: [Int: ValueGroup], unit: String) -> String {
        groups.sorted { $0.key > $1.key }.map { "\($0.key)\(unit) on \(count($0.value))" }.joined(separator: ", ")
    }

    static func describeSets(_ groups: [(key: String, value: ValueGroup)]) -> String {
        groups.sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }.prefix(4).map { "\($0.key) on \(count($0.value))" }
            .joined(separator: ", ")
    }

    static func count(_ g: ValueGroup) -> String {
        let more = g.count > g.examples.count ? ", …" : ""
        return "\(g.count) node\(g.count == 1 ? "" : "s") (\(g.examples.joined(separator: ", "))\(more))"
    }

    static func hasDisjointPair<T: Hashable>(_ groups: [[T]: ValueGroup]) -> Bool {
        guard groups.count > 1 else { return false }
        let sets: [Set<T>] = groups.keys.map { Set($0) }
        for i in sets.indices {
            for j in sets.indices where j > i && sets[i].isDisjoint(with: sets[j]) { return true }
        }
        return false
    }
}
