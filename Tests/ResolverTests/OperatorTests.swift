import AutomagicAPI
import Resolver
import Testing

struct OperatorCase: Sendable, CustomTestStringConvertible {
    let key: String
    let op: MatchOperator
    let values: [String]?
    let expected: [String]
    var testDescription: String { "\(key) \(op) \(values ?? [])" }
    init(_ key: String, _ op: MatchOperator, _ values: [String]?, _ expected: [String]) {
        self.key = key
        self.op = op
        self.values = values
        self.expected = expected
    }
}

@Suite("Operators and keys")
struct OperatorTests {
    static let cases: [OperatorCase] = [
        // In / NotIn on strings, case-insensitive hardware identifiers, integers, booleans, lists.
        .init("driver", .in, ["ice"], ["ens5f0", "ens5f1"]),
        .init("driver", .in, ["ice", "igb"], ["eno1", "ens5f0", "ens5f1"]),
        .init("driver", .in, ["ICE"], []),
        .init("driver", .notIn, ["ice"], ["eno1", "ens6f0", "veth0"]),
        .init("name", .in, ["eno1"], ["eno1"]),
        .init("mac", .in, ["3c:fd:fe:aa:bb:01"], ["ens5f1"]),
        .init("mac", .in, ["3C:FD:FE:AA:BB:00"], ["ens5f0"]),
        .init("pciAddress", .in, ["0000:5E:00.1"], ["ens5f1"]),
        .init("vendorID", .in, ["8086"], ["eno1", "ens5f0", "ens5f1", "ens6f0"]),
        .init("deviceID", .notIn, ["159b"], ["eno1", "ens6f0", "veth0"]),
        .init("kind", .in, ["veth"], ["veth0"]),
        .init("operState", .in, ["down"], ["ens6f0"]),
        .init("mtu", .in, ["9000"], ["ens5f0", "ens5f1"]),
        .init("mtu", .in, ["09000"], ["ens5f0", "ens5f1"]),
        .init("carrier", .in, ["false"], ["ens6f0"]),
        .init("carrier", .in, ["True"], ["eno1", "ens5f0", "ens5f1", "veth0"]),
        .init("hasDefaultRoute", .in, ["true"], ["eno1"]),
        .init("numaNode", .in, ["1"], ["ens6f0"]),
        .init("sriov.totalVFs", .in, ["64"], ["ens5f0", "ens5f1"]),
        .init("altNames", .in, ["enp94s0f0np0"], ["ens5f0"]),
        .init("altNames", .notIn, ["enp94s0f0np0"], ["eno1", "ens5f1", "ens6f0", "veth0"]),
        .init("addresses", .in, ["10.20.0.11/16"], ["ens5f1"]),
        .init("lldp.vlanIDs", .in, ["61"], ["ens5f0"]),
        .init("lldp.vlanIDs", .notIn, ["60"], ["eno1", "ens5f1", "ens6f0", "veth0"]),
        .init("lldp.systemName", .in, ["leaf-07.dc1"], ["ens5f0"]),
        .init("lldp.chassisID", .in, ["00:1C:73:00:00:01"], ["ens5f0"]),
        // Exists / DoesNotExist, including absent nested objects and empty lists.
        .init("speedMbps", .exists, nil, ["eno1", "ens5f0", "ens5f1"]),
        .init("speedMbps", .doesNotExist, nil, ["ens6f0", "veth0"]),
        .init("lldp.systemName", .exists, nil, ["ens5f0", "ens5f1"]),
        .init("lldp.portID", .exists, nil, ["ens5f0"]),
        .init("sriov.pfName", .exists, nil, []),
        .init("sriov.numVFs", .exists, nil, ["ens5f0", "ens5f1"]),
        .init("addresses", .doesNotExist, nil, ["ens6f0", "veth0"]),
        .init("altNames", .exists, nil, ["ens5f0"]),
        .init("pciAddress", .doesNotExist, nil, ["veth0"]),
        .init("parent", .doesNotExist, nil, ["eno1", "ens5f0", "ens5f1", "ens6f0", "veth0"]),
        // Gt / Lt: integers only; absent and non-numeric fields never match.
        .init("speedMbps", .gt, ["10000"], ["ens5f0", "ens5f1"]),
        .init("speedMbps", .gt, ["25000"], []),
        .init("speedMbps", .lt, ["25000"], ["eno1"]),
        .init("mtu", .gt, ["1500"], ["ens5f0", "ens5f1"]),
        .init("mtu", .lt, ["-1"], []),
        .init("sriov.numVFs", .gt, ["0"], ["ens5f0"]),
        .init("numaNode", .lt, ["1"], ["ens5f0", "ens5f1"]),
        .init("lldp.vlanIDs", .gt, ["100"], ["ens5f1"]),
        .init("driver", .gt, ["0"], []),
        .init("lldp.portID", .gt, ["0"], []),
        // Matches: unanchored search unless anchored; any element of a list.
        .init("name", .matches, ["^ens5f[0-9]+$"], ["ens5f0", "ens5f1"]),
        .init("name", .matches, ["f1"], ["ens5f1"]),
        .init("name", .matches, ["^eno", "^veth"], ["eno1", "veth0"]),
        .init("altNames", .matches, ["np0$"], ["ens5f0"]),
        .init("lldp.systemName", .matches, ["^leaf-0[78]\\."], ["ens5f0", "ens5f1"]),
        .init("driver", .matches, ["^mlx5"], []),
        .init("pciAddress", .matches, ["^0000:5e:"], ["ens5f0", "ens5f1"]),
        .init("speedMbps", .matches, ["^25"], ["ens5f0", "ens5f1"]),
        // InCIDR: IPv4 and IPv6, any address of the device, host bits in the value ignored.
        .init("addresses", .inCIDR, ["192.168.60.0/24"], ["ens5f0"]),
        .init("addresses", .inCIDR, ["192.168.60.77/24"], ["ens5f0"]),
        .init("addresses", .inCIDR, ["10.0.0.0/8", "172.16.0.0/12"], ["eno1", "ens5f1"]),
        .init("addresses", .inCIDR, ["2001:db8:60::/48"], ["ens5f0"]),
        .init("addresses", .inCIDR, ["2001:db8:61::/48"], []),
        .init("addresses", .inCIDR, ["0.0.0.0/0"], ["eno1", "ens5f0", "ens5f1"]),
        .init("addresses", .inCIDR, ["::/0"], ["ens5f0"]),
        .init("addresses", .inCIDR, ["192.168.60.11/32"], ["ens5f0"]),
        .init("driver", .inCIDR, ["0.0.0.0/0"], []),
    ]

    @Test(arguments: cases)
    func expression(_ c: OperatorCase) throws {
        #expect(try matching(expr(c.key, c.op, c.values)) == c.expected)
    }

    @Test("every key and every operator appear in the table")
    func coverage() {
        let keys = Set(Self.cases.map(\.key))
        let covered = DeviceField.allCases.filter { keys.contains($0.rawValue) }.count
        // Keys not in the table are covered by `everyKeyIsReadable`.
        #expect(covered >= 20)
        #expect(Set(Self.cases.map(\.op)) == Set(MatchOperator.allKnown))
    }

    @Test("every key reads its field, and Exists holds exactly when the field is set")
    func everyKeyIsReadable() throws {
        let full = NetworkDevice(
            name: "x", altNames: ["a"], kind: .vf, mac: "aa:aa:aa:aa:aa:aa", permanentMAC: "bb:bb:bb:bb:bb:bb", mtu: 1,
            operState: "up", carrier: true, speedMbps: 2, driver: "d", pciAddress: "0000:00:00.0", vendorID: "abcd",
            deviceID: "ef01", numaNode: 3, sriov: SRIOVInfo(totalVFs: 4, numVFs: 5, pfName: "pf"), parent: "p",
            addresses: ["1.2.3.4/5"], hasDefaultRoute: false,
            lldp: LLDPNeighbor(chassisID: "c", portID: "p", systemName: "s", portDescription: "d", managementAddress: "10.0.0.1",
                               vlanIDs: [7], vlanNames: ["v"], lastHeard: "2026-11-28T22:00:00Z"))
        let empty = NetworkDevice(name: "y")
        for field in DeviceField.allCases {
            let matched = try matching(expr(field.rawValue, .exists), devices: [full, empty])
            #expect(matched == (field == .name ? ["x", "y"] : ["x"]), "\(field)")
            #expect(!field.values(of: full).isEmpty, "\(field)")
        }
        #expect(DeviceField.lldpManagementAddress.values(of: full) == ["10.0.0.1"])
        #expect(try matching(expr("lldp.managementAddress", .inCIDR, ["10.0.0.0/24"]), devices: [full, empty]) == ["x"])
        #expect(try matching(expr("permanentMAC", .in, ["BB:BB:BB:BB:BB:BB"]), devices: [full, empty]) == ["x"])
        #expect(try matching(expr("lldp.vlanNames", .in, ["v"]), devices: [full, empty]) == ["x"])
        #expect(try matching(expr("sriov.pfName", .in, ["pf"]), devices: [full, empty]) == ["x"])
        #expect(try matching(expr("kind", .in, ["vf"]), devices: [full, empty]) == ["x"])
    }

    @Test("no devices: nothing matches and the node is unresolved with a reason")
    func noDevices() throws {
        let r = Resolver.resolve(node: worker, devices: [], maps: [map("storage", expr("driver", .in, ["ice"]))])
        let n = try #require(r["storage"])
        #expect(n.outcome == .unresolved)
        #expect(n.device == nil)
        #expect(n.message == "node worker-1 has no devices")
    }
}

@Suite("Explanations")
struct ExplanationTests {
    @Test("each failing expression is named for each device")
    func failingExpressions() throws {
        let m = map("storage", expr("driver", .in, ["ice"]), expr("speedMbps", .gt, ["10000"]), expr("addresses", .inCIDR, ["10.20.0.0/16"]))
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [m])
        let n = try #require(r["storage"])
        #expect(n.outcome == .resolved)
        #expect(n.device == "ens5f1")
        let trace = try #require(n.trace.first)
        #expect(trace.matched == ["ens5f1"])
        let byDevice = Dictionary(uniqueKeysWithValues: trace.rejected.map { ($0.device, $0.reasons) })
        #expect(byDevice["eno1"] == [
            "driver In [ice]: device eno1 has igb",
            "speedMbps Gt 10000: device eno1 has 1000",
            "addresses InCIDR [10.20.0.0/16]: device eno1 has [172.16.0.5/24]",
        ])
        #expect(byDevice["ens6f0"] == [
            "driver In [ice]: device ens6f0 has i40e",
            "speedMbps Gt 10000: device ens6f0 has no speedMbps",
            "addresses InCIDR [10.20.0.0/16]: device ens6f0 has no addresses",
        ])
        #expect(byDevice["ens5f0"] == ["addresses InCIDR [10.20.0.0/16]: device ens5f0 has [192.168.60.11/24, 2001:db8:60::11/64]"])
        #expect(n.explanation.contains("    driver In [ice]: device veth0 has veth"))
        #expect(n.nodeNetworkStatus == NodeNetworkStatus(network: "storage", device: "ens5f1", rule: "rules[0]", message: "rule rules[0] chose ens5f1"))
    }

    @Test("numeric comparison on a string field is a non-match with a clear reason")
    func numericOnString() throws {
        let r = Resolver.resolve(node: worker, devices: [ens6f0], maps: [map("m", expr("driver", .gt, ["5"]))])
        let n = try #require(r["m"])
        #expect(n.outcome == .unresolved)
        #expect(n.trace.first?.rejected.first?.reasons == ["driver Gt 5: device ens6f0 has non-numeric driver i40e"])
        #expect(n.message == "no device matched any rule (1 devices, 1 of 1 rules apply to this node)")
    }

    @Test("Exists, DoesNotExist, NotIn and Matches failures")
    func otherFailures() throws {
        let m = map("m", expr("lldp.systemName", .exists), expr("sriov.totalVFs", .doesNotExist), expr("driver", .notIn, ["ice"]), expr("name", .matches, ["^eth"]))
        let r = Resolver.resolve(node: worker, devices: [ens5f1, veth0], maps: [m])
        let trace = try #require(r["m"]?.trace.first)
        let byDevice = Dictionary(uniqueKeysWithValues: trace.rejected.map { ($0.device, $0.reasons) })
        #expect(byDevice["ens5f1"] == [
            "sriov.totalVFs DoesNotExist: device ens5f1 has 64",
            "driver NotIn [ice]: device ens5f1 has ice",
            "name Matches [^eth]: device ens5f1 has ens5f1",
        ])
        #expect(byDevice["veth0"] == [
            "lldp.systemName Exists: device veth0 has no lldp.systemName",
            "name Matches [^eth]: device veth0 has veth0",
        ])
    }

    @Test("summary detail decides the same and builds no trace")
    func summary() throws {
        let maps = [map("a", expr("driver", .in, ["ice"])), map("b", expr("speedMbps", .gt, ["1"]), select: .highestSpeed)]
        let full = Resolver.resolve(node: worker, devices: allDevices, maps: maps, detail: .full)
        let summary = Resolver.resolve(node: worker, devices: allDevices, maps: maps, detail: .summary)
        #expect(full.devicesByNetwork == summary.devicesByNetwork)
        #expect(full.networks.map(\.message) == summary.networks.map(\.message))
        #expect(summary.networks.allSatisfy { $0.trace.isEmpty })
        #expect(full.networks.allSatisfy { !$0.trace.isEmpty })
    }
}
