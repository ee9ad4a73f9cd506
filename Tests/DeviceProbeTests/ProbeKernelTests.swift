import Foundation
import Testing
import TestSupport
import CNetlink
import AutomagicAPI

@testable import DeviceProbe

/// Privileged tests: each builds its own namespace, probes inside it and compares with
/// what `ip` reports in the same namespace.
extension KernelTests {
@Suite("Probe against the kernel", .serialized)
struct ProbeKernelTests {
    @Test("veth, bridge, macvlan, altname and addresses match ip -j -d link / ip -j addr")
    func matchesIP() throws {
        let ns = try TestNetns()
        defer { ns.remove() }
        let peer = try TestNetns("p")
        defer { peer.remove() }
        try ns.ip("link", "add", "amv0", "type", "veth", "peer", "name", "amv0p", "netns", peer.name)
        try ns.ip("link", "set", "amv0", "address", "02:aa:bb:cc:dd:01", "mtu", "9000")
        try ns.ip("link", "property", "add", "dev", "amv0", "altname", "storage0")
        try ns.ip("addr", "add", "192.168.50.10/24", "dev", "amv0")
        try ns.ip("addr", "add", "2001:db8:50::10/64", "dev", "amv0", "nodad")
        try ns.ip("link", "set", "amv0", "up")
        try peer.ip("link", "set", "amv0p", "up")
        try ns.ip("link", "add", "amv1", "type", "veth", "peer", "name", "amv1b")
        try ns.ip("link", "add", "ambr0", "type", "bridge")
        try ns.ip("link", "set", "amv1b", "master", "ambr0")
        try ns.ip("link", "set", "ambr0", "up")
        try ns.ip("link", "add", "ammv0", "link", "amv1", "type", "macvlan", "mode", "bridge")
        try ns.ip("addr", "add", "10.9.0.2/16", "dev", "ammv0")
        try ns.ip("route", "add", "default", "via", "192.168.50.1", "dev", "amv0")

        let prober = try DeviceProber(netnsPath: ns.path)
        defer { prober.shutdown() }
        let probed = try prober.probeLinks()
        let devices = probed.map(\.device)
        let byName = Dictionary(uniqueKeysWithValues: devices.map { ($0.name, $0) })
        let indexes = Dictionary(uniqueKeysWithValues: probed.map { ($0.device.name, $0.ifindex) })

        let links = try ns.json("-d", "link", "show")
        let addrs = try ns.json("addr", "show")
        // lo excluded by default; everything else listed.
        let expectedNames = Set(links.compactMap { $0["ifname"] as? String }).subtracting(["lo"])
        #expect(Set(byName.keys) == expectedNames)
        #expect(devices.map(\.name) == devices.map(\.name).sorted())

        for link in links {
            let name = try #require(link["ifname"] as? String)
            if name == "lo" { continue }
            let d = try #require(byName[name])
            #expect(indexes[name] == link["ifindex"] as? Int)
            #expect(d.mac == link["address"] as? String, "mac of \(name)")
            #expect(d.mtu == link["mtu"] as? Int, "mtu of \(name)")
            #expect(d.operState == (link["operstate"] as? String)?.lowercased(), "operstate of \(name)")
            let flags = link["flags"] as? [String] ?? []
            #expect(d.carrier == flags.contains("LOWER_UP"), "carrier of \(name)")
            let kind = (link["linkinfo"] as? [String: Any])?["info_kind"] as? String
            #expect(d.kind == DeviceAssembler.kind(forLinkKind: try #require(kind)), "kind of \(name)")
            #expect(d.altNames == link["altnames"] as? [String], "altnames of \(name)")
            if let master = link["master"] as? String {
                #expect(d.parent == master, "parent of \(name)")
            } else if kind == "macvlan" {
                #expect(d.parent == link["link"] as? String, "parent of \(name)")
            } else {
                #expect(d.parent == nil, "parent of \(name)")
            }
            if let perm = link["permaddr"] as? String { #expect(d.permanentMAC == perm) }
        }
        for entry in addrs {
            let name = try #require(entry["ifname"] as? String)
            if name == "lo" { continue }
            let infos = entry["addr_info"] as? [[String: Any]] ?? []
            let expected = infos.compactMap { i -> String? in
                guard let local = i["local"] as? String, let plen = i["prefixlen"] as? Int else { return nil }
                if (i["scope"] as? String) == "link", local.hasPrefix("fe80") { return nil }
                return "\(local)/\(plen)"
            }
            #expect(byName[name]?.addresses ?? [] == expected, "addresses of \(name)")
        }

        // Spot checks with literal values.
        let v0 = try #require(byName["amv0"])
        #expect(v0.kind == .veth)
        #expect(v0.mac == "02:aa:bb:cc:dd:01")
        #expect(v0.mtu == 9000)
        #expect(v0.altNames == ["storage0"])
        #expect(v0.addresses == ["192.168.50.10/24", "2001:db8:50::10/64"])
        #expect(v0.driver == "veth")
        #expect(v0.pciAddress == nil)
        #expect(byName["amv1b"]?.parent == "ambr0")
        #expect(byName["ambr0"]?.kind == .bridge)
        #expect(byName["ambr0"]?.driver == "bridge")
        #expect(byName["ammv0"]?.kind == .macvlan)
        #expect(byName["ammv0"]?.parent == "amv1")
        #expect(byName["ammv0"]?.addresses == ["10.9.0.2/16"])
        #expect(byName["amv1"]?.operState == "down")
        #expect(v0.hasDefaultRoute == true)
        #expect(devices.filter { $0.hasDefaultRoute == true }.map(\.name) == ["amv0"])
        #expect(devices.allSatisfy { $0.hasDefaultRoute != nil })
    }

    @Test("snapshotJSON prints the NodeDevice status shape")
    func snapshotJSON() throws {
        let ns = try TestNetns()
        defer { ns.remove() }
        try ns.ip("link", "add", "amv0", "type", "veth", "peer", "name", "amv0p")
        try ns.ip("addr", "add", "192.168.9.1/24", "dev", "amv0")
        let text = try DeviceProber.snapshotJSON(netnsPath: ns.path)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(obj["deviceCount"] as? Int == 2)
        #expect((obj["probedAt"] as? String)?.hasSuffix("Z") == true)
        let devices = try #require(obj["devices"] as? [[String: Any]])
        #expect(devices.map { $0["name"] as? String } == ["amv0", "amv0p"])
        let d = devices[0]
        #expect(d["kind"] as? String == "veth")
        #expect(d["addresses"] as? [String] == ["192.168.9.1/24"])
        #expect(d["operState"] as? String == "down")
        #expect(d["mtu"] as? Int == 1500)
        #expect(d["pciAddress"] == nil) // omitted, not null
        #expect(d["lldp"] == nil)
    }

    @Test("loopback and IPv6 link-local are listed only on request")
    func optionalListings() async throws {
        let ns = try TestNetns()
        defer { ns.remove() }
        try ns.ip("link", "add", "amv0", "type", "veth", "peer", "name", "amv0p")
        try ns.ip("link", "set", "amv0", "up")
        try ns.ip("link", "set", "amv0p", "up")
        let prober = try DeviceProber(netnsPath: ns.path, options: .init(includeLoopback: true, includeIPv6LinkLocal: true))
        defer { prober.shutdown() }
        // The kernel adds the link-local address once the link is up (after DAD starts).
        var devices: [NetworkDevice] = []
        for _ in 0..<100 {
            devices = try await prober.probe()
            if devices.first(where: { $0.name == "amv0" })?.addresses?.contains(where: { $0.hasPrefix("fe80:") }) == true { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let lo = try #require(devices.first { $0.name == "lo" })
        #expect(lo.kind == .virtual)
        #expect(lo.addresses?.contains("127.0.0.1/8") == true)
        let v = try #require(devices.first { $0.name == "amv0" })
        #expect(v.addresses?.contains { $0.hasPrefix("fe80:") && $0.hasSuffix("/64") } == true)
    }

    @Test("a missing namespace is a clear error")
    func missingNamespace() throws {
        #expect(throws: ProbeError.enterNamespace(path: "/var/run/netns/am-none-xyz", errno: ENOENT)) {
            _ = try DeviceProber(netnsPath: "/var/run/netns/am-none-xyz")
        }
        let e = ProbeError.enterNamespace(path: "/x", errno: ENOENT)
        #expect(e.description == "failed to enter network namespace '/x': No such file or directory (errno 2)")
    }

    @Test("probe runs on the dedicated namespace thread, not the caller's")
    func runsOnDedicatedThread() async throws {
        let ns = try TestNetns()
        defer { ns.remove() }
        let prober = try DeviceProber(netnsPath: ns.path)
        defer { prober.shutdown() }
        #expect(prober.threadID != 0)
        #expect(prober.threadID != cnl_gettid())
        let d = try await prober.probe()
        #expect(d.isEmpty) // only lo in a fresh namespace, and lo is excluded
        prober.shutdown()
        await #expect(throws: ProbeError.self) { _ = try await prober.probe() }
    }
}
}
