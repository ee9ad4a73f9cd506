import AutomagicAPI
import KubeCore
import Resolver
import Testing

@Suite("Validation")
struct ValidationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let map: NetworkDeviceMap
        let field: String
        let message: String
        var testDescription: String { name }
    }

    static func one(_ e: DeviceMatchExpression) -> NetworkDeviceMap { map("net", e) }
    static let p = "spec.rules[0].devices.matchExpressions[0]"

    static let cases: [Case] = [
        .init(name: "invalid regex", map: one(expr("name", .matches, ["^ens[", "ok"])), field: "\(p).values[0]", message: "invalid regular expression '^ens['"),
        .init(name: "second regex invalid", map: one(expr("name", .matches, ["ok", "(?<"])), field: "\(p).values[1]", message: "invalid regular expression '(?<'"),
        .init(name: "unknown key", map: one(expr("drivr", .in, ["ice"])), field: "\(p).key", message: "unsupported value 'drivr'"),
        .init(name: "unknown operator", map: one(expr("driver", "Like", ["ice"])), field: "\(p).operator", message: "unsupported value 'Like'"),
        .init(name: "In without values", map: one(expr("driver", .in, [])), field: "\(p).values", message: "must be non-empty when operator is In"),
        .init(name: "Exists with values", map: one(expr("driver", .exists, ["x"])), field: "\(p).values", message: "must be empty when operator is Exists"),
        .init(name: "Gt two values", map: one(expr("mtu", .gt, ["1", "2"])), field: "\(p).values", message: "must have exactly one integer value when operator is Gt, has 2"),
        .init(name: "Lt non-integer", map: one(expr("speedMbps", .lt, ["fast"])), field: "\(p).values[0]", message: "'fast' is not an integer"),
        .init(name: "In non-integer on integer key", map: one(expr("mtu", .in, ["9000", "jumbo"])), field: "\(p).values[1]", message: "'jumbo' is not an integer (mtu holds integers)"),
        .init(name: "In non-boolean", map: one(expr("carrier", .in, ["yes"])), field: "\(p).values[0]", message: "'yes' is not true or false"),
        .init(name: "bad IPv4 CIDR", map: one(expr("addresses", .inCIDR, ["10.0.0.0/33"])), field: "\(p).values[0]", message: "'10.0.0.0/33' is not a CIDR"),
        .init(name: "bad IPv6 CIDR", map: one(expr("addresses", .inCIDR, ["10.0.0.0/8", "2001:db8:::/64"])), field: "\(p).values[1]", message: "'2001:db8:::/64' is not a CIDR"),
        .init(name: "CIDR without length", map: one(expr("addresses", .inCIDR, ["10.0.0.1"])), field: "\(p).values[0]", message: "is not a CIDR"),
        .init(name: "too many values", map: one(expr("name", .in, (0..<65).map { "n\($0)" })), field: "\(p).values", message: "must have at most 64 items"),
        .init(name: "value too long", map: one(expr("name", .in, [String(repeating: "x", count: 257)])), field: "\(p).values[0]", message: "longer than 256 bytes"),
        .init(name: "no rules", map: map("net", rules: []), field: "spec.rules", message: "must have at least 1 rule"),
        .init(name: "no expressions", map: map("net", rules: [DeviceRule(expressions: [])]), field: "spec.rules[0].devices.matchExpressions", message: "must have at least 1 expression"),
        .init(name: "bad network name", map: map("Storage_Net", expr("name", .exists)), field: "metadata.name", message: "is not a DNS-1123 label"),
        .init(name: "missing name", map: NetworkDeviceMap(metadata: ObjectMeta(), spec: NetworkDeviceMapSpec(rules: [DeviceRule(expressions: [expr("name", .exists)])])), field: "metadata.name", message: "required"),
        .init(name: "duplicate rule names", map: map("net", rules: [DeviceRule(name: "a", expressions: [expr("name", .exists)]), DeviceRule(name: "a", expressions: [expr("name", .exists)])]), field: "spec.rules[1].name", message: "duplicate rule name 'a' (also spec.rules[0])"),
        .init(name: "bad rule name", map: map("net", rules: [DeviceRule(name: "A B", expressions: [expr("name", .exists)])]), field: "spec.rules[0].name", message: "is not a DNS-1123 label"),
        .init(name: "unknown select", map: map("net", expr("name", .exists), select: "Random"), field: "spec.select", message: "unsupported value 'Random'"),
        .init(name: "selector In without values", map: map("net", rules: [DeviceRule(expressions: [expr("name", .exists)])], nodeSelector: LabelSelector(matchExpressions: [LabelSelectorRequirement(key: "hw", operator: .in, values: [])])), field: "spec.nodeSelector.matchExpressions[0].values", message: "must be non-empty"),
        .init(name: "rule selector bad key", map: map("net", rules: [DeviceRule(nodeSelector: LabelSelector(matchLabels: ["bad key": "x"]), expressions: [expr("name", .exists)])]), field: "spec.rules[0].nodeSelector.matchLabels", message: "invalid label key 'bad key'"),
    ]

    @Test(arguments: cases)
    func rejected(_ c: Case) throws {
        let errors = Resolver.validate(c.map)
        let hit = errors.first { $0.field == c.field }
        #expect(hit != nil, "expected an error at \(c.field), got \(errors)")
        #expect(hit?.message.contains(c.message) == true, "\(String(describing: hit))")
        // Compiling throws the same errors; resolution never throws.
        #expect(throws: ResolverError.self) { try CompiledMap(c.map) }
        #expect(Resolver.resolve(node: worker, devices: allDevices, maps: [c.map]).networks.first?.outcome == .invalid)
    }

    @Test("attachment validation")
    func attachment() {
        func errors(_ a: AttachmentSpec, exclusive: Bool? = nil) -> [String] {
            var m = map("net", expr("name", .exists), exclusive: exclusive)
            m.spec.attachment = a
            return Resolver.validate(m).map(\.description)
        }
        #expect(errors(AttachmentSpec(type: .macvlan, mode: "bridge", mtu: 9000)).isEmpty)
        #expect(errors(AttachmentSpec(type: .ipvlan, mode: "l3s")).isEmpty)
        #expect(errors(AttachmentSpec(type: .hostDevice), exclusive: true).isEmpty)
        #expect(errors(AttachmentSpec(type: .hostDevice)) == ["spec.exclusive: must be true when spec.attachment.type is host-device (the device moves into the pod)"])
        #expect(errors(AttachmentSpec(type: .macvlan, mode: "l2")) == ["spec.attachment.mode: unsupported value 'l2' for type macvlan (supported: bridge, private, vepa, passthru)"])
        #expect(errors(AttachmentSpec(type: .hostDevice, mode: "bridge"), exclusive: true) == ["spec.attachment.mode: must be absent for type host-device"])
        #expect(errors(AttachmentSpec(type: .macvlan, mtu: 67)) == ["spec.attachment.mtu: 67 is out of range 68...65535"])
        #expect(errors(AttachmentSpec(type: "sriov")) == ["spec.attachment.type: unsupported value 'sriov' (supported: macvlan, ipvlan, host-device)"])
    }

    @Test("dra requires exclusive")
    func draRequiresExclusive() {
        var m = map("net", expr("name", .exists))
        m.spec.dra = true
        #expect(Resolver.validate(m).map(\.description) == ["spec.exclusive: must be true when spec.dra is true (a DRA claim allocates the device to one pod)"])
        m.spec.exclusive = true
        #expect(Resolver.validate(m).isEmpty)
        m.spec.exclusive = false
        m.spec.dra = false
        #expect(Resolver.validate(m).isEmpty)
    }

    @Test("NAD template validation")
    func nad() {
        var m = map("net", expr("name", .exists))
        m.spec.networkAttachmentDefinition = NADTemplate(namespaces: ["default", "Bad", "default"], ipam: .string("dhcp"))
        #expect(Resolver.validate(m).map(\.field) == [
            "spec.networkAttachmentDefinition.namespaces[1]", "spec.networkAttachmentDefinition.namespaces[2]",
            "spec.networkAttachmentDefinition.ipam",
        ])
        m.spec.networkAttachmentDefinition = NADTemplate(namespaces: ["default"], ipam: ["type": "whereabouts", "range": "192.168.60.0/24"])
        #expect(Resolver.validate(m).isEmpty)
    }

    @Test("several problems are all reported, in field order")
    func several() {
        let m = map("net", rules: [DeviceRule(expressions: [expr("nope", .in, []), expr("mtu", .gt, ["x"])])], select: "Any")
        #expect(Resolver.validate(m).map(\.field) == [
            "spec.rules[0].devices.matchExpressions[0].key", "spec.rules[0].devices.matchExpressions[0].values",
            "spec.rules[0].devices.matchExpressions[1].values[0]", "spec.select",
        ])
        #expect(String(describing: ResolverError.invalidMap(name: "net", errors: [ValidationError(field: "f", message: "m")])) == "failed to compile NetworkDeviceMap 'net': f: m")
    }

    @Test("a valid map has no errors")
    func valid() throws {
        let m = map("storage", rules: [
            DeviceRule(name: "r1", expressions: [expr("driver", .in, ["ice"]), expr("speedMbps", .gt, ["10000"]), expr("name", .matches, ["^ens"]), expr("addresses", .inCIDR, ["10.0.0.0/8", "fd00::/8"]), expr("lldp.systemName", .exists), expr("parent", .doesNotExist), expr("mtu", .lt, ["9217"]), expr("kind", .notIn, ["vf"])]),
        ], select: .highestSpeed, exclusive: false)
        #expect(Resolver.validate(m).isEmpty)
        _ = try CompiledMap(m)
    }
}

@Suite("IP addresses and CIDRs")
struct CIDRTests {
    @Test(arguments: [
        ("192.168.60.11", "192.168.60.11"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("2001:db8::11", "2001:db8::11"), ("::", "::"), ("::1", "::1"), ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("fe80::1%eth0", "fe80::1"), ("::ffff:10.0.0.1", "::ffff:a00:1"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("1::", "1::"), ("1:0:0:2::3", "1:0:0:2::3"), ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
    ])
    func parses(_ text: String, _ canonical: String) throws {
        let a = try #require(IPAddress(text))
        #expect(a.description == canonical)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", ":::", "1:2:3:4:5:6:7:8:9",
                      "1::2::3", "12345::", ":1::", "1::2:", "g::1", "1.2.3.4::", "::1.2.3", "1:2:3:4:5:6:7::8:9"])
    func rejects(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func containment() throws {
        let v4 = try #require(CIDR("10.20.0.0/16"))
        #expect(v4.contains(try #require(IPAddress("10.20.255.1"))))
        #expect(!v4.contains(try #require(IPAddress("10.21.0.1"))))
        #expect(!v4.contains(try #require(IPAddress("::ffff:10.20.0.1"))))
        let host = try #require(CIDR("192.168.60.77/24"))
        #expect(host.description == "192.168.60.0/24")
        let v6 = try #require(CIDR("2001:db8:60::/48"))
        #expect(v6.contains(try #require(IPAddress("2001:db8:60:ffff::1"))))
        #expect(!v6.contains(try #require(IPAddress("2001:db8:61::1"))))
        #expect(!v6.contains(try #require(IPAddress("10.0.0.1"))))
        #expect(try #require(CIDR("::/0")).contains(try #require(IPAddress("fe80::1"))))
        #expect(try #require(CIDR("0.0.0.0/0")).contains(try #require(IPAddress("1.2.3.4"))))
        #expect(try #require(CIDR("2001:db8::1/128")).contains(try #require(IPAddress("2001:db8::1"))))
        #expect(try #require(CIDR("2001:db8::1/127")).contains(try #require(IPAddress("2001:db8::"))))
        #expect(CIDR("10.0.0.0/08") == nil)
        #expect(CIDR("10.0.0.0/") == nil)
        #expect(CIDR("::/129") == nil)
        #expect(CIDR("10.0.0.0") == nil)
        #expect(IPAddress(interfaceAddress: "192.168.60.11/24") == IPAddress("192.168.60.11"))
        #expect(IPAddress(interfaceAddress: "2001:db8::11/64") == IPAddress("2001:db8::11"))
        #expect(IPAddress(interfaceAddress: "2001:db8::11/640") == nil)
    }
}
