#if canImport(Glibc)
import Glibc
#endif
import CNI
import JSON
import MappingFile
import Testing
import TestSupport

/// The real `automagic` binary and the real reference plugins under faults: interfaces the pod
/// already has, broken state on disk, namespaces that are gone, processes killed mid-call.
@Suite("automagic under faults (root)")
struct FaultTests {
    /// The index and MAC address of link `name` in `netns`, to tell the same link from a new one.
    func identity(_ name: String, netns: String) throws -> String {
        let link = try #require(try ipJSON(netns: netns, ["link", "show", name]).first, "no link \(name) in \(netns)")
        let index = try #require(link["ifindex"] as? Int, "\(link)")
        let mac = try #require(link["address"] as? String, "\(link)")
        return "\(index) \(mac)"
    }

    /// Issue 13 item 2: the pod already has `net1` (a veth whose peer is in the host netns). ADD
    /// with CNI_IFNAME=net1 is refused and both ends survive, the same links as before.
    @Test func failedAddLeavesAnExistingInterfaceAlone() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPodWithStandardMapping()
        let peer = lab.prefix + "q"
        try sh("ip", "-n", pod, "link", "add", "net1", "type", "veth", "peer", "name", peer, "netns", lab.hostNS)
        let before = (try identity("net1", netns: pod), try identity(peer, netns: lab.hostNS))

        let add = try lab.invoke("ADD", conf: lab.config(), pod: pod)
        #expect(add.status != 0, "\(add)")
        #expect(add.code == 4, "\(add)")
        #expect(add.message.contains("CNI_IFNAME 'net1' already exists"), "\(add)")
        #expect(try identity("net1", netns: pod) == before.0)
        #expect(try identity(peer, netns: lab.hostNS) == before.1)
        #expect(try linkNames(netns: pod) == ["net1"])
        #expect(try lab.cacheEntries().isEmpty)
    }

    /// A second attachment with the interface name of the first: refused, and the first
    /// attachment (its link, its address, its cache entry) is exactly as it was; its DEL works.
    @Test func duplicateIfnameChangesNothing() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPodWithStandardMapping()
        let first = try lab.invoke("ADD", conf: lab.config(version: "1.1.0"), pod: pod, container: "ctrA")
        try #require(first.status == 0, "\(first)")
        let before = try identity("net1", netns: pod)
        let entry = try AtomicFile.read(path: lab.cacheDir + "/attachments/storage+ctrA+net1.json")

        let second = try lab.invoke("ADD", conf: lab.config(version: "1.1.0", address: "192.168.60.6/24"), pod: pod, container: "ctrB")
        #expect(second.code == 4, "\(second)")
        #expect(second.message.contains("already exists in network namespace '/var/run/netns/\(pod)'"), "\(second)")
        #expect(try identity("net1", netns: pod) == before)
        let addresses = try sh("ip", "-n", pod, "-o", "addr", "show", "net1")
        #expect(addresses.contains("192.168.60.5/24") && !addresses.contains("192.168.60.6"), "\(addresses)")
        #expect(try lab.cacheEntries() == ["storage+ctrA+net1.json"])
        #expect(try AtomicFile.read(path: lab.cacheDir + "/attachments/storage+ctrA+net1.json") == entry)

        let del = try lab.invoke("DEL", conf: lab.config(version: "1.1.0"), pod: pod, container: "ctrA")
        #expect(del.status == 0, "\(del)")
        try lab.expectNothingLeft(pod: pod)
    }

    // MARK: DEL is best effort (issue 13 item 5)

    /// ADD in a fresh lab; returns the lab, the pod and the ADD's result.
    func added(version: String = "1.0.0") throws -> (TestNode, String, JSONValue) {
        let lab = try TestNode()
        do {
            let pod = try lab.addPodWithStandardMapping()
            let add = try lab.invoke("ADD", conf: lab.config(version: version), pod: pod)
            try #require(add.status == 0, "\(add)")
            try #require(try linkNames(netns: pod) == ["net1"])
            try #require(try lab.cacheEntries() == ["storage+ctr1+net1.json"])
            return (lab, pod, try #require(add.json))
        } catch {
            lab.cleanup()
            throw error
        }
    }

    /// A prevResult cut short (the result's text cut in half, so a string; or its members cut
    /// off): DEL succeeds, removes the interface and the cache entry.
    @Test(arguments: ["text", "members"])
    func delWithATruncatedPrevResultCleansUp(how: String) throws {
        let (lab, pod, result) = try added()
        defer { lab.cleanup() }
        var conf = lab.config()
        if how == "text" {
            let text = result.jsonString()
            conf["prevResult"] = .string(String(text.prefix(text.count / 2)))
        } else {
            conf["prevResult"] = ["cniVersion": "1.0.0", "interfaces": [["sandbox": .string("/var/run/netns/\(pod)")]],
                                  "ips": [["address": "192.168.6", "interface": 3]]]
        }
        let del = try lab.invoke("DEL", conf: conf, pod: pod)
        #expect(del.status == 0 && del.stdout.isEmpty, "\(del)")
        try lab.expectNothingLeft(pod: pod)
    }

    /// The attachment's cache entry cut in half (a crash while it was written): DEL succeeds,
    /// finds the device through the mapping file, removes the interface and the entry.
    @Test func delWithATruncatedCacheEntryCleansUp() throws {
        let (lab, pod, _) = try added()
        defer { lab.cleanup() }
        let entry = lab.cacheDir + "/attachments/storage+ctr1+net1.json"
        let bytes = try AtomicFile.read(path: entry)
        try #require(truncate(entry, off_t(bytes.count / 2)) == 0)
        let del = try lab.invoke("DEL", conf: lab.config(), pod: pod)
        #expect(del.status == 0 && del.stdout.isEmpty, "\(del)")
        try lab.expectNothingLeft(pod: pod)
    }

    /// The mapping file cut in half: DEL succeeds with the cached device; with the cache entry
    /// cut too, nothing tells the device: DEL still succeeds and removes the entry.
    @Test func delWithATruncatedMappingFileCleansUp() throws {
        let (lab, pod, _) = try added()
        defer { lab.cleanup() }
        let mapping = try AtomicFile.read(path: lab.mappingPath)
        try #require(truncate(lab.mappingPath, off_t(mapping.count / 2)) == 0)
        let del = try lab.invoke("DEL", conf: lab.config(), pod: pod)
        #expect(del.status == 0 && del.stdout.isEmpty, "\(del)")
        try lab.expectNothingLeft(pod: pod)

        try lab.writeStandardMapping()
        let again = try lab.invoke("ADD", conf: lab.config(), pod: pod)
        try #require(again.status == 0, "\(again)")
        let entry = lab.cacheDir + "/attachments/storage+ctr1+net1.json"
        try #require(truncate(entry, 7) == 0)
        try #require(truncate(lab.mappingPath, off_t(mapping.count / 2)) == 0)
        let blind = try lab.invoke("DEL", conf: lab.config(), pod: pod)
        #expect(blind.status == 0 && blind.stdout.isEmpty, "\(blind)")
        #expect(try lab.cacheEntries().isEmpty)
    }

    /// The pod's netns was deleted before DEL (with the macvlan in it): DEL succeeds, removes
    /// the cache entry, and nothing is left in the host netns.
    @Test func delAfterTheNetnsWasDeletedSucceeds() throws {
        let (lab, pod, result) = try added(version: "1.1.0")
        defer { lab.cleanup() }
        try sh("ip", "netns", "del", pod)
        var conf = lab.config(version: "1.1.0")
        conf["prevResult"] = result
        for _ in 0..<2 {
            let del = try lab.invoke("DEL", conf: conf, pod: pod)
            #expect(del.status == 0 && del.stdout.isEmpty, "\(del)")
            #expect(try lab.cacheEntries().isEmpty)
        }
        #expect(try linkNames(netns: lab.hostNS) == [lab.master, lab.masterPeer].sorted())
        try sh("ip", "netns", "add", pod)  // for the lab's clean-up
    }

    // MARK: killed in the middle of ADD

    /// The plugin is killed with SIGKILL after its delegate created the interface (a wrapper
    /// runs the real macvlan ADD, then reports the plugin's pid and sleeps). The runtime's DEL
    /// then leaves nothing in the pod netns, the host netns or the cache.
    @Test func killedDuringAddThenDelLeavesNothing() throws {
        let lab = try TestNode()
        defer { lab.cleanup() }
        let pod = try lab.addPodWithStandardMapping()
        let bin = lab.dir.path + "/bin", d = lab.dir.path
        try sh("mkdir", "-p", bin)
        try lab.dir.write("bin/macvlan", """
            #!/bin/sh
            [ "$CNI_COMMAND" = ADD ] || exec /usr/lib/cni/macvlan
            /usr/lib/cni/macvlan >\(d)/delegate.out
            echo $? >\(d)/delegate.rc
            echo $$ >\(d)/wrapper.pid
            echo $PPID >\(d)/plugin.pid
            exec sleep 60

            """, mode: 0o755)
        try lab.dir.write("conf.json", lab.config(version: "1.1.0").jsonString())
        // The ADD in the background as the runtime would start it; killed once the delegate is done.
        try lab.dir.write("add.sh", """
            #!/bin/sh
            cd \(d)
            CNI_COMMAND=ADD CNI_CONTAINERID=ctr1 CNI_IFNAME=net1 CNI_NETNS=/var/run/netns/\(pod) CNI_PATH=\(bin):/usr/lib/cni \\
              ip netns exec \(lab.hostNS) \(try automagicBinary()) <conf.json >add.out 2>&1 &
            for i in $(seq 200); do [ -s plugin.pid ] && break; sleep 0.1; done
            kill -9 "$(cat plugin.pid)"
            wait $!
            echo $? >add.rc
            kill -9 "$(cat wrapper.pid)"
            exit 0

            """, mode: 0o755)
        try sh("/bin/sh", d + "/add.sh", environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: 60)
        let delegateOut = try contentsIfPresent(d + "/delegate.out"), addOut = try contentsIfPresent(d + "/add.out")
        #expect(try contentsIfPresent(d + "/delegate.rc") == "0\n", "the delegate's ADD: \(delegateOut)")
        #expect(try contentsIfPresent(d + "/add.rc") == "137\n", "the plugin was not killed: \(addOut)")
        try #require(try linkNames(netns: pod) == ["net1"], "the delegate did not create the interface")

        let del = try lab.invoke("DEL", conf: lab.config(version: "1.1.0"), pod: pod, cniPath: bin + ":/usr/lib/cni")
        #expect(del.status == 0 && del.stdout.isEmpty, "\(del)")
        #expect(try linkNames(netns: pod).isEmpty)
        #expect(try linkNames(netns: lab.hostNS) == [lab.master, lab.masterPeer].sorted())
        #expect(try AtomicFile.listDirectory(lab.cacheDir + "/attachments").isEmpty)
    }
}
