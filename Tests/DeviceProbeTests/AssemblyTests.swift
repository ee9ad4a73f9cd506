import Foundation
import Testing
import AutomagicAPI

@testable import DeviceProbe

/// Pure tests: sysfs fixture trees and synthetic kernel facts, no root needed.
@Suite("Assembly from fixtures")
struct AssemblyTests {
    /// Builds a fixture sysfs with a PF (ens5f0, 2 of 8 VFs enabled) and one VF (ens5f0v0),
    /// plus a virtio NIC whose PCI function is the parent of its device directory.
    static func fixture() throws -> String {
        let root = NSTemporaryDirectory() + "amfix-\(UInt32.random(in: 0...UInt32.max))"
        let fm = FileManager.default
        func write(_ rel: String, _ text: String) throws {
            let p = root + rel
            try fm.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: p, atomically: false, encoding: .utf8)
        }
        func link(_ rel: String, _ target: String) throws {
            let p = root + rel
            try fm.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: p, withDestinationPath: target)
        }
        let pf = "/sys/devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0"
        let vf = "/sys/devices/pci0000:5d/0000:5d:00.0/0000:5e:02.0"
        try write(pf + "/vendor", "0x8086\n")
        try write(pf + "/device", "0x1593\n")
        try write(pf + "/numa_node", "1\n")
        try write(pf + "/sriov_totalvfs", "8\n")
        try write(pf + "/sriov_numvfs", "2\n")
        try write(vf + "/vendor", "0x8086\n")
        try write(vf + "/device", "0x1889\n")
        try write(vf + "/numa_node", "1\n")
        try link(vf + "/physfn", "../0000:5e:00.0")
        try link("/sys/bus/pci/devices/0000:5e:00.0", "../../../devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0")
        try link("/sys/bus/pci/devices/0000:5e:02.0", "../../../devices/pci0000:5d/0000:5d:00.0/0000:5e:02.0")
        try write("/sys/class/net/ens5f0/ifindex", "7\n")
        try link("/sys/class/net/ens5f0/device", "../../../devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0")
        try write("/sys/class/net/ens5f0v0/ifindex", "9\n")
        try link("/sys/class/net/ens5f0v0/device", "../../../devices/pci0000:5d/0000:5d:00.0/0000:5e:02.0")
        let virtioPCI = "/sys/devices/pci0000:00/0000:00:03.0"
        try write(virtioPCI + "/vendor", "0x1af4\n")
        try write(virtioPCI + "/device", "0x1041\n")
        try write(virtioPCI + "/numa_node", "-1\n")
        try write(virtioPCI + "/virtio2/vendor", "0x1af4\n")
        try link("/sys/bus/pci/devices/0000:00:03.0", "../../../devices/pci0000:00/0000:00:03.0")
        try write("/sys/class/net/eth0/ifindex", "2\n")
        try link("/sys/class/net/eth0/device", "../../../devices/pci0000:00/0000:00:03.0/virtio2")
        // Same name as a fixture interface but a different ifindex: must not be trusted.
        try write("/sys/class/net/eth1/ifindex", "99\n")
        try link("/sys/class/net/eth1/device", "../../../devices/pci0000:00/0000:00:03.0/virtio2")
        return root
    }

    @Test("PF, VF, virtio NIC and a sysfs entry from another namespace")
    func pciAndSRIOV() throws {
        let root = try Self.fixture()
        defer {
            do { try FileManager.default.removeItem(atPath: root) } catch { print("cleanup: \(error)") }
        }
        let sysfs = Sysfs(root: root)
        var pf = RawLink(index: 7, name: "ens5f0")
        pf.address = [0x3c, 0xfd, 0xfe, 0xaa, 0xbb, 0x00]
        pf.permAddress = [0x3c, 0xfd, 0xfe, 0xaa, 0xbb, 0x00]
        pf.mtu = 9000
        pf.operState = 6
        pf.carrier = 1
        var vf = RawLink(index: 9, name: "ens5f0v0")
        vf.operState = 2
        var virtio = RawLink(index: 2, name: "eth0")
        virtio.parentDevName = "virtio2"
        virtio.parentDevBusName = "virtio"
        let other = RawLink(index: 3, name: "eth1")
        var bond = RawLink(index: 10, name: "bond0")
        bond.kind = "bond"
        var slave = RawLink(index: 11, name: "ens6")
        slave.master = 10
        let addr = RawAddress(family: 2, prefixLength: 24, index: 7, address: [192, 168, 50, 3])
        let ll = RawAddress(family: 10, prefixLength: 64, index: 7, address: [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1])

        let assembler = DeviceAssembler(sysfs: sysfs, options: .init())
        let devices = assembler.assemble(links: [pf, vf, virtio, other, bond, slave], addresses: [addr, ll]) { name in
            switch name {
            case "ens5f0": EthtoolInfo(driver: "ice", busInfo: "0000:5e:00.0", speedMbps: 100_000)
            case "ens5f0v0": EthtoolInfo(driver: "iavf", busInfo: "0000:5e:02.0", speedMbps: nil)
            case "eth0": EthtoolInfo(driver: "virtio_net", busInfo: "0000:00:03.0", speedMbps: nil)
            default: EthtoolInfo()
            }
        }.map(\.device)
        let byName = Dictionary(uniqueKeysWithValues: devices.map { ($0.name, $0) })
        let p = try #require(byName["ens5f0"])
        #expect(p.kind == .physical)
        #expect(p.pciAddress == "0000:5e:00.0")
        #expect(p.vendorID == "8086")
        #expect(p.deviceID == "1593")
        #expect(p.numaNode == 1)
        #expect(p.sriov == .init(totalVFs: 8, numVFs: 2))
        #expect(p.speedMbps == 100_000)
        #expect(p.driver == "ice")
        #expect(p.mac == "3c:fd:fe:aa:bb:00")
        #expect(p.permanentMAC == "3c:fd:fe:aa:bb:00")
        #expect(p.operState == "up")
        #expect(p.carrier == true)
        #expect(p.addresses == ["192.168.50.3/24"])
        let v = try #require(byName["ens5f0v0"])
        #expect(v.kind == .vf)
        #expect(v.parent == "ens5f0")
        #expect(v.sriov == .init(pfName: "ens5f0"))
        #expect(v.deviceID == "1889")
        #expect(v.operState == "down")
        let e = try #require(byName["eth0"])
        #expect(e.kind == .physical)
        #expect(e.pciAddress == "0000:00:03.0")
        #expect(e.vendorID == "1af4")
        #expect(e.deviceID == "1041")
        #expect(e.numaNode == nil) // -1 means unknown: omitted
        let o = try #require(byName["eth1"])
        #expect(o.kind == .virtual) // sysfs ifindex 99 != 3: not this interface's device
        #expect(o.pciAddress == nil)
        #expect(byName["bond0"]?.kind == .bond)
        #expect(byName["ens6"]?.parent == "bond0")
        #expect(devices.map(\.name) == ["bond0", "ens5f0", "ens5f0v0", "ens6", "eth0", "eth1"])
    }

    @Test("sysfs path handling rejects unsafe names")
    func sysfsValidation() {
        #expect(!Sysfs.isSafeName("../x"))
        #expect(!Sysfs.isSafeName(".."))
        #expect(Sysfs.isSafeName("ens5f0"))
        #expect(Sysfs(root: "/tmp/x/").path("/sys") == "/tmp/x/sys")
        #expect(Sysfs(root: "/").path("/sys") == "/sys")
    }

    @Test("netlink parsing survives truncated and garbage input")
    func netlinkRobustness() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<4_000 {
            let n = Int.random(in: 0..<200, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes.withUnsafeBytes { raw in
                let view = ByteView(raw)
                let (messages, _) = splitNetlinkMessages(view)
                for m in messages {
                    _ = RawLink(payload: m.payload)
                    _ = RawAddress(payload: m.payload)
                    _ = defaultRouteInterfaces(payload: m.payload)
                }
                _ = RawLink(payload: view)
                _ = RawAddress(payload: view)
                _ = defaultRouteInterfaces(payload: view)
            }
        }
        // A header claiming more bytes than present is reported malformed.
        let bad: [UInt8] = [0xFF, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        bad.withUnsafeBytes { raw in
            #expect(splitNetlinkMessages(ByteView(raw)).malformed)
            #expect(splitNetlinkMessages(ByteView(raw)).messages.isEmpty)
        }
    }

    @Test("formatting of hardware and IP addresses")
    func formatting() {
        #expect(formatMAC([0x02, 0xAB, 0, 1, 0xFF, 0x10]) == "02:ab:00:01:ff:10")
        #expect(formatIP([10, 0, 0, 1]) == "10.0.0.1")
        #expect(formatIP([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]) == "2001:db8::1")
        #expect(formatIP([1, 2, 3]) == nil)
        #expect(isIPv6LinkLocal([0xfe, 0x80] + [UInt8](repeating: 0, count: 14)))
        #expect(!isIPv6LinkLocal([0xfe, 0xc0] + [UInt8](repeating: 0, count: 14)))
    }
}
