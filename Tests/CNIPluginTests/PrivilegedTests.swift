#if canImport(Glibc)
import Glibc
#endif
import CNI
import JSON
import MappingFile
import Testing
import TestSupport

/// Root tests: throwaway network namespaces, the real `automagic` binary and the real
/// reference plugins from /usr/lib/cni, exec'd as a container runtime would.
@Suite("automagic with the real plugins (root)")
struct PrivilegedTests {
    @Test(arguments: ["0.4.0", "1.0.0", "1.1.0"])
    func addCheckDelMacvlan(version: String) throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPodWithStandardMapping()
        let conf = lab.config(version: version)

        let add = try lab.invoke("ADD", conf: conf, pod: pod)
        try #require(add.status == 0, "\(add)")
        let result = try #require(add.json)
        #expect(result["cniVersion"]?.stringValue == version)
        #expect(result["interfaces"]?[0]?["name"]?.stringValue == "net1")
        #expect(result["interfaces"]?[0]?["sandbox"]?.stringValue == "/var/run/netns/\(pod)")
        #expect(result["ips"]?[0]?["address"]?.stringValue == "192.168.60.5/24")
        #expect((result["ips"]?[0]?["version"]?.stringValue == "4") == (version == "0.4.0"))

        let details = try sh("ip", "-n", pod, "-d", "addr", "show", "net1")
        #expect(details.contains("macvlan mode bridge"))
        #expect(details.contains("inet 192.168.60.5/24"))
        // The macvlan sits on the mapped master in the host netns.
        let linkIndex = try sh("ip", "-n", lab.hostNS, "-o", "link", "show", lab.master)
        let ifindex = linkIndex.split(separator: ":").first.map(String.init) ?? "?"
        #expect(details.contains("net1@if\(ifindex)"))
        #expect(try lab.cacheEntries() == ["storage+ctr1+net1.json"])

        var checkConf = conf
        checkConf["prevResult"] = result
        let check = try lab.invoke("CHECK", conf: checkConf, pod: pod)
        #expect(check.status == 0 && check.stdout.isEmpty, "\(check)")

        try sh("ip", "-n", pod, "link", "del", "net1")
        let broken = try lab.invoke("CHECK", conf: checkConf, pod: pod)
        #expect(broken.status != 0, "\(broken)")
        #expect(broken.message.contains("macvlan CHECK failed"), "\(broken)")

        for _ in 0..<2 {
            let del = try lab.invoke("DEL", conf: checkConf, pod: pod)
            #expect(del.status == 0 && del.stdout.isEmpty, "\(del)")
        }
        try lab.expectNothingLeft(pod: pod)
    }

    @Test func delRemovesTheInterfaceAndIsIdempotentWithoutAdd() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPodWithStandardMapping()
        let conf = lab.config(version: "1.1.0")
        // DEL without ADD, without netns, without mapping file: all succeed.
        #expect(try lab.invoke("DEL", conf: conf, pod: pod).status == 0)
        #expect(try lab.invoke("DEL", conf: conf, pod: nil).status == 0)
        let add = try lab.invoke("ADD", conf: conf, pod: pod)
        try #require(add.status == 0, "\(add)")
        #expect(try linkNames(netns: pod) == ["net1"])
        // The mapping disappears: DEL still uses the cached device.
        try AtomicFile.remove(path: lab.mappingPath)
        let del = try lab.invoke("DEL", conf: conf, pod: pod)
        #expect(del.status == 0, "\(del)")
        #expect(try linkNames(netns: pod).isEmpty)
        #expect(try lab.invoke("DEL", conf: conf, pod: pod).status == 0)
    }

    @Test func hostDeviceMovesTheMappedDeviceInAndOut() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPod()
        let dev = try lab.addHostDevice("d")
        try lab.writeMapping(["storage": ["device": .string(dev), "map": "storage", "attachment": ["type": "host-device"]]])
        let conf = lab.config(version: "1.0.0", address: "192.168.61.7/24")
        let add = try lab.invoke("ADD", conf: conf, pod: pod)
        try #require(add.status == 0, "\(add)")
        #expect(try linkNames(netns: pod) == ["net1"])
        #expect(!(try sh("ip", "-n", lab.hostNS, "-o", "link", "show")).contains(" \(dev)@"))
        #expect(try sh("ip", "-n", pod, "addr", "show", "net1").contains("192.168.61.7/24"))
        var delConf = conf
        delConf["prevResult"] = try #require(add.json)
        let del = try lab.invoke("DEL", conf: delConf, pod: pod)
        #expect(del.status == 0, "\(del)")
        #expect(try linkNames(netns: pod).isEmpty)
        #expect(try sh("ip", "-n", lab.hostNS, "-o", "link", "show", dev).contains(dev))
    }

    /// Issue 14 end to end with the real host-device: two pods of an exclusive network, two
    /// candidate devices; each ADD with the device ID the device plugin allocated moves exactly
    /// that device; a device that is no candidate is code 7 and changes nothing.
    @Test func exclusiveHostDeviceMovesTheAllocatedDeviceOfEachPod() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let podA = try lab.addPod("a")
        let podB = try lab.addPod("b")
        let podC = try lab.addPod("c")
        let d1 = try lab.addHostDevice("d1"), d2 = try lab.addHostDevice("d2"), other = try lab.addHostDevice("d3")
        let mac1 = try lab.mac(of: d1), mac2 = try lab.mac(of: d2)
        let candidates: [JSONValue] = [["name": .string(d1), "mac": .string(mac1)], ["name": .string(d2), "mac": .string(mac2)]]
        try lab.writeMapping(["storage": [
            "device": .string(d1), "map": "storage", "attachment": ["type": "host-device"],
            "exclusive": true, "candidates": .array(candidates),
        ]])
        // Pod B first, with the second device (Multus's top-level deviceID, upper case).
        var confB = lab.config(version: "1.0.0", address: "192.168.61.8/24")
        confB["deviceID"] = .string(mac2.uppercased())
        let addB = try lab.invoke("ADD", conf: confB, pod: podB, container: "ctrB")
        try #require(addB.status == 0, "\(addB)")
        #expect(try linkNames(netns: podB) == ["net1"])
        #expect(try sh("ip", "-n", podB, "-o", "link", "show", "net1").contains(mac2))
        let hostLinks = try linkNames(netns: lab.hostNS)
        #expect(hostLinks.contains(d1) && !hostLinks.contains(d2))
        // Pod A with the first (runtimeConfig.deviceID).
        var confA = lab.config(version: "1.0.0", address: "192.168.61.7/24")
        confA["runtimeConfig"] = ["deviceID": .string(mac1)]
        let addA = try lab.invoke("ADD", conf: confA, pod: podA, container: "ctrA")
        try #require(addA.status == 0, "\(addA)")
        #expect(try sh("ip", "-n", podA, "-o", "link", "show", "net1").contains(mac1))
        #expect(!(try linkNames(netns: lab.hostNS)).contains(d1))
        // A device that is no candidate: code 7 naming the allowed ones, nothing moved or recorded.
        var confC = lab.config(version: "1.0.0", address: "192.168.61.9/24")
        confC["deviceID"] = .string(try lab.mac(of: other))
        let before = try lab.cacheEntries()
        let addC = try lab.invoke("ADD", conf: confC, pod: podC, container: "ctrC")
        #expect(addC.status != 0 && addC.code == 7, "\(addC)")
        #expect(addC.message.contains("allowed devices: \(mac1) (\(d1)), \(mac2) (\(d2))"), "\(addC)")
        #expect(try linkNames(netns: podC).isEmpty)
        #expect(try linkNames(netns: lab.hostNS).contains(other))
        #expect(try lab.cacheEntries() == before)
        // CHECK accepts each pod's own candidate; DEL gives each device back.
        for (pod, container, conf, add) in [(podA, "ctrA", confA, addA), (podB, "ctrB", confB, addB)] {
            var c = conf
            c["prevResult"] = try #require(add.json)
            let check = try lab.invoke("CHECK", conf: c, pod: pod, container: container)
            #expect(check.status == 0, "\(check)")
            let del = try lab.invoke("DEL", conf: c, pod: pod, container: container)
            #expect(del.status == 0, "\(del)")
            #expect(try linkNames(netns: pod).isEmpty)
        }
        let back = try linkNames(netns: lab.hostNS)
        #expect(back.contains(d1) && back.contains(d2))
        #expect(try lab.cacheEntries().isEmpty)
    }

    /// Issue 17 with the real host-device and macvlan: for a `dra` network the device comes from the
    /// DRA plugin's record for the pod (K8S_POD_UID), never from the mapping's first candidate; a pod
    /// without a record is code 7 naming the pod, the network and the folder, and nothing changes.
    @Test func draNetworkAttachesThePreparedDeviceOnly() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let podA = try lab.addPod("a"), podB = try lab.addPod("b")
        let d1 = try lab.addHostDevice("d1"), d2 = try lab.addHostDevice("d2")
        let mac1 = try lab.mac(of: d1), mac2 = try lab.mac(of: d2)
        let candidates: [JSONValue] = [["name": .string(d1), "mac": .string(mac1)], ["name": .string(d2), "mac": .string(mac2)]]
        try lab.writeMapping(["storage": [
            "device": .string(d1), "map": "storage", "attachment": ["type": "host-device"],
            "exclusive": true, "dra": true, "candidates": .array(candidates),
        ]], formatVersion: 3)
        let state = lab.dir.path + "/dra"
        // The scheduler gave pod A the second device; the DRA plugin recorded it.
        try PreparedClaimStore(directory: state).write(PreparedClaim(
            namespace: "default", name: "a-nic", uid: "claim-a", podUIDs: ["pod-a"],
            devices: [PreparedDevice(request: "nic", pool: "worker-1", device: "mac-" + mac2.filter { $0 != ":" },
                                     network: "storage", interface: d2, mac: mac2)]))
        let conf = lab.config(version: "1.0.0", address: "192.168.61.7/24", extra: ["draStateDir": .string(state)])
        let addA = try lab.invoke("ADD", conf: conf, pod: podA, container: "ctrA",
                                  extraEnv: ["CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=a;K8S_POD_UID=pod-a"])
        try #require(addA.status == 0, "\(addA)")
        #expect(try sh("ip", "-n", podA, "-o", "link", "show", "net1").contains(mac2), "the prepared device, not the first candidate")
        let host = try linkNames(netns: lab.hostNS)
        #expect(host.contains(d1) && !host.contains(d2))

        // Pod B has no prepared claim: code 7 naming pod, network and folder; nothing moved or recorded.
        let before = try lab.cacheEntries()
        let addB = try lab.invoke("ADD", conf: conf, pod: podB, container: "ctrB",
                                  extraEnv: ["CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=b;K8S_POD_UID=pod-b"])
        #expect(addB.status != 0 && addB.code == 7, "\(addB)")
        #expect(addB.message.contains("pod 'pod-b'") && addB.message.contains("network 'storage'") && addB.message.contains(state), "\(addB)")
        #expect(try linkNames(netns: podB).isEmpty)
        #expect(try linkNames(netns: lab.hostNS).contains(d1))
        #expect(try lab.cacheEntries() == before)
        // No K8S_POD_UID at all: code 7 as well.
        let noUID = try lab.invoke("ADD", conf: conf, pod: podB, container: "ctrB")
        #expect(noUID.code == 7 && noUID.message.contains("K8S_POD_UID"), "\(noUID)")

        // CHECK holds while the claim is prepared; DEL gives the device back.
        var checkConf = conf
        checkConf["prevResult"] = try #require(addA.json)
        let envA = ["CNI_ARGS": "IgnoreUnknown=1;K8S_POD_UID=pod-a"]
        let check = try lab.invoke("CHECK", conf: checkConf, pod: podA, container: "ctrA", extraEnv: envA)
        #expect(check.status == 0, "\(check)")
        let del = try lab.invoke("DEL", conf: checkConf, pod: podA, container: "ctrA", extraEnv: envA)
        #expect(del.status == 0, "\(del)")
        #expect(try linkNames(netns: lab.hostNS).contains(d2))

        // The NIC is renamed between prepare and ADD: it is found by its MAC address.
        try sh("ip", "-n", lab.hostNS, "link", "set", d2, "name", d2 + "r")
        let renamed = try lab.invoke("ADD", conf: conf, pod: podA, container: "ctrA", extraEnv: envA)
        try #require(renamed.status == 0, "\(renamed)")
        #expect(try sh("ip", "-n", podA, "-o", "link", "show", "net1").contains(mac2))
        let delRenamed = try lab.invoke("DEL", conf: conf, pod: podA, container: "ctrA", extraEnv: envA)
        #expect(delRenamed.status == 0, "\(delRenamed)")
        try sh("ip", "-n", lab.hostNS, "link", "set", d2 + "r", "name", d2)

        // macvlan on a dra network: the prepared device is the master.
        try lab.writeMapping(["storage": [
            "device": .string(d1), "map": "storage", "attachment": ["type": "macvlan", "mode": "bridge"],
            "exclusive": true, "dra": true, "candidates": .array(candidates),
        ]], formatVersion: 3)
        try sh("ip", "-n", lab.hostNS, "link", "set", d2, "up")
        let mv = try lab.invoke("ADD", conf: conf, pod: podA, container: "ctrA2", extraEnv: envA)
        try #require(mv.status == 0, "\(mv)")
        let ifindex = try sh("ip", "-n", lab.hostNS, "-o", "link", "show", d2).split(separator: ":").first.map(String.init) ?? "?"
        #expect(try sh("ip", "-n", podA, "-d", "link", "show", "net1").contains("net1@if\(ifindex)"), "macvlan on \(d2)")
    }

    @Test func ipvlanGetsTheRightConfigurationAndItsErrorIsRelayed() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPod()
        try lab.writeMapping(["storage": ["device": .string(lab.master), "map": "storage",
                                          "attachment": ["type": "ipvlan", "mode": "l2", "mtu": 1400]]])
        // A wrapper named ipvlan records the configuration, then runs the real plugin.
        let spy = lab.dir.path + "/bin"
        try sh("mkdir", "-p", spy)
        try AtomicFile.write(Array("#!/bin/sh\nif [ \"$CNI_COMMAND\" = ADD ]; then tee \(lab.dir.path)/ipvlan-add.json | /usr/lib/cni/ipvlan; else exec /usr/lib/cni/ipvlan; fi\n".utf8),
                             to: spy + "/ipvlan", mode: 0o755)
        let conf = lab.config(version: "1.1.0", extra: ["runtimeConfig": ["mac": "02:00:00:aa:bb:cc"], "x-custom": "kept"])
        let add = try lab.invoke("ADD", conf: conf, pod: pod, cniPath: spy + ":/usr/lib/cni")
        #expect(add.status != 0)
        #expect(add.message.hasPrefix("ipvlan ADD failed"), "\(add)")
        #expect(add.code != nil)
        let sent = try JSONValue.parse(try AtomicFile.read(path: lab.dir.path + "/ipvlan-add.json"))
        #expect(sent["type"]?.stringValue == "ipvlan")
        #expect(sent["master"]?.stringValue == lab.master)
        #expect(sent["mode"]?.stringValue == "l2")
        #expect(sent["mtu"]?.intValue == 1400)
        #expect(sent["cniVersion"]?.stringValue == "1.0.0")   // the Debian plugins stop at 1.0.0
        #expect(sent["ipam"]?["type"]?.stringValue == "static")
        #expect(sent["runtimeConfig"]?["mac"]?.stringValue == "02:00:00:aa:bb:cc")
        #expect(sent["x-custom"]?.stringValue == "kept")
        #expect(sent["network"] == nil && sent["mappingFile"] == nil && sent["cacheDir"] == nil)
        try lab.expectNothingLeft(pod: pod)
    }

    @Test func chainedWithPrevResultAndMultusStyleConfig() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPodWithStandardMapping()
        let prev: JSONValue = ["cniVersion": "1.1.0", "interfaces": [["name": "eth0", "sandbox": .string("/var/run/netns/\(pod)")]],
                               "ips": [["address": "10.244.0.5/24", "interface": 0]]]
        // As a runtime hands a conflist's later plugin its config (name and cniVersion from the list).
        let conf = lab.config(version: "1.1.0", extra: ["prevResult": prev, "delegate": ["type": "macvlan", "mode": "private"],
                                                        "args": ["cni": ["ips": ["192.168.60.5/24"]]]])
        let add = try lab.invoke("ADD", conf: conf, pod: pod,
                                 extraEnv: ["CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"])
        try #require(add.status == 0, "\(add)")
        #expect(try sh("ip", "-n", pod, "-d", "link", "show", "net1").contains("macvlan mode private"))
        var next = conf
        next["prevResult"] = try #require(add.json)
        #expect(try lab.invoke("CHECK", conf: next, pod: pod).status == 0)
        #expect(try lab.invoke("DEL", conf: next, pod: pod).status == 0)
        #expect(try linkNames(netns: pod).isEmpty)
    }

    @Test func statusAndGCInEveryVersion() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPod()
        // STATUS before the agent wrote the mapping: not ready.
        let notReady = try lab.invoke("STATUS", conf: lab.config(version: "1.1.0"), pod: nil)
        #expect(notReady.code == 50 && notReady.message.contains("does not exist"), "\(notReady)")
        try lab.writeStandardMapping()
        #expect(try lab.invoke("STATUS", conf: lab.config(version: "1.1.0"), pod: nil).status == 0)
        for old in ["0.4.0", "1.0.0"] {
            #expect(try lab.invoke("STATUS", conf: lab.config(version: old), pod: nil).code == 1)
            #expect(try lab.invoke("GC", conf: lab.config(version: old), pod: nil).code == 1)
        }
        try AtomicFile.write(Array(#"{"apiVersion":"automagic.dev/v2","kind":"NodeNetworkMapping"}"#.utf8), to: lab.mappingPath)
        let wrong = try lab.invoke("STATUS", conf: lab.config(version: "1.1.0"), pod: nil)
        #expect(wrong.code == 50 && wrong.message.contains("automagic.dev/v2"), "\(wrong)")
        try lab.writeStandardMapping()

        // Two attachments; GC keeps only the first.
        for (i, c) in ["ctrA", "ctrB"].enumerated() {
            let r = try lab.invoke("ADD", conf: lab.config(version: "1.1.0", address: "192.168.60.\(10 + i)/24"), pod: pod,
                                   container: c, ifname: "net\(i + 1)")
            try #require(r.status == 0, "\(r)")
        }
        #expect(try lab.cacheEntries().count == 2)
        let gcConf = lab.config(version: "1.1.0", extra: ["cni.dev/valid-attachments": [["containerID": "ctrA", "ifname": "net1"]]])
        let gc = try lab.invoke("GC", conf: gcConf, pod: nil, removeEnv: ["CNI_CONTAINERID", "CNI_IFNAME"])
        #expect(gc.status == 0 && gc.stdout.isEmpty, "\(gc)")
        #expect(try lab.cacheEntries() == ["storage+ctrA+net1.json"])
        let badGC = try lab.invoke("GC", conf: lab.config(version: "1.1.0"), pod: nil)
        #expect(badGC.code == 7)
        let version = try lab.invoke("VERSION", conf: [:], pod: nil)
        #expect(version.json?["supportedVersions"] == ["0.4.0", "1.0.0", "1.1.0"])
    }

    @Test func badInputGivesTheRightCodeAndLeavesNothingBehind() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPod()
        func expectFailure(_ r: Invocation, code: Int64, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(r.status != 0, "\(r)", sourceLocation: sourceLocation)
            #expect(r.code == code, "\(r)", sourceLocation: sourceLocation)
            #expect(r.message.contains(text), "\(r)", sourceLocation: sourceLocation)
            #expect(try linkNames(netns: pod).isEmpty, sourceLocation: sourceLocation)
            #expect(try lab.cacheEntries().isEmpty, sourceLocation: sourceLocation)
        }
        // The agent has not written the mapping yet: try again later.
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: pod), code: 11, "does not exist yet")
        try lab.writeStandardMapping()
        // Environment.
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: pod, ifname: "net1234567890123"), code: 4, "CNI_IFNAME")
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: pod, ifname: "a/b"), code: 4, "CNI_IFNAME")
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: pod, removeEnv: ["CNI_CONTAINERID"]), code: 4, "CNI_CONTAINERID")
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: nil), code: 4, "CNI_NETNS")
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: pod, removeEnv: ["CNI_PATH"]), code: 4, "CNI_PATH")
        try expectFailure(lab.invoke("BOGUS", conf: lab.config(), pod: pod), code: 4, "CNI_COMMAND")
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: pod, removeEnv: ["CNI_COMMAND"]), code: 4, "CNI_COMMAND")
        // Configuration.
        try expectFailure(lab.invoke("ADD", conf: lab.config(version: "0.3.1"), pod: pod), code: 1, "0.3.1")
        try expectFailure(lab.invoke("ADD", conf: lab.config(version: "2.0.0"), pod: pod), code: 1, "2.0.0")
        var noNetwork = lab.config()
        noNetwork["network"] = nil
        try expectFailure(lab.invoke("ADD", conf: noNetwork, pod: pod), code: 7, "'network' is missing")
        try expectFailure(lab.invoke("ADD", conf: lab.config(extra: ["delegate": ["type": "bridge"]]), pod: pod), code: 7, "bridge")
        try expectFailure(lab.invoke("ADD", conf: lab.config(extra: ["delegate": ["type": "nosuchplugin"]]), pod: pod), code: 7, "nosuchplugin")
        var other = lab.config()
        other["network"] = "backup"
        try expectFailure(lab.invoke("ADD", conf: other, pod: pod), code: 7, "kubectl automagic explain backup --node worker-1")
        try expectFailure(lab.invoke("ADD", conf: "not an object", pod: pod), code: 6, "network configuration")
        // A delegate failure after the mapping resolved (bad IPAM address): relayed, undone.
        let badIP = lab.config(address: "not-an-ip")
        // The reference plugins report plain errors with code 999 (skel's default).
        try expectFailure(lab.invoke("ADD", conf: badIP, pod: pod), code: 999, "macvlan ADD failed")
        // The netns does not exist: the delegate's error is relayed, nothing is recorded.
        let gone = try lab.invoke("ADD", conf: lab.config(), pod: pod, extraEnv: ["CNI_NETNS": "/var/run/netns/\(lab.prefix)gone"])
        try expectFailure(gone, code: 999, "macvlan ADD failed")
        #expect(gone.message.contains("\(lab.prefix)gone"), "\(gone)")
        // The mapping names a device this node does not have: the delegate's error, plus a hint.
        try lab.writeMapping(["storage": ["device": "amnosuchdev0", "map": "storage", "attachment": ["type": "macvlan"]]])
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: pod), code: 999, "device 'amnosuchdev0' that the mapping file gives")
        // Mapping file broken or of another kind.
        try AtomicFile.write(Array(#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","networks":{"stor"#.utf8), to: lab.mappingPath)
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: pod), code: 6, lab.mappingPath)
        try AtomicFile.write(Array(#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeDevice","node":"w"}"#.utf8), to: lab.mappingPath)
        try expectFailure(lab.invoke("ADD", conf: lab.config(), pod: pod), code: 6, "NodeDevice")
    }

    /// 50 ADD/DEL pairs at once while another process replaces the mapping file (temporary file,
    /// rename, as the agent does) at least 200 times, alternating a small file and a large one
    /// (2,000 more networks): every call sees a whole file, and nothing leaks.
    @Test func fiftyParallelAddDelPairsWhileTheMappingIsRewritten() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        try lab.writeStandardMapping()
        try sh("cp", lab.mappingPath, lab.dir.path + "/mapA.json")
        var large: [String: JSONValue] = ["storage": ["device": .string(lab.master), "map": "storage",
                                                      "attachment": ["type": "macvlan", "mode": "bridge"]]]
        for i in 0..<2000 { large["other-\(i)"] = ["device": .string("eth\(i % 8)"), "map": .string("other-\(i)")] }
        try lab.writeMapping(large)
        try sh("cp", lab.mappingPath, lab.dir.path + "/mapB.json")
        // The rewriter, a process of its own, replaces the file as the agent does (a temporary file
        // written 4 KiB at a time, renamed over it; without the agent's fsync, which only matters for a crash of
        // the node) until the calls are done, counting its rewrites.
        try lab.dir.write("rewrite.py", """
            import os
            sources = [open(name, "rb").read() for name in ("mapA.json", "mapB.json")]
            during = 0
            while not os.path.exists("calls.done"):
                data = sources[during % 2]
                with open(".rewrite.tmp", "wb", buffering=0) as f:
                    for at in range(0, len(data), 4096):
                        f.write(data[at:at + 4096])
                os.rename(".rewrite.tmp", "mapping.json")
                during += 1
            open("rewrites.during", "w").write(str(during))

            """)
        let n = 50
        var pods: [String] = []
        for i in 0..<n { pods.append(try lab.addPod("p\(i)")) }
        let binary = try automagicBinary()
        var script = """
            #!/bin/sh
            cd \(lab.dir.path)
            export CNI_PATH=/usr/lib/cni CNI_IFNAME=net1
            python3 rewrite.py &
            rewriter=$!

            """
        for verb in ["ADD", "DEL"] {
            script += "calls=\n"
            for i in 0..<n {
                let conf = lab.config(version: "1.1.0", address: "10.77.\(i / 200).\(i % 200 + 10)/16").jsonString()
                try lab.dir.write("conf\(i).json", conf)
                script += "(CNI_COMMAND=\(verb) CNI_CONTAINERID=c\(i) CNI_NETNS=/var/run/netns/\(pods[i]) ip netns exec \(lab.hostNS) \(binary) <conf\(i).json >\(verb)-\(i).out 2>&1; echo $? >\(verb)-\(i).rc) &\ncalls=\"$calls $!\"\n"
            }
            script += "wait $calls\n"
            if verb == "ADD" {
                script += "for i in $(seq 0 \(n - 1)); do ip -n \(lab.prefix)p$i -o addr show net1 >addr-$i.out 2>&1 || echo missing >addr-$i.out; done\n"
            }
        }
        script += "touch calls.done\nwait $rewriter\n"
        try lab.dir.write("run.sh", script, mode: 0o755)
        // The plugins get a runtime's bare environment, not the test runner's; 100 runs may be slow on a busy machine.
        try sh("/bin/sh", lab.dir.path + "/run.sh", environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: 300)
        for verb in ["ADD", "DEL"] {
            script += "calls=\n"
            for i in 0..<n {
                let rc = String(decoding: try AtomicFile.read(path: "\(lab.dir.path)/\(verb)-\(i).rc"), as: UTF8.self)
                let out = String(decoding: try AtomicFile.read(path: "\(lab.dir.path)/\(verb)-\(i).out"), as: UTF8.self)
                #expect(rc == "0\n", "\(verb) \(i): \(out)")
            }
        }
        for i in 0..<n {
            let addr = String(decoding: try AtomicFile.read(path: "\(lab.dir.path)/addr-\(i).out"), as: UTF8.self)
            #expect(addr.contains("10.77.\(i / 200).\(i % 200 + 10)/16"), "pod \(i): \(addr)")
            #expect(try linkNames(netns: pods[i]).isEmpty, "pod \(i) still has interfaces")
        }
        #expect(try lab.cacheEntries().isEmpty)
        #expect(try linkNames(netns: lab.hostNS) == [lab.master, lab.masterPeer].sorted())
        #expect(try AtomicFile.listDirectory(lab.cacheDir + "/attachments").isEmpty)
        let during = Int(try contentsIfPresent(lab.dir.path + "/rewrites.during").filter(\.isNumber)) ?? 0
        #expect(during >= 200, "only \(during) rewrites while the calls ran")
        print("fiftyParallelAddDelPairsWhileTheMappingIsRewritten: \(during) rewrites while the 100 calls ran")
        // Nothing else of the lab's in /var/run/netns than its own namespaces.
        let namespaces = try sh("ip", "netns", "list").split(separator: "\n").map { String($0.split(separator: " ")[0]) }
        #expect(Set(namespaces.filter { $0.hasPrefix(lab.prefix) }) == Set(pods + [lab.hostNS]))
    }
}
