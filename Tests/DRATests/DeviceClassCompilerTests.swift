import AutomagicAPI
@testable import DRA
import JSON
import KubeCore
import Resolver
import Testing

private func map(_ rules: [DeviceRule], select: SelectPolicy? = nil, nodeSelector: LabelSelector? = nil) -> NetworkDeviceMap {
    NetworkDeviceMap(name: "storage", spec: NetworkDeviceMapSpec(nodeSelector: nodeSelector, rules: rules, select: select, exclusive: true, dra: true))
}

private func rule(_ exprs: DeviceMatchExpression..., name: String? = nil, nodeSelector: LabelSelector? = nil) -> DeviceRule {
    DeviceRule(name: name, nodeSelector: nodeSelector, expressions: exprs)
}

private let A = #"device.attributes["automagic.dev"]"#

@Suite struct DeviceClassCompilerTests {
    @Test func oneRuleCompilesToTheDriverCheckAndItsExpressions() throws {
        let c = DeviceClassCompiler.compile(map([rule(
            DeviceMatchExpression(key: "driver", operator: .in, values: ["ice", "i40e"]),
            DeviceMatchExpression(key: "speedMbps", operator: .gt, values: ["10000"]))]))
        #expect(c.refusal == nil && c.notes.isEmpty)
        #expect(c.className == "storage.automagic.dev")
        #expect(c.selectors == [
            #"device.driver == "automagic.dev""#,
            "((has(\(A).driver) && \(A).driver in [\"ice\", \"i40e\"]) && (has(\(A).speedMbps) && \(A).speedMbps > 10000))",
        ])
        let dc = try #require(c.deviceClass(owner: OwnerReference(apiVersion: "automagic.dev/v1alpha1", kind: "NetworkDeviceMap", name: "storage", uid: "u1", controller: true)))
        #expect(dc["apiVersion"] == "resource.k8s.io/v1" && dc["kind"] == "DeviceClass")
        #expect(dc["metadata"]?["name"] == "storage.automagic.dev")
        #expect(dc["metadata"]?["ownerReferences"]?[0]?["uid"] == "u1")
        #expect(dc["spec"]?["selectors"]?[1]?["cel"]?["expression"] == .string(c.selectors[1]))
    }

    @Test func caseInsensitiveOperandsAreLowerCasedAndIntegersCanonical() {
        let c = DeviceClassCompiler.compile(map([rule(
            DeviceMatchExpression(key: "vendorID", operator: .in, values: ["15B3"]),
            DeviceMatchExpression(key: "mtu", operator: .notIn, values: ["+9000"]))]))
        #expect(c.selectors[1].contains(#"in ["15b3"]"#), "\(c.selectors)")
        #expect(c.selectors[1].contains("\(A).mtu in [9000]"), "\(c.selectors)")
        #expect(c.selectors[1].contains("(has(\(A).mtu) ? !"), "an absent integer satisfies NotIn: \(c.selectors)")
    }

    @Test func negativeOperatorsOnOmittableFieldsRequireNothingLeftOut() {
        let c = DeviceClassCompiler.compile(map([rule(DeviceMatchExpression(key: "lldp.systemName", operator: .doesNotExist))]))
        #expect(c.selectors[1] == "(!has(\(A).lldpSystemName) && !(has(\(A).truncated) && \(A).truncated))")
        let i = DeviceClassCompiler.compile(map([rule(DeviceMatchExpression(key: "numaNode", operator: .doesNotExist))]))
        #expect(i.selectors[1] == "!has(\(A).numaNode)", "integers are never left out")
    }

    @Test func listMembershipUsesTheCommaWrappedStringAndEveryAddressChunk() {
        let c = DeviceClassCompiler.compile(map([rule(DeviceMatchExpression(key: "lldp.vlanIDs", operator: .in, values: ["100", "0200"]))]))
        #expect(c.selectors[1] == "(has(\(A).lldpVlanIDs) && (\(A).lldpVlanIDs.contains(\",100,\") || \(A).lldpVlanIDs.contains(\",200,\")))")
        let a = DeviceClassCompiler.compile(map([rule(DeviceMatchExpression(key: "addresses", operator: .inCIDR, values: ["192.168.60.5/24"]))]))
        for n in ["addresses", "addresses2", "addresses3"] { #expect(a.selectors[1].contains("has(\(A).\(n))"), "\(n)") }
        #expect(a.selectors[1].contains(#"cidr("192.168.60.0/24")"#), "host bits cleared as the resolver does: \(a.selectors[1])")
        let never = DeviceClassCompiler.compile(map([rule(DeviceMatchExpression(key: "altNames", operator: .in, values: ["a,b"]))]))
        #expect(never.selectors[1] == "false", "no published element contains ','")
    }

    @Test func portableRegexesCompileOthersLeaveTheirRuleOutWithANote() {
        for p in ["^ens[0-9]+f[01]$", "(?i)^leaf-0[1-7]\\.dc1$", "^(ice|i40e)$", "a{2,3}?", "\\d+\\.\\w*", "[a-f0-9:-]+", "x{3}", "^$"] {
            #expect(PortableRegex.problem(p) == nil, "\(p): \(PortableRegex.problem(p) ?? "")")
        }
        for p in ["\\bens", "(?=e)e", "(e)\\1", "e*+", "[[:alpha:]]", "x{,2}", "[a-z&&[^aeiou]]", "(?<n>a)", "é", "a**", "[]a]", "a{1001}", "\\p{L}", "\\Aa", "(?m)^a", "}"] {
            #expect(PortableRegex.problem(p) != nil, "\(p) must be refused")
        }
        let c = DeviceClassCompiler.compile(map([
            rule(DeviceMatchExpression(key: "name", operator: .matches, values: ["\\bens"]), name: "word"),
            rule(DeviceMatchExpression(key: "name", operator: .matches, values: ["^ens"]), name: "prefix"),
        ]))
        #expect(c.refusal == nil)
        #expect(c.notes.contains { $0.hasPrefix("word is left out: name Matches '\\bens'") }, "\(c.notes)")
        #expect(!c.selectors[1].contains("\\\\bens") && c.selectors[1].contains(#"matches("^ens")"#), "\(c.selectors)")
        #expect(c.selectors[1].contains(#"matches("^[ -~]*$")"#), "only printable ASCII values reach the pattern")
    }

    @Test func selectFailIsRefusedAndHighestSpeedIsNoted() {
        let r = rule(DeviceMatchExpression(key: "name", operator: .exists))
        let fail = DeviceClassCompiler.compile(map([r], select: .fail))
        #expect(fail.refusal?.contains("select: Fail") == true && fail.selectors.isEmpty && fail.deviceClass() == nil)
        let fast = DeviceClassCompiler.compile(map([r], select: .highestSpeed))
        #expect(fast.refusal == nil && fast.notes.contains { $0.contains("HighestSpeed") }, "\(fast.notes)")
    }

    @Test func nodeSelectorsBecomeNodeNameListsPerRule() {
        let nodes = [
            NodeInfo(name: "w1", labels: ["zone": "a", "hw": "gen2"]), NodeInfo(name: "w2", labels: ["zone": "a", "hw": "gen3"]),
            NodeInfo(name: "w3", labels: ["zone": "b", "hw": "gen2"]),
        ]
        let c = DeviceClassCompiler.compile(map([
            rule(DeviceMatchExpression(key: "driver", operator: .in, values: ["ice"]), nodeSelector: LabelSelector(matchLabels: ["hw": "gen2"])),
            rule(DeviceMatchExpression(key: "driver", operator: .in, values: ["mlx5_core"]), nodeSelector: LabelSelector(matchLabels: ["hw": "gen9"])),
            rule(DeviceMatchExpression(key: "driver", operator: .in, values: ["bnxt_en"])),
        ], nodeSelector: LabelSelector(matchLabels: ["zone": "a"])), nodes: nodes)
        #expect(c.selectors[1].contains(#".node in ["w1"]"#), "\(c.selectors)")
        #expect(c.selectors[1].contains(#".node in ["w1", "w2"]"#), "\(c.selectors)")
        #expect(!c.selectors[1].contains("mlx5_core"))
        #expect(c.notes.contains("rules[1] applies to no node"), "\(c.notes)")
        let none = DeviceClassCompiler.compile(map([rule(DeviceMatchExpression(key: "name", operator: .exists))], nodeSelector: LabelSelector(matchLabels: ["zone": "z"])), nodes: nodes)
        #expect(none.refusal?.contains("no rule") == true)
    }

    @Test func devicesHeldByOtherNetworksAreExcludedByNodeAndName() {
        let c = DeviceClassCompiler.compile(map([rule(DeviceMatchExpression(key: "name", operator: .exists))]), held: ["w2": ["ens1"], "w1": ["ens2", "ens1"], "w3": []])
        #expect(c.selectors.count == 3)
        #expect(c.selectors[2] == "has(\(A).node) && !((\(A).node + \"/\" + \(A).name) in [\"w1/ens1\", \"w1/ens2\", \"w2/ens1\"])")
    }

    @Test func anOversizedSelectorIsRefused() {
        let nodes = (0..<2000).map { NodeInfo(name: "worker-node-\($0)", labels: ["x": "y"]) }
        let c = DeviceClassCompiler.compile(map([rule(DeviceMatchExpression(key: "name", operator: .exists))], nodeSelector: LabelSelector(matchLabels: ["x": "y"])), nodes: nodes)
        #expect(c.refusal?.contains("10240-byte CEL limit") == true, "\(c.refusal ?? "")")
        #expect(c.selectors.isEmpty)
    }

    @Test func invalidMapsAreRefused() {
        var m = map([rule(DeviceMatchExpression(key: "name", operator: .matches, values: ["("]))])
        #expect(DeviceClassCompiler.compile(m).refusal?.hasPrefix("the map is invalid") == true)
        m = map([rule(DeviceMatchExpression(key: "name", operator: .exists))])
        m.spec.exclusive = false
        #expect(DeviceClassCompiler.compile(m).refusal?.contains("spec.exclusive") == true)
    }

    @Test func literalsEscapeQuotesBackslashesAndNonASCII() {
        #expect(DeviceClassCompiler.literal(#"a"b\c"#) == #""a\"b\\c""#)
        #expect(DeviceClassCompiler.literal("é\n😀") == #""\u00e9\u000a\U0001f600""#)
    }
}
