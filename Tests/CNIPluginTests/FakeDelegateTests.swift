#if canImport(Glibc)
import Glibc
#endif
import CNI
@testable import CNIPlugin
import JSON
import MappingFile
import Testing
import TestSupport

/// In-process tests with fake delegates (shell scripts on CNI_PATH) for what the Debian
/// plugins cannot show: delegates that speak 1.1.0 (STATUS and GC forwarding), failures
/// during GC, and the version cache.
@Suite("automagic with fake 1.1.0 delegates")
struct FakeDelegateTests {
    /// A fake plugin: answers VERSION with `versions`, records every other call's stdin as
    /// <dir>/<name>-<COMMAND>.json, and fails `failing` commands with code 50.
    static func fake(_ dir: TempDir, name: String, versions: String = #""0.4.0","1.0.0","1.1.0""#, failing: [String] = []) throws {
        var script = "#!/bin/sh\nif [ \"$CNI_COMMAND\" = VERSION ]; then echo '{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\(versions)]}'; exit 0; fi\n"
        script += "cat > \(dir.path)/\(name)-$CNI_COMMAND.json\n"
        for c in failing {
            script += "if [ \"$CNI_COMMAND\" = \(c) ]; then echo '{\"cniVersion\":\"1.1.0\",\"code\":50,\"msg\":\"\(name) is not ready\"}'; exit 1; fi\n"
        }
        script += "if [ \"$CNI_COMMAND\" = ADD ]; then echo '{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"net1\",\"mtu\":1400}],\"ips\":[{\"address\":\"10.9.0.2/24\",\"interface\":0}]}'; fi\n"
        try dir.write(name, script, mode: 0o755)
    }

    func setup() throws -> (TempDir, [String: String], JSONValue) { try fakeDelegateFixture(cniVersion: "1.1.0") }

    func run(_ command: String, _ env: [String: String], _ conf: JSONValue) -> (code: Int64?, message: String, output: CNIOutput) {
        var e = env
        e["CNI_COMMAND"] = command
        return runInProcess(e, conf)
    }

    /// The attachment is recorded while the delegate's ADD runs. When the record cannot be
    /// written (here its path is taken by a directory, which stops root too), the ADD fails with
    /// code 5 naming the cache, and the delegate's ADD is undone with its DEL.
    @Test func addFailsAndUndoesTheDelegateWhenTheAttachmentCannotBeRecorded() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir, name: "macvlan")
        try #require(mkdir(dir.path + "/cache", 0o700) == 0)
        try #require(mkdir(dir.path + "/cache/attachments", 0o700) == 0)
        try #require(mkdir(dir.path + "/cache/attachments/storage+c1+net1.json", 0o700) == 0)
        let r = run("ADD", env, conf)
        #expect(r.code == 5 && r.message.contains("failed to write attachment cache"), "\(r.message)")
        #expect(access(dir.path + "/macvlan-ADD.json", F_OK) == 0)
        let undo = try JSONValue.parse(try AtomicFile.read(path: dir.path + "/macvlan-DEL.json"))
        #expect(undo["master"]?.stringValue == "eth7")
    }

    @Test func addSpeaksTheCallersVersionAndConvertsBack() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir, name: "macvlan")
        var old = conf
        old["cniVersion"] = "0.4.0"
        let r = run("ADD", env, old)
        #expect(r.code == nil, "\(r.message)")
        let sent = try JSONValue.parse(try AtomicFile.read(path: dir.path + "/macvlan-ADD.json"))
        #expect(sent["cniVersion"]?.stringValue == "0.4.0" && sent["master"]?.stringValue == "eth7" && sent["mode"]?.stringValue == "bridge")
        let result = try JSONValue.parse(r.output.stdout)
        #expect(result["cniVersion"]?.stringValue == "0.4.0")
        #expect(result["ips"]?[0]?["version"]?.stringValue == "4")
        #expect(result["interfaces"]?[0]?["mtu"] == nil)
        // The versions of the delegate were cached.
        #expect(try AtomicFile.listDirectory(dir.path + "/cache/versions").count == 1)
    }

    @Test func statusIsForwardedToA110Delegate() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir, name: "macvlan", failing: ["STATUS"])
        let r = run("STATUS", ["CNI_PATH": dir.path], conf)
        #expect(r.code == 50 && r.message.contains("macvlan STATUS failed: macvlan is not ready"), "\(r.message)")
        let sent = try JSONValue.parse(try AtomicFile.read(path: dir.path + "/macvlan-STATUS.json"))
        #expect(sent["master"]?.stringValue == "eth7" && sent["cniVersion"]?.stringValue == "1.1.0")
        _ = env
    }

    @Test func statusWithA100DelegateIsReady() throws {
        let (dir, _, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir, name: "macvlan", versions: #""0.4.0","1.0.0""#, failing: ["STATUS"])
        let r = run("STATUS", ["CNI_PATH": dir.path], conf)
        #expect(r.code == nil && r.output.stdout.isEmpty, "\(r.message)")
        #expect(access(dir.path + "/macvlan-STATUS.json", F_OK) != 0)
        var other = conf
        other["network"] = "backup"
        let missing = run("STATUS", ["CNI_PATH": dir.path], other)
        #expect(missing.code == 50 && missing.message.contains("kubectl automagic explain backup --node w1"), "\(missing.message)")
        let noPath = run("STATUS", [:], conf)
        #expect(noPath.code == 4 && noPath.message.contains("CNI_PATH"))
    }

    @Test func gcRemovesStaleEntriesForwardsAndContinuesPastErrors() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir, name: "macvlan")
        try Self.fake(dir, name: "ipvlan", failing: ["GC"])
        var e = env
        for c in ["keep", "stale1", "stale2"] {
            e["CNI_CONTAINERID"] = c
            #expect(run("ADD", e, conf).code == nil)
        }
        // An entry recorded with another delegate type (the map changed since).
        var ipvlanConf = conf
        ipvlanConf["delegate"] = ["type": "ipvlan", "mode": "l2"]
        e["CNI_CONTAINERID"] = "stale3"
        #expect(run("ADD", e, ipvlanConf).code == nil)
        // Another network's entries are not this GC's business.
        var otherNet = conf
        otherNet["name"] = "other"
        e["CNI_CONTAINERID"] = "foreign"
        #expect(run("ADD", e, otherNet).code == nil)

        var gcConf = conf
        gcConf["cni.dev/valid-attachments"] = [["containerID": "keep", "ifname": "net1"]]
        let r = run("GC", ["CNI_PATH": dir.path], gcConf)
        #expect(r.code == 50, "\(r.message)")   // the ipvlan delegate's GC failed and is reported…
        #expect(r.message.contains("ipvlan GC failed"))
        // …but everything else happened.
        let left = try AtomicFile.listDirectory(dir.path + "/cache/attachments").sorted()
        #expect(left == ["other+foreign+net1.json", "storage+keep+net1.json"])
        let sent = try JSONValue.parse(try AtomicFile.read(path: dir.path + "/macvlan-GC.json"))
        #expect(sent["cni.dev/valid-attachments"]?[0]?["containerID"]?.stringValue == "keep")
        #expect(sent["master"]?.stringValue == "eth7")
    }

    @Test func checkNoticesTheMappingMovedToAnotherDevice() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir, name: "macvlan")
        let add = run("ADD", env, conf)
        try #require(add.code == nil)
        var check = conf
        check["prevResult"] = try JSONValue.parse(add.output.stdout)
        #expect(run("CHECK", env, check).code == nil)
        let moved = NodeNetworkMapping(node: "w1", generation: 2, updatedAt: "", networks: [
            "storage": NetworkMapping(device: "eth8", map: "storage", attachment: Attachment(type: "macvlan")),
        ])
        try MappingFile.write(moved, to: dir.path + "/mapping.json")
        let r = run("CHECK", env, check)
        #expect(r.code == 100 && r.message.contains("'eth7'") && r.message.contains("'eth8'"), "\(r.message)")
        // DEL still uses the device of the ADD.
        #expect(run("DEL", env, check).code == nil)
        let del = try JSONValue.parse(try AtomicFile.read(path: dir.path + "/macvlan-DEL.json"))
        #expect(del["master"]?.stringValue == "eth7")
        var noPrev = conf
        noPrev["prevResult"] = nil
        #expect(run("CHECK", env, noPrev).code == 7)
    }

    @Test func addFailureAfterTheDelegateActedIsUndone() throws {
        let (dir, env, conf) = try setup()
        defer { dir.cleanup() }
        try Self.fake(dir, name: "macvlan", failing: ["ADD"])
        let r = run("ADD", env, conf)
        #expect(r.code == 50 && r.message.hasPrefix("macvlan ADD failed"))
        // automagic sent DEL for the partial work and forgot the attachment.
        #expect(access(dir.path + "/macvlan-DEL.json", F_OK) == 0)
        #expect(try AtomicFile.listDirectory(dir.path + "/cache/attachments").isEmpty)
    }
}
