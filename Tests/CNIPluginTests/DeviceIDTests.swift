#if canImport(Glibc)
import Glibc
#endif
import CNI
import JSON
import MappingFile
import Testing
import TestSupport

/// Exclusive networks: the device the kubelet's device plugin allocated reaches `automagic` as
/// `deviceID`, `pciBusID` or `runtimeConfig.deviceID` (Multus), must be a candidate of the
/// network on this node, and is what the delegate gets.
@Suite("automagic with a device ID (fake delegates)")
struct DeviceIDTests {
    static let candidates = [
        DeviceCandidate(name: "ens5f0", mac: "3c:fd:fe:aa:bb:00", pciAddress: "0000:05:00.0", numaNode: 0),
        DeviceCandidate(name: "ens6f0", mac: "3c:fd:fe:aa:cc:00", pciAddress: "0000:af:00.0", numaNode: 1),
        DeviceCandidate(name: "veth-x", mac: "02:00:00:00:00:01"),
    ]

    /// The fake-delegate fixture with `fast` (exclusive, host-device, three candidates) added.
    func setup() throws -> (TempDir, [String: String], JSONValue) {
        let (dir, env, conf) = try fakeDelegateFixture(cniVersion: "1.1.0")
        var mapping = try MappingFile.read(path: dir.path + "/mapping.json")
        mapping.networks["fast"] = NetworkMapping(
            device: "ens5f0", map: "fast", attachment: Attachment(type: "host-device"), mac: "3c:fd:fe:aa:bb:00",
            pciAddress: "0000:05:00.0", exclusive: true, candidates: Self.candidates)
        try MappingFile.write(mapping, to: dir.path + "/mapping.json")
        try FakeDelegateTests.fake(dir, name: "host-device")
        try FakeDelegateTests.fake(dir, name: "macvlan")
        var c = conf
        c["network"] = "fast"
        c["name"] = "fast"
        return (dir, env, c)
    }

    func run(_ command: String, _ env: [String: String], _ conf: JSONValue, container: String = "c1") -> (code: Int64?, message: String, output: CNIOutput) {
        var e = env
        e["CNI_COMMAND"] = command
        e["CNI_CONTAINERID"] = container
        return runInProcess(e, conf)
    }

    func sent(_ dir: TempDir, _ file: String) throws -> JSONValue {
        try JSONValue.parse(try AtomicFile.read(path: dir.path + "/" + file))
    }

    @Test(arguments: [
        ("deviceID", "0000:af:00.0"), ("deviceID", "AF:00.0"), ("pciBusID", "0000:af:00.0"),
        ("runtimeConfig.deviceID", "3C:FD:FE:AA:CC:00"), ("deviceID", "ens6f0"),
    ])
    func theGivenCandidateReachesTheDelegate(key: String, id: String) throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        var c = conf
        if key == "runtimeConfig.deviceID" {
            c["runtimeConfig"] = ["deviceID": .string(id), "mac": "02:11:22:33:44:55"]
        } else {
            c[key] = .string(id)
        }
        let r = run("ADD", env, c)
        #expect(r.code == nil, "\(r.message)")
        let delegate = try sent(dir, "host-device-ADD.json")
        #expect(delegate["device"]?.stringValue == "ens6f0")
        // The ID is resolved here: host-device must not read it as a PCI address of its own.
        #expect(delegate["deviceID"] == nil && delegate["pciBusID"] == nil)
        #expect(delegate["runtimeConfig"]?["deviceID"] == nil)
        if key == "runtimeConfig.deviceID" { #expect(delegate["runtimeConfig"]?["mac"]?.stringValue == "02:11:22:33:44:55") }
        // CHECK accepts the pod's candidate although the network's first device is another;
        // DEL uses the device of the ADD.
        var check = c
        check["prevResult"] = try JSONValue.parse(r.output.stdout)
        let checked = run("CHECK", env, check)
        #expect(checked.code == nil, "\(checked.message)")
        #expect(run("DEL", env, check).code == nil)
        #expect(try sent(dir, "host-device-DEL.json")["device"]?.stringValue == "ens6f0")
    }

    @Test func aDeviceThatIsNoCandidateIsCode7AndChangesNothing() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        for id in ["0000:5e:00.0", "ens7f0", "3c:fd:fe:aa:bb:01"] {
            var c = conf
            c["deviceID"] = .string(id)
            let r = run("ADD", env, c)
            #expect(r.code == 7, "\(r.message)")
            #expect(r.message == "device '\(id)' is not a candidate of exclusive network 'fast' on node w1; allowed devices: 0000:05:00.0 (ens5f0), 0000:af:00.0 (ens6f0), 02:00:00:00:00:01 (veth-x)")
        }
        #expect(access(dir.path + "/host-device-ADD.json", F_OK) != 0)
        let recorded = access(dir.path + "/cache/attachments", F_OK) != 0 ? [] : try AtomicFile.listDirectory(dir.path + "/cache/attachments")
        #expect(recorded.filter { !$0.hasPrefix(".") }.isEmpty)
    }

    @Test func badOrMissingDeviceIDsAreCode7() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        let missing = run("ADD", env, conf)
        #expect(missing.code == 7)
        #expect(missing.message.contains("network 'fast' is exclusive") && missing.message.contains("k8s.v1.cni.cncf.io/resourceName: automagic.dev/fast"), "\(missing.message)")
        var disagree = conf
        disagree["deviceID"] = "0000:05:00.0"
        disagree["pciBusID"] = "0000:af:00.0"
        let d = run("ADD", env, disagree)
        #expect(d.code == 7 && d.message.contains("'deviceID' is '0000:05:00.0' but 'pciBusID' is '0000:af:00.0'"), "\(d.message)")
        var number = conf
        number["deviceID"] = 5
        #expect(run("ADD", env, number).message.contains("'deviceID' must be a non-empty string"))
        var inDelegate = conf
        inDelegate["delegate"] = ["deviceID": "x"]
        #expect(run("ADD", env, inDelegate).message.contains("'delegate.deviceID' is not allowed"))
        #expect(access(dir.path + "/host-device-ADD.json", F_OK) != 0)
    }

    /// A shared network has one device on the node: a device ID must name it.
    @Test func aSharedNetworkAcceptsOnlyItsOwnDevice() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        var c = conf
        c["network"] = "storage"
        c["name"] = "storage"
        c["deviceID"] = "eth8"
        let r = run("ADD", env, c)
        #expect(r.code == 7 && r.message == "device 'eth8' is not the device of shared network 'storage' on node w1; allowed devices: eth7", "\(r.message)")
        c["deviceID"] = "eth7"
        #expect(run("ADD", env, c).code == nil)
        #expect(try sent(dir, "macvlan-ADD.json")["master"]?.stringValue == "eth7")
    }

    /// CHECK: a pod's device that stopped being a candidate is code 100.
    @Test func checkRefusesADeviceThatIsNoLongerACandidate() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        var c = conf
        c["deviceID"] = "0000:af:00.0"
        let add = run("ADD", env, c)
        try #require(add.code == nil, "\(add.message)")
        var mapping = try MappingFile.read(path: dir.path + "/mapping.json")
        mapping.networks["fast"]?.candidates.remove(at: 1)
        try MappingFile.write(mapping, to: dir.path + "/mapping.json")
        var check = c
        check["prevResult"] = try JSONValue.parse(add.output.stdout)
        let r = run("CHECK", env, check)
        #expect(r.code == 100 && r.message.contains("'ens6f0', which is no longer a candidate of exclusive network 'fast'"), "\(r.message)")
    }
}
