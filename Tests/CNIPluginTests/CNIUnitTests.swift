import CNI
@testable import CNIPlugin
import JSON
import MappingFile
import Testing

@Suite("CNI spec types")
struct CNISpecTests {
    @Test func versionsParseCompareAndNegotiate() throws {
        #expect(CNIVersion("1.0.0") == .v1_0_0)
        #expect(CNIVersion("1.0") == nil)
        #expect(CNIVersion("v1.0.0") == nil)
        #expect(CNIVersion("") == nil)
        #expect(CNIVersion("1.0.0.0") == nil)
        #expect(CNIVersion.v0_4_0 < .v1_0_0)
        let debian = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"].compactMap(CNIVersion.init)
        #expect(CNIVersion.negotiate(wanted: .v1_1_0, peer: debian) == .v1_0_0)
        #expect(CNIVersion.negotiate(wanted: .v0_4_0, peer: debian) == .v0_4_0)
        #expect(CNIVersion.negotiate(wanted: .v1_0_0, peer: [.v1_1_0]) == .v1_1_0)
        #expect(CNIVersion.negotiate(wanted: .v1_0_0, peer: [CNIVersion(0, 3, 1)]) == nil)
    }

    static let fullEnv = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "abc", "CNI_NETNS": "/var/run/netns/x",
                          "CNI_IFNAME": "net1", "CNI_PATH": "/usr/lib/cni"]

    @Test(arguments: [
        ("CNI_COMMAND", "ADD"), ("CNI_CONTAINERID", "ADD"), ("CNI_NETNS", "ADD"), ("CNI_IFNAME", "ADD"), ("CNI_PATH", "ADD"),
        ("CNI_CONTAINERID", "DEL"), ("CNI_IFNAME", "DEL"), ("CNI_PATH", "DEL"),
        ("CNI_CONTAINERID", "CHECK"), ("CNI_NETNS", "CHECK"), ("CNI_IFNAME", "CHECK"), ("CNI_PATH", "CHECK"),
        ("CNI_PATH", "STATUS"), ("CNI_PATH", "GC"),
    ])
    func missingRequiredVariableIsCode4NamingIt(variable: String, command: String) throws {
        var env = Self.fullEnv
        env["CNI_COMMAND"] = command
        env[variable] = nil
        let error = try #require(throws: CNIError.self) { try CNIEnvironment(env) }
        #expect(error.code == .invalidEnvironment)
        #expect(error.message.contains(variable))
    }

    @Test func optionalVariablesMayBeMissing() throws {
        var env = Self.fullEnv
        env["CNI_COMMAND"] = "DEL"
        env["CNI_NETNS"] = nil
        #expect(try CNIEnvironment(env).netns == "")
        let status = try CNIEnvironment(["CNI_COMMAND": "STATUS", "CNI_PATH": "/a:/b"])
        #expect(status.path == ["/a", "/b"])
        #expect(try CNIEnvironment(["CNI_COMMAND": "VERSION"]).command == .version)
    }

    @Test(arguments: ["net1234567890123", "a/b", "a:b", "a b", "a\tb", ".", "..", "", "a\u{7F}", "a\u{0B}b",
                      "a\u{00A0}b", "a\u{2003}", "\u{3000}x"])
    func invalidInterfaceNamesAreCode4(name: String) throws {
        var env = Self.fullEnv
        env["CNI_IFNAME"] = name
        let error = try #require(throws: CNIError.self) { try CNIEnvironment(env) }
        #expect(error.code == .invalidEnvironment)
        #expect(error.message.contains("CNI_IFNAME"))
    }

    @Test func fifteenCharacterInterfaceNameIsValid() throws {
        var env = Self.fullEnv
        env["CNI_IFNAME"] = "net123456789012"
        #expect(try CNIEnvironment(env).ifname.count == 15)
        // Linux takes any other bytes, non-ASCII letters included.
        env["CNI_IFNAME"] = "eth-é"
        #expect(try CNIEnvironment(env).ifname == "eth-é")
    }

    @Test(arguments: ["-abc", "a/b", "a b", "_x", "ctr;rm"])
    func invalidContainerIDsAreCode4(id: String) throws {
        var env = Self.fullEnv
        env["CNI_CONTAINERID"] = id
        let error = try #require(throws: CNIError.self) { try CNIEnvironment(env) }
        #expect(error.code == .invalidEnvironment)
        #expect(error.message.contains("CNI_CONTAINERID"))
    }

    @Test func unknownCommandAndBadArgsAreCode4() throws {
        var env = Self.fullEnv
        env["CNI_COMMAND"] = "INIT"
        let e1 = try #require(throws: CNIError.self) { try CNIEnvironment(env) }
        #expect(e1.code == .invalidEnvironment && e1.message.contains("INIT"))
        env["CNI_COMMAND"] = "ADD"
        env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME"
        let e2 = try #require(throws: CNIError.self) { try CNIEnvironment(env) }
        #expect(e2.code == .invalidEnvironment && e2.message.contains("CNI_ARGS"))
        env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=web-0;"
        let ok = try CNIEnvironment(env)
        #expect(ok.args.map(\.key) == ["IgnoreUnknown", "K8S_POD_NAME"])
        #expect(ok.args.last?.value == "web-0")
    }

    @Test func netConfValidation() throws {
        let garbage = try #require(throws: CNIError.self) { try NetConf(bytes: Array("{\"cniVersion\":".utf8)) }
        #expect(garbage.code == .decodingFailure)
        let empty = try #require(throws: CNIError.self) { try NetConf(bytes: []) }
        #expect(empty.code == .decodingFailure && empty.message.contains("empty"))
        let array = try #require(throws: CNIError.self) { try NetConf(json: [1, 2]) }
        #expect(array.code == .decodingFailure)
        let old = try #require(throws: CNIError.self) { try NetConf(json: ["cniVersion": "0.3.1", "name": "n", "type": "t"]) }
        #expect(old.code == .incompatibleVersion && old.message.contains("0.3.1"))
        let missing = try #require(throws: CNIError.self) { try NetConf(json: ["name": "n", "type": "t"]) }
        #expect(missing.code == .incompatibleVersion)
        let noName = try #require(throws: CNIError.self) { try NetConf(json: ["cniVersion": "1.0.0", "type": "t"]) }
        #expect(noName.code == .invalidConfig && noName.message.contains("name"))
        let badName = try #require(throws: CNIError.self) { try NetConf(json: ["cniVersion": "1.0.0", "name": "a/b", "type": "t"]) }
        #expect(badName.code == .invalidConfig)
        let noType = try #require(throws: CNIError.self) { try NetConf(json: ["cniVersion": "1.0.0", "name": "n"]) }
        #expect(noType.code == .invalidConfig && noType.message.contains("type"))
        let ok = try NetConf(json: ["cniVersion": "1.1.0", "name": "n", "type": "t", "x-unknown": ["a": 1]])
        #expect(ok.cniVersion == .v1_1_0 && ok.raw["x-unknown"]?["a"]?.intValue == 1)
    }

    static let result100: JSONValue = [
        "cniVersion": "1.1.0",
        "interfaces": [["name": "net1", "mac": "02:00:00:00:00:01", "sandbox": "/var/run/netns/p", "mtu": 1400, "pciID": "0000:00:01.0"]],
        "ips": [["address": "192.168.60.5/24", "interface": 0], ["address": "fd00::5/64", "gateway": "fd00::1", "interface": 0]],
        "routes": [["dst": "0.0.0.0/0", "gw": "192.168.60.1", "priority": 5, "table": 100]],
        "dns": ["nameservers": ["1.1.1.1"]],
        "x-extra": true,
    ]

    @Test func resultConversionBetweenVersions() throws {
        let r = try CNIResult(json: Self.result100, version: .v1_1_0)
        let old = r.converted(to: .v0_4_0).json
        #expect(old["cniVersion"]?.stringValue == "0.4.0")
        #expect(old["ips"]?[0]?["version"]?.stringValue == "4")
        #expect(old["ips"]?[1]?["version"]?.stringValue == "6")
        #expect(old["interfaces"]?[0]?["mtu"] == nil)
        #expect(old["routes"]?[0]?["priority"] == nil && old["routes"]?[0]?["gw"]?.stringValue == "192.168.60.1")
        #expect(old["x-extra"]?.boolValue == true)
        let back = try CNIResult(json: old, version: .v0_4_0).converted(to: .v1_1_0).json
        #expect(back["ips"]?[0]?["version"] == nil)
        #expect(back["cniVersion"]?.stringValue == "1.1.0")
        let v100 = r.converted(to: .v1_0_0).json
        #expect(v100["interfaces"]?[0]?["pciID"] == nil && v100["ips"]?[0]?["version"] == nil)
        let same = r.converted(to: .v1_1_0).json
        #expect(same["interfaces"]?[0]?["mtu"]?.intValue == 1400)
    }

    @Test func invalidResultsAreCode6() throws {
        let bad: [JSONValue] = [
            "x", ["ips": "a"], ["ips": [["address": "10.0.0.1"]]], ["interfaces": [["mac": "x"]]],
            ["ips": [["address": "10.0.0.1/24", "interface": 3]]], ["routes": [["gw": "1.2.3.4"]]], ["dns": [1]],
        ]
        for json in bad {
            let e = try #require(throws: CNIError.self) { try CNIResult(json: json, version: .v1_0_0) }
            #expect(e.code == .decodingFailure)
        }
        let e = try #require(throws: CNIError.self) { try CNIResult(bytes: Array("{\"ips\":[".utf8), version: .v1_0_0) }
        #expect(e.code == .decodingFailure)
    }

    @Test func errorObjectRoundTrip() throws {
        let e = CNIError(.tryAgainLater, "later", details: "because")
        let json = e.json(cniVersion: "1.0.0")
        #expect(json["code"]?.intValue == 11 && json["msg"]?.stringValue == "later" && json["cniVersion"]?.stringValue == "1.0.0")
        #expect(CNIError(json: json) == e)
        #expect(CNIError(json: ["msg": "x"]) == nil)
    }

    @Test func versionOutput() throws {
        let out = Skel.run(AutomagicPlugin(), environment: ["CNI_COMMAND": "VERSION"], stdin: { [] })
        #expect(out.exitCode == 0)
        let json = try JSONValue.parse(out.stdout)
        #expect(json["cniVersion"]?.stringValue == "1.1.0")
        #expect(json["supportedVersions"] == ["0.4.0", "1.0.0", "1.1.0"])
    }
}

@Suite("Delegate configuration")
struct DelegateConfigTests {
    func conf(_ extra: [String: JSONValue], version: String = "1.0.0") throws -> NetConf {
        var json: JSONValue = ["cniVersion": .string(version), "name": "storage", "type": "automagic", "network": "storage"]
        for (k, v) in extra { json[k] = v }
        return try NetConf(json: json)
    }

    @Test func mapAttachmentIsDefaultAndEverythingElsePassesThrough() throws {
        let c = try conf([
            "ipam": ["type": "static"], "runtimeConfig": ["mac": "02:00:00:00:00:09"], "args": ["cni": ["x": "y"]],
            "x-vendor": 7, "mappingFile": "/tmp/m.json", "cacheDir": "/tmp/c", "cniVersions": ["1.0.0"],
        ])
        let cfg = try AutomagicConfig(c)
        let d = try cfg.delegateConfig(conf: c, type: "macvlan", device: "ens5f1",
                                       attachment: Attachment(type: "macvlan", mode: "bridge", mtu: 9000), version: .v1_0_0)
        #expect(d["type"]?.stringValue == "macvlan")
        #expect(d["master"]?.stringValue == "ens5f1")
        #expect(d["mode"]?.stringValue == "bridge")
        #expect(d["mtu"]?.intValue == 9000)
        #expect(d["ipam"]?["type"]?.stringValue == "static")
        #expect(d["runtimeConfig"]?["mac"]?.stringValue == "02:00:00:00:00:09")
        #expect(d["args"]?[path: ["cni", "x"]]?.stringValue == "y")
        #expect(d["x-vendor"]?.intValue == 7)
        #expect(d["name"]?.stringValue == "storage")
        for own in ["network", "mappingFile", "cacheDir", "delegate", "cniVersions"] { #expect(d[own] == nil) }
    }

    @Test func delegateOverridesTopLevelAndAttachment() throws {
        let c = try conf(["mtu": 1500, "mode": "private", "delegate": ["type": "ipvlan", "mode": "l2"]])
        let cfg = try AutomagicConfig(c)
        #expect(cfg.delegateType(mapping: NetworkMapping(device: "eth9", map: "m", attachment: Attachment(type: "macvlan"))) == "ipvlan")
        let d = try cfg.delegateConfig(conf: c, type: "ipvlan", device: "eth9",
                                       attachment: Attachment(type: "macvlan", mode: "bridge", mtu: 9000), version: .v1_0_0)
        #expect(d["master"]?.stringValue == "eth9")
        #expect(d["mode"]?.stringValue == "l2")   // delegate wins; the macvlan attachment's mode does not leak
        #expect(d["mtu"]?.intValue == 1500)       // top level wins over an attachment of another type
    }

    @Test func hostDeviceGetsDeviceNotMaster() throws {
        let c = try conf([:])
        let d = try AutomagicConfig(c).delegateConfig(conf: c, type: "host-device", device: "ens6",
                                                      attachment: Attachment(type: "host-device", mode: "x", mtu: 9000), version: .v1_0_0)
        #expect(d["device"]?.stringValue == "ens6" && d["master"] == nil && d["mode"] == nil && d["mtu"] == nil)
    }

    @Test func prevResultIsConvertedToTheDelegateVersion() throws {
        let prev: JSONValue = ["cniVersion": "1.1.0", "interfaces": [["name": "eth0"]], "ips": [["address": "10.1.0.2/16", "interface": 0]]]
        let c = try conf(["prevResult": prev], version: "1.1.0")
        let d = try AutomagicConfig(c).delegateConfig(conf: c, type: "macvlan", device: "e", attachment: nil, version: .v0_4_0)
        #expect(d["cniVersion"]?.stringValue == "0.4.0")
        #expect(d["prevResult"]?["cniVersion"]?.stringValue == "0.4.0")
        #expect(d["prevResult"]?["ips"]?[0]?["version"]?.stringValue == "4")
    }

    @Test func ownKeysAreValidated() throws {
        let cases: [(String, JSONValue?, String)] = [
            ("network", nil, "'network' is missing"), ("network", 5, "'network' must be a string"), ("network", "", "'network' is missing"),
            ("delegate", "macvlan", "'delegate' must be an object"), ("delegate", ["type": 1], "'delegate.type'"),
            ("mappingFile", "relative.json", "'mappingFile' must be an absolute path"), ("cacheDir", 3, "'cacheDir'"),
            ("master", "eth0", "remove 'master'"), ("device", "eth0", "remove 'device'"), ("delegate", ["device": "eth0"], "remove 'device'"),
            // From hack/fuzz-cni.sh (crash-ad4e7fca…): automagic's keys inside `delegate` leaked to the delegate.
            ("delegate", ["type": "macvlan", "network": "storage"], "'delegate.network' is not allowed"),
            ("delegate", ["mappingFile": "/x"], "'delegate.mappingFile' is not allowed"),
            ("delegate", ["cniVersion": "0.3.1"], "'delegate.cniVersion' is not allowed"),
        ]
        for (key, value, expected) in cases {
            var c = try conf([:])
            c.raw[key] = value
            let e = try #require(throws: CNIError.self) { try AutomagicConfig(c) }
            #expect(e.code == .invalidConfig, "\(key)=\(String(describing: value))")
            #expect(e.message.contains(expected), "\(e.message)")
        }
        let c = try conf([:])
        let e = try #require(throws: CNIError.self) {
            try AutomagicConfig(c).delegateConfig(conf: c, type: "bridge", device: "e", attachment: nil, version: .v1_0_0)
        }
        #expect(e.code == .invalidConfig && e.message.contains("bridge"))
    }

    @Test func cacheFileNamesRoundTrip() throws {
        for s in ["net1", "a+b", "eth0.100", "x%y", "ünï", ".hidden"] {
            let enc = AttachmentCache.encode(s)
            #expect(!enc.contains("+") && !enc.contains("/") && !enc.hasPrefix("."))
            #expect(AttachmentCache.decode(enc) == s)
        }
    }
}

@Suite("Entry point")
struct EntryPointTests {
    @Test func versionFastPathMatchesSkel() throws {
        let fast = AutomagicMain.versionAnswer.withUTF8Buffer { Array($0) }
        #expect(fast == Skel.versionInfo(AutomagicPlugin().supportedVersions))
    }
}
