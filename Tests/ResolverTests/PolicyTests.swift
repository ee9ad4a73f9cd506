import AutomagicAPI
import JSON
import KubeCore
import Resolver
import Testing
import TestSupport

@Suite("Rule order, node selectors and select policies")
struct PolicyTests {
    @Test("the first rule that matches some device decides; later rules are not evaluated")
    func ruleOrder() throws {
        let m = map("storage", rules: [
            DeviceRule(name: "mellanox", expressions: [expr("driver", .in, ["mlx5_core"])]),
            DeviceRule(name: "intel-25g", expressions: [expr("driver", .in, ["ice"])]),
            DeviceRule(name: "anything-up", expressions: [expr("operState", .in, ["up"])]),
        ])
        let n = try #require(Resolver.resolve(node: worker, devices: allDevices, maps: [m])["storage"])
        #expect(n.outcome == .resolved)
        #expect(n.device == "ens5f0")
        #expect(n.rule == RuleRef(index: 1, name: "intel-25g"))
        #expect(n.nodeNetworkStatus.rule == "intel-25g")
        #expect(n.trace.map(\.rule.index) == [0, 1])
        #expect(n.trace[0].matched.isEmpty)
        #expect(n.candidates == ["ens5f0", "ens5f1"])
        #expect(n.message == "rule intel-25g chose ens5f0 (first by name of 2 matching devices)")
    }

    @Test("a rule whose nodeSelector excludes the node is skipped")
    func perRuleNodeSelector() throws {
        let m = map("storage", rules: [
            DeviceRule(name: "gen1", nodeSelector: LabelSelector(matchLabels: ["hw": "gen1"]), expressions: [expr("driver", .in, ["i40e"])]),
            DeviceRule(name: "gen2", nodeSelector: LabelSelector(matchExpressions: [LabelSelectorRequirement(key: "hw", operator: .in, values: ["gen2", "gen3"])]), expressions: [expr("driver", .in, ["ice"])]),
        ])
        let n = try #require(Resolver.resolve(node: worker, devices: allDevices, maps: [m])["storage"])
        #expect(n.device == "ens5f0")
        #expect(n.rule?.name == "gen2")
        #expect(n.trace.first?.nodeSelected == false)
        #expect(n.explanation.contains("rules[0] (gen1): node not selected by the rule's nodeSelector"))

        let gen9 = NodeInfo(name: "w9", labels: ["hw": "gen9"])
        let none = try #require(Resolver.resolve(node: gen9, devices: allDevices, maps: [m])["storage"])
        #expect(none.outcome == .unresolved)
        #expect(none.message == "no rule's nodeSelector selects node w9")
    }

    @Test("maps outside the node's nodeSelector are not selected, which is not an error")
    func notSelected() throws {
        var m = map("storage", expr("driver", .in, ["ice"]))
        m.spec.nodeSelector = LabelSelector(matchLabels: ["storage": "true"])
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [m])
        let n = try #require(r["storage"])
        #expect(n.outcome == .notSelected)
        #expect(n.device == nil)
        #expect(n.message == "node worker-1 is not selected by spec.nodeSelector")
        #expect(r.networkStatuses.isEmpty)
        // An empty selector selects every node.
        m.spec.nodeSelector = LabelSelector()
        #expect(Resolver.resolve(node: worker, devices: allDevices, maps: [m])["storage"]?.device == "ens5f0")
    }

    struct SelectCase: Sendable, CustomTestStringConvertible {
        let policy: SelectPolicy
        let devices: [NetworkDevice]
        let device: String?
        let message: String
        var testDescription: String { "\(policy) over \(devices.map(\.name))" }
    }

    static let a = NetworkDevice(name: "eth10", speedMbps: 10000, driver: "x")
    static let b = NetworkDevice(name: "eth2", speedMbps: 10000, driver: "x")
    static let c = NetworkDevice(name: "eth3", speedMbps: 25000, driver: "x")
    static let d = NetworkDevice(name: "eth1", driver: "x")

    static let selectCases: [SelectCase] = [
        .init(policy: .first, devices: [a, b, c], device: "eth2", message: "rule rules[0] chose eth2 (first by name of 3 matching devices)"),
        .init(policy: .first, devices: [a], device: "eth10", message: "rule rules[0] chose eth10"),
        .init(policy: .highestSpeed, devices: [a, b, c, d], device: "eth3", message: "rule rules[0] chose eth3 (highest speed of 4 matching devices, 25000 Mbps)"),
        // A tie at the top: natural name order decides (eth2 before eth10).
        .init(policy: .highestSpeed, devices: [a, b, d], device: "eth2", message: "rule rules[0] chose eth2 (highest speed of 3 matching devices, 10000 Mbps)"),
        // Unknown speed ranks lowest; all unknown: name order.
        .init(policy: .highestSpeed, devices: [d, NetworkDevice(name: "eth0", driver: "x")], device: "eth0", message: "rule rules[0] chose eth0 (highest speed of 2 matching devices)"),
        .init(policy: .fail, devices: [a, b], device: nil, message: "rule rules[0] matched 2 devices (eth2, eth10) and select is Fail"),
        .init(policy: .fail, devices: [c], device: "eth3", message: "rule rules[0] chose eth3"),
    ]

    @Test(arguments: selectCases)
    func select(_ c: SelectCase) throws {
        let m = map("net", expr("driver", .in, ["x"]), select: c.policy)
        let n = try #require(Resolver.resolve(node: worker, devices: c.devices, maps: [m])["net"])
        #expect(n.device == c.device)
        #expect(n.outcome == (c.device == nil ? .unresolved : .resolved))
        #expect(n.message == c.message)
    }

    @Test("HighestSpeed orders the candidates by speed, then by name")
    func highestSpeedOrder() throws {
        let m = map("net", expr("driver", .in, ["x"]), select: .highestSpeed)
        let n = try #require(Resolver.resolve(node: worker, devices: [Self.d, Self.a, Self.c, Self.b], maps: [m])["net"])
        #expect(n.candidates == ["eth3", "eth2", "eth10", "eth1"])
    }

    @Test("Fail stops at the ambiguous rule even when a later rule would match one device")
    func failStops() throws {
        let m = map("net", rules: [
            DeviceRule(expressions: [expr("driver", .in, ["ice"])]),
            DeviceRule(expressions: [expr("name", .in, ["eno1"])]),
        ], select: .fail)
        let n = try #require(Resolver.resolve(node: worker, devices: allDevices, maps: [m])["net"])
        #expect(n.outcome == .unresolved)
        #expect(n.message == "rule rules[0] matched 2 devices (ens5f0, ens5f1) and select is Fail")
        #expect(n.trace.count == 1)
    }

    @Test("natural name order")
    func naturalOrder() {
        #expect(NaturalOrder.sorted(["eth10", "eth2", "eth1", "eno1", "ens5f10", "ens5f2", "eth01"]) == ["eno1", "ens5f2", "ens5f10", "eth01", "eth1", "eth2", "eth10"])
        #expect(NaturalOrder.less("a", "b"))
        #expect(!NaturalOrder.less("b", "a"))
        #expect(!NaturalOrder.less("x", "x"))
        #expect(NaturalOrder.less("x9", "x10"))
        #expect(NaturalOrder.less("x", "x0"))
    }

    @Test("an invalid map is reported as invalid and does not disturb the others")
    func invalidMapIsolated() throws {
        let bad = map("bad", expr("name", .matches, ["("]))
        let good = map("good", expr("driver", .in, ["igb"]))
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [bad, good])
        #expect(r.networks.map(\.network) == ["bad", "good"])
        let n = try #require(r["bad"])
        #expect(n.outcome == .invalid)
        #expect(n.validationErrors.first?.field == "spec.rules[0].devices.matchExpressions[0].values[0]")
        #expect(n.message.hasPrefix("invalid spec: spec.rules[0].devices.matchExpressions[0].values[0]: invalid regular expression '('"))
        #expect(r["good"]?.device == "eno1")
        #expect(r.networkStatuses.map(\.network) == ["bad", "good"])
    }
}

@Suite("Exclusive devices and conflicts")
struct ExclusiveTests {
    static let ice = expr("driver", .in, ["ice"])

    @Test("non-exclusive networks share a device without conflict")
    func sharing() throws {
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [map("a", Self.ice), map("b", Self.ice)])
        #expect(r.devicesByNetwork == ["a": "ens5f0", "b": "ens5f0"])
        #expect(r.networks.allSatisfy { $0.conflicts.isEmpty })
    }

    @Test("the older map keeps the device; the newer exclusive one falls back to its next candidate; both report it")
    func olderWins() throws {
        let storage = map("storage", Self.ice, created: "2026-01-01T00:00:00Z")
        let passthrough = map("passthrough", Self.ice, exclusive: true, created: "2026-02-01T00:00:00Z")
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [passthrough, storage])
        #expect(r.devicesByNetwork == ["storage": "ens5f0", "passthrough": "ens5f1"])
        let p = try #require(r["passthrough"])
        #expect(p.conflicts == [ResolutionConflict(device: "ens5f0", network: "storage", winner: "storage",
            message: "device ens5f0 is held by network storage, which has priority (created earlier); passthrough uses ens5f1 instead")])
        #expect(p.message == "rule rules[0] chose ens5f1 (first by name of 2 matching devices); skipped ens5f0 (held by storage)")
        let s = try #require(r["storage"])
        #expect(s.conflicts == [ResolutionConflict(device: "ens5f0", network: "passthrough", winner: "storage",
            message: "exclusive network passthrough also matched device ens5f0; storage keeps it (created earlier)")])
        #expect(p.availableDevices == ["ens5f1"])
        #expect(s.availableDevices.isEmpty)
    }

    @Test("an exclusive network's device is not given to a newer shared network")
    func exclusiveHolds() throws {
        let hd = map("hostdev", expr("pciAddress", .in, ["0000:5e:00.0"]), exclusive: true, created: "2026-01-01T00:00:00Z")
        let storage = map("storage", Self.ice, created: "2026-03-01T00:00:00Z")
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [storage, hd])
        #expect(r.devicesByNetwork == ["hostdev": "ens5f0", "storage": "ens5f1"])
        #expect(r["storage"]?.conflicts.first?.message == "device ens5f0 is held by exclusive network hostdev, which has priority (created earlier); storage uses ens5f1 instead")
    }

    @Test("with no alternative the loser is unresolved and says who holds the device")
    func noAlternative() throws {
        let a = map("a-old", expr("name", .in, ["eno1"]), exclusive: true, created: "2026-01-01T00:00:00Z")
        let b = map("b-new", expr("name", .in, ["eno1"]), exclusive: true, created: "2026-01-02T00:00:00Z")
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [b, a])
        let loser = try #require(r["b-new"])
        #expect(loser.outcome == .unresolved)
        #expect(loser.message == "every matching device is held by another network: eno1 (held by a-old)")
        #expect(loser.conflicts.first?.message == "device eno1 is held by exclusive network a-old, which has priority (created earlier); b-new has no other device")
        #expect(r["a-old"]?.conflicts.count == 1)
        #expect(r["a-old"]?.device == "eno1")
    }

    @Test("same age: the name that sorts first wins; a map not yet created loses to created ones")
    func tieBreaks() throws {
        let x = map("x", expr("name", .in, ["eno1"]), exclusive: true, created: "2026-01-01T00:00:00Z")
        let y = map("y", expr("name", .in, ["eno1"]), exclusive: true, created: "2026-01-01T00:00:00Z")
        #expect(Resolver.resolve(node: worker, devices: allDevices, maps: [y, x]).devicesByNetwork == ["x": "eno1"])
        let preview = map("a-preview", expr("name", .in, ["eno1"]), exclusive: true)
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [preview, y])
        #expect(r.devicesByNetwork == ["y": "eno1"])
        #expect(r["a-preview"]?.conflicts.first?.message.contains("a-preview is not created yet") == true)
        let u = map("u", expr("name", .in, ["eno1"]), exclusive: true)
        let v = map("v", expr("name", .in, ["eno1"]), exclusive: true)
        #expect(Resolver.resolve(node: worker, devices: allDevices, maps: [v, u]).devicesByNetwork == ["u": "eno1"])
    }

    @Test("the loser falls back to a later rule")
    func fallbackToLaterRule() throws {
        let old = map("old", expr("name", .in, ["ens5f0"]), exclusive: true, created: "2026-01-01T00:00:00Z")
        let new = map("new", rules: [
            DeviceRule(name: "preferred", expressions: [expr("name", .in, ["ens5f0"])]),
            DeviceRule(name: "fallback", expressions: [expr("driver", .in, ["igb"])]),
        ], exclusive: true, created: "2026-02-01T00:00:00Z")
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [new, old])
        #expect(r["new"]?.device == "eno1")
        #expect(r["new"]?.rule?.name == "fallback")
        #expect(r["new"]?.conflicts.count == 1)
    }

    @Test("availableDevices counts the exclusive network's unclaimed matches over all rules")
    func available() throws {
        let hd = map("hd", rules: [
            DeviceRule(expressions: [expr("driver", .in, ["ice"])]),
            DeviceRule(expressions: [expr("driver", .in, ["i40e"])]),
        ], exclusive: true, created: "2026-01-02T00:00:00Z")
        let other = map("other", expr("name", .in, ["ens5f1"]), created: "2026-01-01T00:00:00Z")
        let r = Resolver.resolve(node: worker, devices: allDevices, maps: [hd, other])
        #expect(r["hd"]?.device == "ens5f0")
        #expect(r["hd"]?.availableDevices == ["ens5f0", "ens6f0"])
        #expect(r["hd"]?.conflicts.isEmpty == true)
        // The agent resolves with `.summary`: the candidate set is the same, in the same order.
        let summary = Resolver.resolve(node: worker, devices: allDevices, maps: [hd, other], detail: .summary)
        #expect(summary["hd"]?.availableDevices == ["ens5f0", "ens6f0"])
    }

    @Test("the passthrough example offers every spare E810 port of a node, not just one")
    func passthroughExampleOffersEveryPort() throws {
        let text = try readRepositoryFile("manifests/examples/dpdk-passthrough-exclusive.yaml")
        let example = try #require(try yamlDocuments(text).first).decode(NetworkDeviceMap.self)
        let spare = { (name: String, pci: String) in
            NetworkDevice(name: name, kind: .physical, mac: "3c:fd:fe:00:00:\(name.suffix(2))", mtu: 1500, operState: "up",
                          carrier: true, speedMbps: 25000, driver: "ice", pciAddress: pci, vendorID: "8086", deviceID: "159b",
                          numaNode: 0, sriov: SRIOVInfo(totalVFs: 64, numVFs: 0))
        }
        let node = NodeInfo(name: "dpdk-1", labels: ["automagic.example.com/passthrough": "true"])
        let devices = [spare("ens7f0", "0000:d8:00.0"), spare("ens7f1", "0000:d8:00.1"), eno1]
        let r = try #require(Resolver.resolve(node: node, devices: devices, maps: [example])["passthrough"])
        #expect(r.outcome == .resolved, "\(r.message)")
        #expect(r.candidates == ["ens7f0", "ens7f1"])
        #expect(r.availableDevices == ["ens7f0", "ens7f1"], "both ports are offered to the kubelet, one pod each")
        // What the example's comment once advertised: select Fail leaves such a node unresolved.
        var failing = example
        failing.spec.select = .fail
        let refused = try #require(Resolver.resolve(node: node, devices: devices, maps: [failing])["passthrough"])
        #expect(refused.outcome == .unresolved)
        #expect(refused.availableDevices.isEmpty)
    }
}
