import AutomagicAPI
import KubeCore

/// The resolver: a pure function from a node (name, labels), its devices and every
/// `NetworkDeviceMap` to, per map, the device that carries the network there — or why none does —
/// with an explanation. Agent, controller and `kubectl automagic` all call it, so their views agree.
///
/// Rules, in order (docs/resolver.md has the full account):
/// 1. A map whose `spec.nodeSelector` does not select the node is `notSelected` (not an error).
/// 2. Rules are tried in order; a rule whose `nodeSelector` excludes the node is skipped. A device
///    matches a rule when every expression holds. The first rule that matches some device decides;
///    `select` orders its devices (`First`: natural name order; `HighestSpeed`: speed, then name;
///    `Fail`: more than one device leaves the node unresolved).
/// 3. Exclusive conflicts: maps are served oldest first (`creationTimestamp`, then name). A device
///    held by an exclusive network, or any held device when the asking network is exclusive, is
///    skipped; the asking network falls back to its next candidate (next device of the rule, then
///    later rules). Each skip is a conflict reported on both networks.
///
/// ```swift
/// let node = NodeInfo(name: "worker-1", labels: ["kubernetes.io/hostname": "worker-1"])
/// let result = Resolver.resolve(node: node, devices: nodeDevice.status?.devices ?? [], maps: maps)
/// for n in result.networks { print(n.network, n.device ?? "-", n.message) }
/// print(result["storage"]?.explanation ?? "")
/// ```
public enum Resolver {
    /// Resolves every map on one node, compiling the maps first; invalid maps yield `.invalid` results.
    public static func resolve(
        node: NodeInfo, devices: [NetworkDevice], maps: [NetworkDeviceMap], detail: ExplanationDetail = .full
    ) -> NodeResolution {
        let (compiled, invalid) = compile(maps)
        var result = resolve(node: node, devices: devices, compiled: compiled, detail: detail)
        result.networks += invalid
        result.networks.sort { $0.network < $1.network }
        return result
    }

    /// Compiles maps; returns the valid ones (in conflict-priority order, which `resolve` then need
    /// not re-establish) and an `.invalid` result for each invalid one.
    public static func compile(_ maps: [NetworkDeviceMap]) -> (compiled: [CompiledMap], invalid: [NetworkResolution]) {
        var compiled: [CompiledMap] = []
        var invalid: [NetworkResolution] = []
        var interned: [DeviceMatchExpression: CompiledExpression] = [:]
        for map in maps {
            do {
                compiled.append(try CompiledMap(map, interned: &interned))
            } catch {
                guard case .invalidMap(_, let errors) = error else { continue }
                invalid.append(NetworkResolution(
                    network: map.network, outcome: .invalid, device: nil, rule: nil,
                    message: "invalid spec: " + errors.map(\.description).joined(separator: "; "),
                    candidates: [], availableDevices: [], conflicts: [], trace: [], validationErrors: errors))
            }
        }
        compiled.sort { $0.priority < $1.priority }
        return (compiled, invalid)
    }

    /// Resolves pre-compiled maps on one node. Cost is linear in maps × rules evaluated × devices.
    public static func resolve(
        node: NodeInfo, devices: [NetworkDevice], compiled: [CompiledMap], detail: ExplanationDetail = .full
    ) -> NodeResolution {
        let sortedDevices = NaturalOrder.sortedByName(devices)
        // Dense per-call slots for the distinct compiled expressions: each is evaluated at most
        // once per device, however many rules and maps share it.
        var slots: [ObjectIdentifier: Int] = [:]
        for c in compiled {
            for rule in c.rules {
                for e in rule.expressions where slots[ObjectIdentifier(e)] == nil { slots[ObjectIdentifier(e)] = slots.count }
            }
        }
        var table = DeviceTable(sortedDevices, expressionSlots: slots)
        // `compile` returns maps in priority order; only re-sort when given another order.
        let inOrder = zip(compiled, compiled.dropFirst()).allSatisfy { !($1.priority < $0.priority) }
        let order = inOrder ? Array(compiled.indices) : compiled.indices.sorted { compiled[$0].priority < compiled[$1].priority }
        var states = order.map { MapState(map: compiled[$0], node: node, deviceCount: sortedDevices.count) }
        var claims = DeviceClaims(deviceCount: sortedDevices.count)

        // Serve maps in priority order.
        for asker in states.indices where states[asker].selected {
            var position = 0
            var skipped: [(device: Int, holders: [Int])] = []
            var chosen: Candidate? = nil
            while chosen == nil {
                if position == states[asker].preference.count {
                    if !states[asker].evaluateNextRule(&table, detail: detail) { break }
                    continue
                }
                let candidate = states[asker].preference[position]
                position += 1
                // Who keeps this device from the asker: an exclusive holder, or any holder when the asker is exclusive.
                let blocking = claims.holders(of: candidate.device).filter { states[$0].map.exclusive || states[asker].map.exclusive }
                if blocking.isEmpty { chosen = candidate } else { skipped.append((candidate.device, blocking)) }
            }
            if let chosen { claims.claim(chosen.device, by: asker) }
            states[asker].chosen = chosen
            // Conflicts, on both sides.
            for (device, holders) in skipped {
                let name = sortedDevices[device].name
                for holder in holders {
                    let winner = states[holder].map, loser = states[asker].map
                    let why = priorityReason(winner: winner, loser: loser)
                    let fallback = chosen.map { "uses \(sortedDevices[$0.device].name) instead" } ?? "has no other device"
                    let heldBy = winner.exclusive ? "exclusive network \(winner.network)" : "network \(winner.network)"
                    states[asker].conflicts.append(ResolutionConflict(
                        device: name, network: winner.network, winner: winner.network,
                        message: "device \(name) is held by \(heldBy), which has priority (\(why)); \(loser.network) \(fallback)"))
                    let askedBy = loser.exclusive ? "exclusive network \(loser.network)" : "network \(loser.network)"
                    states[holder].conflicts.append(ResolutionConflict(
                        device: name, network: loser.network, winner: winner.network,
                        message: "\(askedBy) also matched device \(name); \(winner.network) keeps it (\(why))"))
                }
            }
            states[asker].skipped = skipped.map { SkippedDevice(device: $0.device, heldBy: $0.holders.map { states[$0].map.network }) }
        }

        // Free devices of exclusive networks (for the extended resource).
        for s in states.indices where states[s].selected && states[s].map.exclusive {
            while states[s].evaluateNextRule(&table, detail: detail) {}
            var seen = Set<Int>()
            for candidate in states[s].preference where seen.insert(candidate.device).inserted {
                if claims.isFree(candidate.device, for: s) { states[s].available.append(sortedDevices[candidate.device].name) }
            }
        }

        var results = states.map { $0.result(devices: sortedDevices, node: node) }
        results.sort { $0.network < $1.network }
        return NodeResolution(node: node.name, networks: results)
    }

    static func priorityReason(winner: CompiledMap, loser: CompiledMap) -> String {
        switch (winner.priority.created, loser.priority.created) {
        case let (w?, l?) where w != l: "created earlier"
        case (.some, nil): "\(loser.network) is not created yet"
        default: "same age, name sorts first"
        }
    }

    static func selectorMatches(_ selector: LabelSelector?, _ labels: [String: String]) -> Bool {
        guard let selector else { return true }
        return selector.matches(labels)
    }
}

/// A device of a map's preference list and the rule that matched it first (indices into the node's
/// devices in natural name order and into the map's rules).
struct Candidate {
    var device: Int
    var rule: Int
}

/// A device a map matched but could not have: held by these networks, which have priority.
struct SkippedDevice {
    var device: Int
    var heldBy: [String]
}

/// Which maps (indices into the served maps) hold each device of the node.
struct DeviceClaims {
    private var holders: [[Int]]

    init(deviceCount: Int) { holders = Array(repeating: [], count: deviceCount) }

    func holders(of device: Int) -> [Int] { holders[device] }

    mutating func claim(_ device: Int, by map: Int) { holders[device].append(map) }

    /// Whether no map but `map` holds `device`.
    func isFree(_ device: Int, for map: Int) -> Bool { holders[device].allSatisfy { $0 == map } }
}

/// One map's progress on one node.
struct MapState {
    let map: CompiledMap
    let selected: Bool
    let nodeLabels: [String: String]
    var nextRule = 0
    /// Matching devices, in preference order, each with the rule that matched it first.
    var preference: [Candidate] = []
    var inPreference: [Bool]
    var trace: [RuleTrace] = []
    /// Set when a rule under `select: Fail` matched several devices: evaluation stops there.
    var failed: (rule: Int, devices: [Int])? = nil
    var rulesSelectingNode = 0
    var chosen: Candidate? = nil
    var skipped: [SkippedDevice] = []
    /// Conflicts with other networks over devices, either side.
    var conflicts: [ResolutionConflict] = []
    /// For an exclusive network: the devices it matches that no other network holds.
    var available: [String] = []
    /// Matched device count of each evaluated rule.
    var matchedCount: [Int]

    init(map: CompiledMap, node: NodeInfo, deviceCount: Int) {
        self.map = map
        self.inPreference = Array(repeating: false, count: deviceCount)
        self.matchedCount = Array(repeating: 0, count: map.rules.count)
        self.nodeLabels = node.labels
        self.selected = Resolver.selectorMatches(map.map.spec.nodeSelector, node.labels)
    }

    /// Evaluates the next rule; false when there is none left (or evaluation stopped at a Fail).
    mutating func evaluateNextRule(_ table: inout DeviceTable, detail: ExplanationDetail) -> Bool {
        guard failed == nil, nextRule < map.rules.count else { return false }
        let rule = map.rules[nextRule]
        nextRule += 1
        guard Resolver.selectorMatches(rule.nodeSelector, nodeLabels) else {
            if detail == .full { trace.append(RuleTrace(rule: rule.ref, nodeSelected: false, matched: [], rejected: [])) }
            return true
        }
        rulesSelectingNode += 1
        var matched: [Int] = []
        var rejected: [DeviceRejection] = []
        let slots = rule.expressions.map { table.slot(of: $0) }
        if detail == .full {
            // Device by device, naming every failing expression.
            for d in table.devices.indices {
                var reasons: [String] = []
                for (e, slot) in zip(rule.expressions, slots) where !table.holds(e, slot: slot, device: d) {
                    reasons.append(e.failure(device: table.devices[d].name, values: table.values(d, e.field, ordinal: e.ordinal)))
                }
                if reasons.isEmpty { matched.append(d) } else { rejected.append(DeviceRejection(device: table.devices[d].name, reasons: reasons)) }
            }
        } else {
            // Expression by expression over the devices still in the running: each device stops
            // at its first failing expression, and each expression is fetched once.
            matched = Array(table.devices.indices)
            for (e, slot) in zip(rule.expressions, slots) {
                var kept = 0
                for i in matched.indices where table.holds(e, slot: slot, device: matched[i]) {
                    matched[kept] = matched[i]
                    kept += 1
                }
                matched.removeLast(matched.count - kept)
                if kept == 0 { break }
            }
        }
        if map.select == .highestSpeed && matched.count > 1 {
            let devices = table.devices
            matched.sort { a, b in
                let sa = devices[a].speedMbps ?? Int.min, sb = devices[b].speedMbps ?? Int.min
                return sa != sb ? sa > sb : a < b  // device indices are in natural name order
            }
        }
        matchedCount[rule.index] = matched.count
        if detail == .full {
            trace.append(RuleTrace(rule: rule.ref, nodeSelected: true, matched: matched.map { table.devices[$0].name }, rejected: rejected))
        }
        if map.select == .fail && matched.count > 1 {
            failed = (rule.index, matched)
            return false
        }
        for d in matched where !inPreference[d] {
            inPreference[d] = true
            preference.append(Candidate(device: d, rule: rule.index))
        }
        return true
    }

    func result(devices: [NetworkDevice], node: NodeInfo) -> NetworkResolution {
        let network = map.network
        var r = NetworkResolution(
            network: network, outcome: .unresolved, device: nil, rule: nil, message: "",
            candidates: preference.map { devices[$0.device].name }, availableDevices: available,
            conflicts: conflicts, trace: trace, validationErrors: [])
        guard selected else {
            r.outcome = .notSelected
            r.message = "node \(node.name) is not selected by spec.nodeSelector"
            return r
        }
        let skippedText = skipped.map { s in
            "\(devices[s.device].name) (held by \(s.heldBy.joined(separator: ", ")))"
        }.joined(separator: ", ")
        if let chosen {
            let rule = map.rules[chosen.rule]
            let name = devices[chosen.device].name
            r.outcome = .resolved
            r.device = name
            r.rule = rule.ref
            var message = "rule \(rule.ref) chose \(name)"
            let count = matchedCount[chosen.rule]
            if count > 1 {
                switch map.select {
                case .highestSpeed:
                    message += " (highest speed of \(count) matching devices\(devices[chosen.device].speedMbps.map { ", \($0) Mbps" } ?? ""))"
                default:
                    message += " (first by name of \(count) matching devices)"
                }
            }
            if !skipped.isEmpty { message += "; skipped \(skippedText)" }
            r.message = message
            return r
        }
        if let failed {
            let rule = map.rules[failed.rule]
            r.message = "rule \(rule.ref) matched \(failed.devices.count) devices (\(failed.devices.map { devices[$0].name }.joined(separator: ", "))) and select is Fail"
        } else if !skipped.isEmpty {
            r.message = "every matching device is held by another network: \(skippedText)"
        } else if devices.isEmpty {
            r.message = "node \(node.name) has no devices"
        } else if rulesSelectingNode == 0 {
            r.message = "no rule's nodeSelector selects node \(node.name)"
        } else {
            r.message = "no device matched any rule (\(devices.count) devices, \(rulesSelectingNode) of \(map.rules.count) rules apply to this node)"
        }
        if !skipped.isEmpty && failed != nil { r.message += "; skipped \(skippedText)" }
        return r
    }
}
