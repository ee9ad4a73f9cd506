import AutomagicAPI
import KubeCore
import Resolver
import Synchronization

/// What the controller knows about one node's devices.
enum DeviceInput: Hashable, Sendable {
    /// No `NodeDevice` object for the node.
    case missing
    /// A `NodeDevice` without status (the agent created it but has not probed yet).
    case noStatus
    /// The devices the agent published.
    case devices([NetworkDevice])

    init(_ nodeDevice: CachedNodeDevice?) {
        guard let nodeDevice else { self = .missing; return }
        guard let devices = nodeDevice.devices else { self = .noStatus; return }
        self = .devices(devices)
    }

    var devices: [NetworkDevice] {
        if case .devices(let d) = self { return d }
        return []
    }
}

/// One network's result on one node, reduced to what map status and node signals need. Kept for
/// every (node, map) pair, so it is small: the resolver's prose (why a node is unresolved, who
/// contested which device) is only fingerprinted here and re-derived for the few nodes a status lists.
struct NodeNetworkResult: Hashable, Sendable {
    enum Outcome: UInt8, Sendable { case resolved, unresolved }
    /// Why a node is unresolved when the resolver was not asked (no devices known).
    enum Missing: UInt8, Sendable {
        case none, noNodeDevice, noStatus
        var reason: String? {
            switch self {
            case .none: nil
            case .noNodeDevice: "no NodeDevice published (agent not running?)"
            case .noStatus: "NodeDevice has no status yet (agent not running?)"
            }
        }
    }
    var outcome: Outcome
    var missing: Missing = .none
    /// Exclusive-device contests on this node.
    var conflictCount: UInt16 = 0
    /// MTU and speed (Mbit/s) of the chosen device; 0 when unknown.
    var mtu: Int32 = 0
    var speed: Int32 = 0
    /// The chosen device (resolved only).
    var device: String?
    /// Fingerprint of the resolver's message and conflicts (so that a changed explanation is a change).
    var detailHash: Int = 0
    /// Attributes of the chosen device, for the consistency checks across nodes.
    var vlans: [Int]? = nil
    var subnets: [String]? = nil
    /// `dra` networks: the devices matching the map that another network holds here (sorted; nil
    /// when none), which the DeviceClass excludes.
    var held: [String]? = nil
}

/// An exclusive-device contest on one node, without the resolver's prose (kept for every node, so small).
struct CompactConflict: Hashable, Sendable {
    var device: String
    var network: String
    var winner: String

    init(_ c: ResolutionConflict) {
        device = c.device
        network = c.network
        winner = c.winner
    }

    /// `device ens1f0 is wanted by storage and sriov (at least one exclusive); sriov keeps it`.
    func message(for network: String) -> String {
        let loser = winner == network ? self.network : network
        return "device \(device) is wanted by \(winner) and \(loser) (at least one exclusive); \(winner) keeps it"
    }
}

/// The compiled maps the node results were computed with.
struct MapSnapshot: Sendable {
    var version: Int
    var compiled: [CompiledMap]
    /// Networks whose rules select by subnet (`InCIDR`): their devices' subnets are compared across nodes.
    var subnetNetworks: Set<String>
    /// Networks allocated through DRA (`spec.dra`): their held devices are kept per node.
    var draNetworks: Set<String> = []
}

/// Counts and examples of one attribute value across the nodes of a map.
struct ValueGroup: Hashable, Sendable {
    var count = 0
    /// The first few node names (by name).
    var examples: [String] = []

    mutating func add(_ node: String, keep: Int = 3) {
        count += 1
        if examples.count < keep {
            examples.append(node)
            examples.sort()
        } else if let last = examples.last, node < last {
            examples[examples.count - 1] = node
            examples.sort()
        }
    }
}

/// A map's view over every node: the input of ``StatusBuilder``.
struct MapAggregate: Sendable {
    var selected = 0
    var matched = 0
    /// Every selected node without a device, sorted by node.
    var unmatched: [UnmatchedNode] = []
    /// The first exclusive conflicts (by node, then device and network; at most `listLimit`).
    var conflicts: [DeviceConflict] = []
    /// All exclusive conflicts, and the nodes they happen on.
    var conflictCount = 0
    var conflictNodes = 0
    /// How many conflicts `conflicts` keeps.
    static let listLimit = NetworkDeviceMapStatus.maxListedNodes
    var mtus: [Int: ValueGroup] = [:]
    var speeds: [Int: ValueGroup] = [:]
    var vlanSets: [[Int]: ValueGroup] = [:]
    var subnetSets: [[String]: ValueGroup] = [:]
    /// Validation errors when the map is invalid (then nothing else but `selected` is filled).
    var validationErrors: [String]? = nil
    /// Nodes whose results predate the current maps (a re-resolution is in progress).
    var staleNodes = 0
    /// Listed nodes whose reasons or conflicts must be re-derived (``ClusterIndex/fillDetails(_:network:maps:)``).
    var needDetail: [NodeInput] = []
    /// Nodes whose conflicts are listed (in order), for ``ClusterIndex/fillDetails(_:network:maps:)``.
    var conflictedListed: [String] = []
}

/// What a node was resolved from.
struct NodeInput: Sendable {
    var node: String
    var labels: [String: String]
    var input: DeviceInput
}

/// The controller's in-memory index: compiled maps and, per node, the result of every map that
/// selects it. Node reconciles update one node; map reconciles aggregate over all nodes (a linear
/// scan of small records — cheap even at 5,000 nodes × 50 maps).
final class ClusterIndex: Sendable {
    struct NodeEntry: Sendable {
        var labels: [String: String]
        var input: DeviceInput
        var version: Int
        var results: [String: NodeNetworkResult]
    }
    struct MapRecord: Sendable {
        var map: NetworkDeviceMap
        var compiled: CompiledMap?
        var errors: [String]?
    }
    struct State: Sendable {
        var version = 0
        var maps: [String: MapRecord] = [:]
        var snapshot = MapSnapshot(version: 0, compiled: [], subnetNetworks: [])
        var nodes: [String: NodeEntry] = [:]
    }
    private let state = Mutex(State())

    /// Replaces the set of maps. Recompiles only maps whose spec, uid or creation time changed.
    /// Returns true when the compiled set changed (then every node must be resolved again).
    @discardableResult
    func updateMaps(_ maps: [NetworkDeviceMap]) -> Bool {
        let current = state.withLock { $0.maps }
        var next: [String: MapRecord] = [:]
        var changed = false
        for map in maps {
            let name = map.network
            if let old = current[name], Self.sameDefinition(old.map, map) {
                var record = old
                record.map = map
                next[name] = record
                continue
            }
            changed = true
            do {
                next[name] = MapRecord(map: map, compiled: try CompiledMap(map), errors: nil)
            } catch {
                let errors: [String]
                if case .invalidMap(_, let list) = error { errors = list.map(\.description) } else { errors = ["\(error)"] }
                next[name] = MapRecord(map: map, compiled: nil, errors: errors)
            }
        }
        if Set(current.keys) != Set(next.keys) { changed = true }
        state.withLock { s in
            s.maps = next
            if changed {
                s.version += 1
                let compiled = next.values.compactMap(\.compiled).sorted { $0.network < $1.network }
                var subnet = Set<String>()
                for c in compiled {
                    if c.map.spec.rules.contains(where: { $0.devices.matchExpressions.contains { $0.operator == .inCIDR } }) {
                        subnet.insert(c.network)
                    }
                }
                let dra = Set(compiled.filter { $0.map.spec.isDRA }.map(\.network))
                s.snapshot = MapSnapshot(version: s.version, compiled: compiled, subnetNetworks: subnet, draNetworks: dra)
            }
        }
        return changed
    }

    static func sameDefinition(_ a: NetworkDeviceMap, _ b: NetworkDeviceMap) -> Bool {
        a.metadata.uid == b.metadata.uid && a.metadata.creationTimestamp == b.metadata.creationTimestamp && a.spec == b.spec
    }

    /// The maps in force.
    var maps: MapSnapshot { state.withLock { $0.snapshot } }

    /// Whether node `name` must be resolved again for these inputs.
    func needsResolve(_ name: String, labels: [String: String], input: DeviceInput) -> Bool {
        state.withLock { s in
            guard let e = s.nodes[name] else { return true }
            return e.version != s.version || e.labels != labels || e.input != input
        }
    }

    /// Stores a node's results; returns the networks whose result on this node changed, and
    /// whether the results are already outdated (the maps changed meanwhile: resolve again).
    func store(_ name: String, labels: [String: String], input: DeviceInput, version: Int, results: [String: NodeNetworkResult])
        -> (changed: [String], outdated: Bool)
    {
        state.withLock { s in
            let old = s.nodes[name]?.results ?? [:]
            s.nodes[name] = NodeEntry(labels: labels, input: input, version: version, results: results)
            var changed: [String] = []
            for (network, r) in results where old[network] != r { changed.append(network) }
            for network in old.keys where results[network] == nil { changed.append(network) }
            // Invalid maps count selected nodes by labels: a label change matters to them too.
            for (network, record) in s.maps where record.compiled == nil { changed.append(network) }
            return (changed, version != s.version)
        }
    }

    /// Forgets a node (its Node is gone); returns the networks it counted in.
    func remove(_ name: String) -> [String] {
        state.withLock { s in
            guard let old = s.nodes.removeValue(forKey: name) else { return [] }
            var changed = Array(old.results.keys)
            for (network, record) in s.maps where record.compiled == nil { changed.append(network) }
            return changed
        }
    }

    /// Names of every indexed node.
    var nodeNames: [String] { state.withLock { Array($0.nodes.keys) } }

    /// What the DeviceClass of `network` is compiled from: every indexed node with its labels, and
    /// per node the devices another network holds (``NodeNetworkResult/held``).
    func draInputs(_ network: String) -> (nodes: [NodeInfo], held: [String: Set<String>]) {
        state.withLock { s in
            var nodes: [NodeInfo] = []
            var held: [String: Set<String>] = [:]
            for (name, e) in s.nodes {
                nodes.append(NodeInfo(name: name, labels: e.labels))
                if let h = e.results[network]?.held { held[name] = Set(h) }
            }
            return (nodes.sorted { $0.name < $1.name }, held)
        }
    }

    /// The networks `namespace` matters to (maps rendering NADs there).
    func networks(renderingIn namespace: String) -> [String] {
        state.withLock { s in
            s.maps.values.filter { ($0.map.spec.networkAttachmentDefinition?.namespaces ?? []).contains(namespace) }.map(\.map.network)
        }
    }

    /// The labels node `name` should carry. Extended resources are not the controller's: the
    /// device plugin of each exclusive network advertises `automagic.dev/<network>` through the
    /// kubelet, which owns the node's capacity for it.
    func labels(_ name: String) -> [String: String] {
        state.withLock { s in
            var labels: [String: String] = [:]
            for (network, r) in s.nodes[name]?.results ?? [:] where r.outcome == .resolved {
                labels[Automagic.networkLabel(for: network)] = "true"
            }
            return labels
        }
    }

    /// The aggregate of `network` over every node.
    func aggregate(_ network: String) -> MapAggregate? {
        state.withLock { s -> MapAggregate? in
            var a = MapAggregate()
            guard let record = s.maps[network] else { return nil }
            if let errors = record.errors {
                a.validationErrors = errors
                for (_, e) in s.nodes where Resolver.selects(record.map.spec.nodeSelector, e.labels) { a.selected += 1 }
                return a
            }
            var conflicted: [(node: String, count: Int)] = []
            var unresolved: [(node: String, missing: NodeNetworkResult.Missing)] = []
            for (node, e) in s.nodes {
                if e.version != s.version { a.staleNodes += 1 }
                guard let r = e.results[network] else { continue }
                a.selected += 1
                switch r.outcome {
                case .resolved:
                    a.matched += 1
                    if r.mtu > 0 { a.mtus[Int(r.mtu), default: ValueGroup()].add(node) }
                    if r.speed > 0 { a.speeds[Int(r.speed), default: ValueGroup()].add(node) }
                    if let vlans = r.vlans, !vlans.isEmpty { a.vlanSets[vlans, default: ValueGroup()].add(node) }
                    if let subnets = r.subnets, !subnets.isEmpty { a.subnetSets[subnets, default: ValueGroup()].add(node) }
                case .unresolved:
                    unresolved.append((node, r.missing))
                }
                if r.conflictCount > 0 {
                    a.conflictCount += Int(r.conflictCount)
                    conflicted.append((node, Int(r.conflictCount)))
                }
            }
            // Every unresolved node is counted; only the listed ones get their reason re-derived.
            unresolved.sort { $0.node < $1.node }
            var detail = Set<String>()
            for (index, u) in unresolved.enumerated() {
                let reason = u.missing.reason
                a.unmatched.append(UnmatchedNode(node: u.node, reason: reason ?? ""))
                if reason == nil && index < MapAggregate.listLimit { detail.insert(u.node) }
            }
            a.conflictNodes = conflicted.count
            conflicted.sort { $0.node < $1.node }
            var listed = 0
            for c in conflicted where listed < MapAggregate.listLimit {
                a.conflictedListed.append(c.node)
                detail.insert(c.node)
                listed += c.count
            }
            for node in detail.sorted() {
                if let e = s.nodes[node] { a.needDetail.append(NodeInput(node: node, labels: e.labels, input: e.input)) }
            }
            return a
        }
    }

    /// Re-resolves the few listed nodes of an aggregate to fill in the resolver's reasons and conflicts.
    static func fillDetails(_ a: inout MapAggregate, network: String, maps: MapSnapshot) {
        guard !a.needDetail.isEmpty else { return }
        var reasons: [String: String] = [:]
        var conflicts: [String: [ResolutionConflict]] = [:]
        for n in a.needDetail {
            let resolution = Resolver.resolve(
                node: NodeInfo(name: n.node, labels: n.labels), devices: n.input.devices, compiled: maps.compiled, detail: .summary)
            guard let r = resolution[network] else { continue }
            reasons[n.node] = r.message
            conflicts[n.node] = r.conflicts
        }
        for i in a.unmatched.indices.prefix(MapAggregate.listLimit) where a.unmatched[i].reason.isEmpty {
            a.unmatched[i].reason = reasons[a.unmatched[i].node] ?? "unresolved"
        }
        var seen = Set<[String]>()
        for node in a.conflictedListed {
            let list = (conflicts[node] ?? []).sorted { ($0.device, $0.network) < ($1.device, $1.network) }
            for c in list where a.conflicts.count < MapAggregate.listLimit && seen.insert([node, c.device, c.network]).inserted {
                a.conflicts.append(DeviceConflict(
                    node: node, device: c.device, network: c.network, winner: c.winner, message: CompactConflict(c).message(for: network)))
            }
        }
        a.needDetail = []
    }

    // MARK: - Resolution (pure)

    /// Resolves every map on one node and reduces the results.
    static func resolve(node name: String, labels: [String: String], input: DeviceInput, maps: MapSnapshot)
        -> [String: NodeNetworkResult]
    {
        let devices = input.devices
        let resolution = Resolver.resolve(
            node: NodeInfo(name: name, labels: labels), devices: devices, compiled: maps.compiled, detail: .summary)
        var byName: [String: NetworkDevice]? = nil
        var out: [String: NodeNetworkResult] = [:]
        for n in resolution.networks {
            var r: NodeNetworkResult
            switch n.outcome {
            case .notSelected, .invalid:
                continue
            case .resolved:
                if byName == nil {
                    var d: [String: NetworkDevice] = [:]
                    for device in devices { d[device.name] = device }
                    byName = d
                }
                let device = n.device.flatMap { byName?[$0] }
                r = NodeNetworkResult(outcome: .resolved, device: n.device)
                r.mtu = Int32(clamping: device?.mtu ?? 0)
                r.speed = Int32(clamping: device?.speedMbps ?? 0)
                if let vlans = device?.lldp?.vlanIDs, !vlans.isEmpty { r.vlans = Array(Set(vlans)).sorted() }
                if maps.subnetNetworks.contains(n.network), let addresses = device?.addresses {
                    let subnets = Self.subnets(addresses)
                    if !subnets.isEmpty { r.subnets = subnets }
                }
            case .unresolved:
                r = NodeNetworkResult(outcome: .unresolved)
                switch input {
                case .missing: r.missing = .noNodeDevice
                case .noStatus: r.missing = .noStatus
                case .devices: break
                }
            }
            r.conflictCount = UInt16(clamping: n.conflicts.count)
            if maps.draNetworks.contains(n.network), n.candidates.count != n.availableDevices.count {
                let held = Set(n.candidates).subtracting(n.availableDevices)
                if !held.isEmpty { r.held = held.sorted() }
            }
            if r.missing == .none && (r.outcome == .unresolved || !n.conflicts.isEmpty) {
                var hasher = Hasher()
                if r.outcome == .unresolved { hasher.combine(n.message) }
                for c in n.conflicts {
                    hasher.combine(c.device)
                    hasher.combine(c.network)
                    hasher.combine(c.winner)
                }
                r.detailHash = hasher.finalize()
            }
            out[n.network] = r
        }
        return out
    }

    /// The subnets (`network/prefix`) of interface addresses, link-local ones left out, sorted.
    static func subnets(_ addresses: [String]) -> [String] {
        var out = Set<String>()
        for a in addresses {
            guard let cidr = CIDR(a) else { continue }
            let text = cidr.description
            if text.hasPrefix("fe80:") || text.hasPrefix("169.254.") { continue }
            out.insert(text)
        }
        return out.sorted()
    }
}

extension Resolver {
    /// Whether a (possibly absent) label selector selects `labels`.
    static func selects(_ selector: LabelSelector?, _ labels: [String: String]) -> Bool {
        guard let selector else { return true }
        return selector.matches(labels)
    }
}
