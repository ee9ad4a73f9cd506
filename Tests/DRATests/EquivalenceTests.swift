import AutomagicAPI
import DRA
import JSON
import KubeCore
import PropertyBased
import Resolver
import SyntheticFleets
import TestSupport
import Synchronization
import Testing

/// The generated CEL evaluated by a real CEL evaluator: cel-python through Tests/DRATests/cel_eval.py.
enum CEL {
    static let script = repositoryPath("Tests/DRATests/cel_eval.py")

    /// Per case, per device: whether every selector holds. A CEL error fails the case.
    static func select(_ cases: [(selectors: [String], devices: [DRADevice])]) throws -> [Result<[Bool], TestFailure>] {
        let request: JSONValue = .object(["cases": .array(cases.map { c in
            .object([
                "selectors": .array(c.selectors.map { .string($0) }),
                "devices": .array(c.devices.map { d in
                    .object(["driver": "automagic.dev", "attributes": .object(["automagic.dev": .object(d.attributes.mapValues { v in
                        switch v {
                        case .int(let i): .int(Int64(i))
                        case .bool(let b): .bool(b)
                        case .string(let s): .string(s)
                        }
                    })])])
                }),
            ])
        })])
        let out = try run("/usr/bin/env", ["python3", script], stdin: request.serialized(), timeout: 300)
        guard out.status == 0 else { throw TestFailure("cel_eval.py failed: \(out)") }
        let results = try JSONValue.parse(out.stdout)["results"]
        guard case .array(let list)? = results, list.count == cases.count else { throw TestFailure("cel_eval.py: bad output \(out.stdout.prefix(500))") }
        return list.map { r in
            if case .array(let bools) = r { return .success(bools.map { $0 == .bool(true) }) }
            return .failure(TestFailure("CEL error: \(r["error"].map { "\($0)" } ?? "\(r)")"))
        }
    }
}

/// One node of a test fleet: its labels and devices.
struct FleetNode: Sendable {
    var info: NodeInfo
    var devices: [NetworkDevice]
}

/// What the resolver offers an exclusive DRA network on each node vs what its DeviceClass selects.
struct Comparison {
    var compiled: CompiledDeviceClass
    var problems: [String] = []
    var selectedByCEL = 0
    var selectedByResolver = 0
}

/// Compares, for `maps` (each compiled as a DRA network), the resolver's available devices with the
/// devices the compiled class selects, on every node of `fleet` (all maps resolved together, so
/// devices held by other networks count). The class must never select a device the resolver does
/// not offer; it must select every one unless the device is truncated or the class left a rule out.
func compare(_ maps: [NetworkDeviceMap], fleet: [FleetNode]) throws -> [Comparison] {
    let nodes = fleet.map(\.info)
    let resolutions = fleet.map { Resolver.resolve(node: $0.info, devices: $0.devices, maps: maps, detail: .summary) }
    var comparisons: [Comparison] = []
    var cases: [(selectors: [String], devices: [DRADevice])] = []
    var published: [[(node: String, device: DRADevice)]] = []
    for map in maps {
        var held: [String: Set<String>] = [:]
        for r in resolutions {
            guard let n = r[map.network] else { continue }
            held[r.node] = Set(n.candidates).subtracting(n.availableDevices)
        }
        let compiled = DeviceClassCompiler.compile(map, nodes: nodes, held: held)
        comparisons.append(Comparison(compiled: compiled))
        var devices: [(node: String, device: DRADevice)] = []
        for f in fleet { devices += DRAAttributes.devices(f.devices, node: f.info.name).map { (f.info.name, $0) } }
        published.append(devices)
        cases.append((compiled.selectors, devices.map(\.device)))
    }
    let results = try CEL.select(cases.filter { !$0.selectors.isEmpty })
    var next = 0
    for (m, map) in maps.enumerated() {
        var c = comparisons[m]
        let expected: Set<String> = Set(resolutions.flatMap { r -> [String] in
            guard let n = r[map.network], n.outcome != .notSelected, n.outcome != .invalid else { return [] }
            return n.availableDevices.map { r.node + "/" + $0 }
        })
        let publishedKeys = Set(published[m].compactMap { p -> String? in
            guard case .string(let name)? = p.device.attributes["name"] else { return nil }
            return p.node + "/" + name
        })
        let expectedPublished = expected.intersection(publishedKeys)
        c.selectedByResolver = expectedPublished.count
        if c.compiled.refusal != nil {
            comparisons[m] = c
            continue
        }
        let result = results[next]
        next += 1
        switch result {
        case .failure(let f): c.problems.append("\(map.network): \(f)")
        case .success(let selected):
            var got: Set<String> = []
            for (p, s) in zip(published[m], selected) where s {
                guard case .string(let name)? = p.device.attributes["name"] else { continue }
                got.insert(p.node + "/" + name)
            }
            c.selectedByCEL = got.count
            for extra in got.subtracting(expected).sorted() {
                c.problems.append("\(map.network): CEL selects \(extra), which the resolver does not offer\n\(c.compiled.selectors.joined(separator: "\n"))")
            }
            let exact = !c.compiled.notes.contains { $0.contains(" is left out: ") || $0.contains(" applies to no node") }
            // Fields a `Matches` reads: a value outside printable ASCII never matches in CEL (documented).
            let matched = Set(map.spec.rules.flatMap(\.devices.matchExpressions).filter { $0.operator == .matches }.compactMap { DeviceField(rawValue: $0.key) })
            for missing in expectedPublished.subtracting(got).sorted() {
                let device = published[m].first { p in p.node + "/" + (p.device.attributes["name"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "") == missing }
                let source = fleet.first { $0.info.name == device?.node }?.devices.first { "\(device?.node ?? "")/\($0.name)" == missing }
                let nonASCII = source.map { d in matched.contains { f in f.values(of: d).contains { v in !v.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value <= 0x7e } } } } ?? true
                if exact && device?.device.isTruncated == false && !nonASCII {
                    c.problems.append("\(map.network): CEL misses \(missing), which the resolver offers\n\(c.compiled.selectors.joined(separator: "\n"))")
                }
            }
        }
        comparisons[m] = c
    }
    return comparisons
}

/// Maps as DRA networks: exclusive and `dra: true`.
func asDRA(_ map: NetworkDeviceMap) -> NetworkDeviceMap {
    var m = map
    m.spec.exclusive = true
    m.spec.dra = true
    if m.spec.attachment?.type == .hostDevice { m.spec.attachment?.mode = nil }
    return m
}

// cel-python is installed by hack/install-deps.sh (run by hack/test.sh); without it, cel_eval.py fails
// and the suite fails naming it rather than skipping itself.
@Suite("DeviceClass CEL equals the resolver")
struct EquivalenceTests {
    @Test("every example map on a synthetic fleet")
    func exampleMaps() throws {
        let files = try repositoryFiles(in: "manifests/examples", extensions: ["yaml"]) + repositoryFiles(in: "hack/lab/maps", extensions: ["yaml"])
        #expect(files.count >= 5)
        var maps: [NetworkDeviceMap] = []
        for file in files {
            for doc in try yamlDocuments(try readRepositoryFile(file)) where doc["kind"] == .string("NetworkDeviceMap") {
                maps.append(asDRA(try doc.decode(NetworkDeviceMap.self)))
            }
        }
        #expect(maps.count >= 5)
        var g = SyntheticFleet(seed: 17)
        let fleet = (0..<24).map { i in FleetNode(info: exampleNode(&g, i), devices: g.devices(4 + g.below(12)) + tricky(&g, count: 3)) }
        var selected = 0
        for map in maps {
            let c = try #require(try compare([map], fleet: fleet).first)
            #expect(c.problems.isEmpty, "\(c.problems.joined(separator: "\n"))")
            if map.spec.effectiveSelect != .fail { #expect(c.compiled.refusal == nil, "\(map.network): \(c.compiled.refusal ?? "")") }
            selected += c.selectedByCEL
        }
        #expect(selected > 0, "the examples select something on the fleet")
    }

    @Test("negative operators on a device with values left out never select it; on the others they agree")
    func negativeOperatorsOnTruncatedDevices() throws {
        let long = String(repeating: "x", count: 65)
        let truncated = NetworkDevice(
            name: "ens1", mac: "02:00:00:00:00:01", driver: long, addresses: (1...30).map { "10.0.\($0).1/24" },
            lldp: LLDPNeighbor(systemName: long, vlanIDs: Array(1...40), vlanNames: ["a,b"]))
        let plain = NetworkDevice(name: "ens2", mac: "02:00:00:00:00:02")
        let fleet = [FleetNode(info: NodeInfo(name: "n1"), devices: [truncated, plain])]
        var maps: [NetworkDeviceMap] = []
        for field in DeviceField.allCases where DRAAttributes.canBeOmitted(field) {
            let values = field.values(of: truncated)
            for e in [DeviceMatchExpression(key: field.rawValue, operator: .doesNotExist),
                      DeviceMatchExpression(key: field.rawValue, operator: .notIn, values: [values.first ?? "zz", "yy"])] {
                maps.append(asDRA(NetworkDeviceMap(name: "m\(maps.count)", spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [e])]))))
            }
        }
        var selectedPlain = 0
        for map in maps {
            let c = try #require(try compare([map], fleet: fleet).first)
            #expect(c.problems.isEmpty, "\(c.problems.joined(separator: "\n"))")
            selectedPlain += c.selectedByCEL
        }
        #expect(selectedPlain >= maps.count / 2, "the device with nothing left out is selected where the resolver offers it")
    }

    @Test("random maps and random devices, one map at a time and together")
    func randomMapsAndDevices() async throws {
        let totals = Mutex((cel: 0, resolver: 0, classes: 0))
        await propertyCheck(count: 60, input: Gen.int(in: 0...Int.max)) { seed in
            var g = SyntheticFleet(seed: UInt64(seed))
            let fleet = (0..<(1 + g.below(4))).map { i in
                FleetNode(info: g.node("node-\(i)"), devices: g.devices(g.below(8)) + tricky(&g, count: g.below(6)))
            }
            let pool = fleet.flatMap(\.devices)
            let maps = (0..<(1 + g.below(3))).map { i in asDRA(randomMap(&g, name: "net-\(i)", pool: pool)) }
            do {
                for c in try compare(maps, fleet: fleet) {
                    #expect(c.problems.isEmpty, "seed \(seed): \(c.problems.joined(separator: "\n"))")
                    totals.withLock { $0.cel += c.selectedByCEL; $0.resolver += c.selectedByResolver; $0.classes += c.compiled.refusal == nil ? 1 : 0 }
                }
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
        // The comparison is not vacuous: classes are rendered and select devices.
        let t = totals.withLock { $0 }
        print("DRA equivalence: \(t.classes) classes, \(t.cel) devices selected by CEL, \(t.resolver) offered by the resolver")
        #expect(t.classes > 20 && t.cel > 20, "\(t)")
    }
}

func exampleNode(_ g: inout SyntheticFleet, _ i: Int) -> NodeInfo {
    var n = g.node("worker-\(i)")
    // Labels the example maps select on.
    for (k, v) in [("hardware.example.com/generation", g.pick(["gen1", "gen2", "gen3"])),
                   ("automagic.example.com/passthrough", g.pick(["true", "false"]))] {
        n.labels[k] = v
    }
    return n
}

/// Devices with the values that are hard to encode: upper-case hex, long and non-ASCII strings, lists
/// with commas, zones and IPv4-mapped addresses, names of digits, many addresses, VLAN lists.
func tricky(_ g: inout SyntheticFleet, count: Int) -> [NetworkDevice] {
    (0..<count).map { i in
        var d = NetworkDevice(name: g.pick(["ens\(i)", "ENS\(i)", "1\(i)", "éth\(i)", "eth\(i)\u{301}", "bond\(i).100"]))
        d.kind = g.pick([.physical, .vlan, .bond, "future"])
        if g.below(4) != 0 { d.mac = String(format2: g.pick(["02:AA:BB:CC:DD:%02x", "02:aa:bb:cc:dd:%02x"]), 16 + i) }
        if g.below(2) == 0 { d.pciAddress = g.pick(["0000:5E:0\(i % 8).0", "0000:3b:1\(i % 8).\(i % 8)", "3b:00.\(i % 8)"]) }
        if g.below(3) == 0 { d.permanentMAC = "3C:FD:FE:AA:BB:0\(i % 10)" }
        d.mtu = g.below(3) == 0 ? nil : g.pick([1500, 9000])
        d.speedMbps = g.below(3) == 0 ? nil : g.pick([0, 1000, 25000, 100000])
        d.driver = g.pick([nil, "ice", "mlx5_core", String(repeating: "d", count: 70)])
        d.vendorID = g.pick([nil, "8086", "15B3"])
        d.numaNode = g.pick([nil, 0, 1])
        d.carrier = g.pick([nil, true, false])
        d.hasDefaultRoute = g.pick([nil, true, false])
        d.operState = g.pick([nil, "up", "down", "UP"])
        d.altNames = g.pick([nil, [], ["enp94s0f\(i)np\(i)"], ["a,b"], ["x\(i)", "y\(i)"], [""]])
        d.addresses = g.pick([
            nil, [], ["192.168.60.\(10 + i)/24"], ["192.168.60.\(10 + i)"], ["fe80::1%eth0"], ["::ffff:192.168.60.5"],
            ["192.168.60.11/24", "2001:db8:60::11/64", "fe80::3efd:feff:feaa:bb01/64"],
            (1...9).map { "10.\(i).\($0).1/24" }, (1...30).map { "10.\(i).\($0).1/24" }, ["not-an-address", "010.0.0.1/8"],
        ])
        if g.below(2) == 0 {
            d.lldp = LLDPNeighbor(
                chassisID: g.pick([nil, "AA:BB:CC:00:00:01"]), portID: g.pick([nil, "Ethernet1/\(i)", "42"]),
                systemName: g.pick([nil, "leaf-07.dc1", "Leaf-07.DC1", String(repeating: "s", count: 80), "leaf\u{e9}"]),
                portDescription: g.pick([nil, "uplink to spine", "line\nbreak"]),
                managementAddress: g.pick([nil, "10.0.0.1", "2001:db8::1"]),
                vlanIDs: g.pick([nil, [100], [100, 200], Array(1...40)]),
                vlanNames: g.pick([nil, ["storage"], ["a,b"], ["prod", "dev"]]))
        }
        if g.below(3) == 0 { d.sriov = SRIOVInfo(totalVFs: g.pick([nil, 8, 64]), numVFs: g.pick([nil, 0, 4]), pfName: g.pick([nil, "ens0"])) }
        if g.below(4) == 0 { d.parent = g.pick(["bond0", "ens0"]) }
        return d
    }
}

/// A random valid map: 1–3 rules of 1–4 expressions on any field with any operator; operands
/// mostly taken from `pool`'s own values (so that rules match), some node selectors.
func randomMap(_ g: inout SyntheticFleet, name: String, pool: [NetworkDevice]) -> NetworkDeviceMap {
    var rules: [DeviceRule] = []
    for i in 0..<(1 + g.below(3)) {
        var exprs: [DeviceMatchExpression] = []
        for _ in 0..<(1 + g.below(4)) {
            let field = g.pick(DeviceField.allCases)
            var seen = pool.flatMap { field.values(of: $0) }
            if seen.isEmpty { seen = ["x"] }
            let value = g.pick(seen)
            let op = g.pick([MatchOperator.in, .notIn, .exists, .doesNotExist, .gt, .lt, .matches, .inCIDR])
            var e = DeviceMatchExpression(key: field.rawValue, operator: op)
            switch op {
            case .in, .notIn:
                var values = [value] + (g.below(2) == 0 ? [g.pick(seen)] : [])
                if field.isCaseInsensitive && g.below(2) == 0 { values = values.map { $0.uppercased() } }
                if field.valueType == .boolean { values = values.filter { ["true", "false"].contains($0.lowercased()) } }
                if field.valueType == .integer { values = values.filter { Int($0) != nil } }
                if values.isEmpty { values = field.valueType == .boolean ? ["true"] : field.valueType == .integer ? ["1"] : ["x"] }
                e.values = values
            case .gt, .lt:
                e.values = [String(Int(value).map { $0 + g.pick([-1, 0, 1]) } ?? g.pick([0, 100, 9000]))]
            case .matches:
                e.values = [g.pick([
                    "^" + String(value.prefix(3)).filter { $0.isLetter || $0.isNumber }, "[0-9]$", "(?i)^LEAF", "^ens[0-9]+f?[01]?$", ".",
                    "^$", "a{2,}", "\\d{3}", "^(ice|i40e)$", "[^a-z]", "\\bens", "(?=e)e", "(e)\\1", "e*+", "[[:alpha:]]", "x{,2}",
                    ".+\\.dc1$", "^[a-f0-9:]+$",
                ])]
            case .inCIDR:
                e.values = [g.pick(["192.168.60.0/24", "10.0.0.0/8", "2001:db8::/32", "fe80::/10", "0.0.0.0/0", "::/0", "192.168.60.11/32", "10.1.0.0/16"])]
            default:
                break
            }
            exprs.append(e)
        }
        rules.append(DeviceRule(
            name: g.below(2) == 0 ? "r\(i)" : nil,
            nodeSelector: g.below(4) == 0 ? LabelSelector(matchLabels: ["hw": g.pick(["gen1", "gen2", "gen3"])]) : nil,
            expressions: exprs))
    }
    var meta = ObjectMeta(name: name)
    meta.creationTimestamp = "2026-0\(1 + g.below(9))-10T00:00:00Z"
    return NetworkDeviceMap(metadata: meta, spec: NetworkDeviceMapSpec(
        nodeSelector: g.below(4) == 0 ? LabelSelector(matchLabels: ["topology.kubernetes.io/zone": g.pick(["a", "b"])]) : nil,
        rules: rules, select: g.pick([nil, .first, .highestSpeed]), exclusive: true, dra: true))
}

extension String {
    /// `format` with its one `%02x` replaced by `value` in two lower-case hex digits.
    init(format2 format: String, _ value: Int) {
        let hex = String(value, radix: 16)
        let two = hex.count == 1 ? "0" + hex : hex
        var out = ""
        var rest = Substring(format)
        while let r = rest.firstIndex(of: "%") {
            out += rest[..<r] + two
            rest = rest[rest.index(r, offsetBy: 4)...]
        }
        self = out + rest
    }
}
