import AutomagicAPI
import DRA
import JSON
import Resolver
import Testing

@Suite struct DRADeviceNameTests {
    @Test func pciAddressGivesAStableDNSLabel() {
        #expect(DRADeviceName.name(pciAddress: "0000:3B:00.0", mac: "02:aa:bb:cc:dd:01") == "pci-0000-3b-00-0")
        #expect(DRADeviceName.name(pciAddress: "5e:00.1", mac: nil) == "pci-0000-5e-00-1")
        #expect(DRADeviceName.name(pciAddress: "10000:01:1f.7", mac: nil) == "pci-10000-01-1f-7")
    }

    @Test func macAddressWhenThereIsNoUsablePCIAddress() {
        #expect(DRADeviceName.name(pciAddress: nil, mac: "02:AA:BB:CC:DD:01") == "mac-02aabbccdd01")
        #expect(DRADeviceName.name(pciAddress: "virtio0", mac: "02:aa:bb:cc:dd:01") == "mac-02aabbccdd01")
        #expect(DRADeviceName.name(pciAddress: "0000:3b:20.0", mac: "02:aa:bb:cc:dd:01") == "mac-02aabbccdd01", "device 0x20 > 0x1f")
        let ib = "80:00:02:08:fe:80:00:00:00:00:00:00:0c:42:a1:03:00:9e:12:34"
        let ibName = DRADeviceName.name(pciAddress: nil, mac: ib)
        #expect(ibName == "mac-" + String(ib.filter { $0 != ":" }))
        #expect((ibName?.count ?? 99) <= DRADeviceName.maxLength)
    }

    @Test func noStableIDNoName() {
        #expect(DRADeviceName.name(pciAddress: nil, mac: nil) == nil)
        #expect(DRADeviceName.name(pciAddress: "", mac: "") == nil)
        #expect(DRADeviceName.name(pciAddress: nil, mac: "02:aa:bb:cc:dd") == nil, "5 octets")
        #expect(DRADeviceName.name(pciAddress: nil, mac: "02:aa:bb:cc:dd:0g") == nil)
    }

    @Test func parseInvertsName() throws {
        #expect(DRADeviceName.parse("pci-0000-3b-00-0") == .pci("0000:3b:00.0"))
        #expect(DRADeviceName.parse("mac-02aabbccdd01") == .mac("02:aa:bb:cc:dd:01"))
        #expect(DRADeviceName.parse("pci-0000-3b-00-0")?.description == "0000:3b:00.0")
        for (pci, mac) in [("0000:5e:00.1", nil), (nil, "3c:fd:fe:aa:bb:01"), ("abcd:ef:1f.7", "02:00:00:00:00:01")] as [(String?, String?)] {
            let name = try #require(DRADeviceName.name(pciAddress: pci, mac: mac))
            let id = try #require(DRADeviceName.parse(name))
            #expect(id.description == (pci ?? mac), "\(name)")
        }
    }

    @Test func parseRefusesWhatThisDriverNeverWrites() {
        for bad in ["", "pci-", "pci-0000-3B-00-0", "pci-0000-3b-00", "pci-0000-3b-00-0-1", "pci-0000-3b-20-0",
                    "mac-02aabbccdd0", "mac-02AABBCCDD01", "mac-", "eth0", "mac-02aabbccdd01x"] {
            #expect(DRADeviceName.parse(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct DRAAttributesTests {
    @Test func attributeNamesDropDotsAndCapitalise() {
        #expect(DRAAttributes.name(of: .sriovTotalVFs) == "sriovTotalVFs")
        #expect(DRAAttributes.name(of: .lldpVlanIDs) == "lldpVlanIDs")
        #expect(DRAAttributes.name(of: .lldpManagementAddress) == "lldpManagementAddress")
        #expect(DRAAttributes.name(of: .mac) == "mac")
        #expect(DRAAttributes.attributeNames(of: .addresses) == ["addresses", "addresses2", "addresses3"])
    }

    @Test func everyAttributeNameIsACIdentifierAndTheyFitTheLimit() {
        var all: [String] = [DRAAttributes.node, DRAAttributes.truncated]
        for f in DeviceField.allCases { all += DRAAttributes.attributeNames(of: f) }
        #expect(Set(all).count == all.count, "no two fields share an attribute")
        #expect(all.count <= DRADriver.maxAttributesPerDevice, "\(all.count) attributes")
        for n in all {
            let ok = n.count <= DRADriver.maxAttributeNameLength && n.first.map { $0.isLetter } == true
                && n.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
            #expect(ok, "\(n)")
        }
    }

    @Test func typesAndCanonicalValues() throws {
        let nd = NetworkDevice(
            name: "ens5f0", altNames: ["enp94s0f0np0"], kind: .physical, mac: "3C:FD:FE:AA:BB:01", mtu: 9000,
            operState: "up", carrier: true, speedMbps: 25000, driver: "ice", pciAddress: "0000:5E:00.0", vendorID: "8086",
            deviceID: "159B", numaNode: 0, sriov: SRIOVInfo(totalVFs: 64, numVFs: 0), addresses: ["192.168.60.11/24"],
            hasDefaultRoute: false, lldp: LLDPNeighbor(chassisID: "AA:BB:CC:00:00:01", systemName: "leaf-07.dc1", vlanIDs: [100, 200]))
        let d = try #require(DRAAttributes.device(nd, node: "worker-1"))
        #expect(d.name == "pci-0000-5e-00-0")
        let a = d.attributes
        #expect(a["name"] == .string("ens5f0"))
        #expect(a["altNames"] == .string(",enp94s0f0np0,"))
        #expect(a["kind"] == .string("physical"))
        #expect(a["mac"] == .string("3c:fd:fe:aa:bb:01"))
        #expect(a["mtu"] == .int(9000))
        #expect(a["carrier"] == .bool(true))
        #expect(a["hasDefaultRoute"] == .bool(false))
        #expect(a["speedMbps"] == .int(25000))
        #expect(a["pciAddress"] == .string("0000:5e:00.0"))
        #expect(a["deviceID"] == .string("159b"))
        #expect(a["numaNode"] == .int(0))
        #expect(a["sriovTotalVFs"] == .int(64))
        #expect(a["sriovNumVFs"] == .int(0))
        #expect(a["addresses"] == .string(",192.168.60.11/24,"))
        #expect(a["lldpChassisID"] == .string("aa:bb:cc:00:00:01"))
        #expect(a["lldpSystemName"] == .string("leaf-07.dc1"))
        #expect(a["lldpVlanIDs"] == .string(",100,200,"))
        #expect(a["node"] == .string("worker-1"))
        #expect(a["truncated"] == nil && !d.isTruncated)
        #expect(a["permanentMAC"] == nil && a["parent"] == nil && a["lldpVlanNames"] == nil, "absent fields have no attribute")
        let json = d.json
        #expect(json["name"] == .string("pci-0000-5e-00-0"))
        #expect(json["attributes"]?["mtu"] == .object(["int": .int(9000)]))
        #expect(json["attributes"]?["driver"] == .object(["string": .string("ice")]))
        #expect(json["attributes"]?["carrier"] == .object(["bool": .bool(true)]))
    }

    @Test func emptyListsHaveNoAttribute() throws {
        let d = try #require(DRAAttributes.device(NetworkDevice(name: "e", mac: "02:00:00:00:00:01", addresses: [], lldp: LLDPNeighbor(vlanIDs: [])), node: "n"))
        #expect(d.attributes["addresses"] == nil && d.attributes["lldpVlanIDs"] == nil && !d.isTruncated)
    }

    @Test func addressesContinueInTwoMoreAttributesWithoutSplittingAnElement() throws {
        let addrs = ["192.168.60.11/24", "2001:db8:60::11/64", "fe80::3efd:feff:feaa:bb01/64", "10.20.0.5/16", "2001:db8:ffff:ffff:ffff:ffff:ffff:1/128"]
        let d = try #require(DRAAttributes.device(NetworkDevice(name: "e", mac: "02:00:00:00:00:01", addresses: addrs), node: "n"))
        #expect(!d.isTruncated)
        var seen: [String] = []
        for n in ["addresses", "addresses2", "addresses3"] {
            guard case .string(let s)? = d.attributes[n] else { continue }
            #expect(s.utf8.count <= 64 && s.hasPrefix(",") && s.hasSuffix(","), "\(n)=\(s)")
            seen += s.split(separator: ",").map(String.init)
        }
        #expect(seen == addrs)
        #expect(d.attributes["addresses2"] != nil)
    }

    @Test func valuesThatDoNotFitAreLeftOutWholeAndMarkTruncated() throws {
        let long = String(repeating: "x", count: 65)
        let exactly64 = String(repeating: "y", count: 64)
        let manyAddresses = (1...40).map { "10.0.\($0).1/24" }
        let nd = NetworkDevice(
            name: "e", mac: "02:00:00:00:00:01", driver: exactly64, addresses: manyAddresses,
            lldp: LLDPNeighbor(systemName: long, vlanNames: ["a,b"]))
        let d = try #require(DRAAttributes.device(nd, node: "n"))
        #expect(d.attributes["driver"] == .string(exactly64), "64 bytes fit")
        #expect(d.attributes["lldpSystemName"] == nil)
        #expect(d.attributes["lldpVlanNames"] == nil, "an element with ',' cannot be told from the separator")
        #expect(d.attributes["addresses"] == nil && d.attributes["addresses2"] == nil && d.attributes["addresses3"] == nil,
                "never a partial list")
        #expect(d.attributes["truncated"] == .bool(true))
        #expect(Set(d.omitted) == [.addresses, .lldpSystemName, .lldpVlanNames])
        // Multi-byte characters count as bytes: 22 × 3 bytes = 66 > 64.
        let wide = try #require(DRAAttributes.device(NetworkDevice(name: "e", mac: "02:00:00:00:00:01", lldp: LLDPNeighbor(portDescription: String(repeating: "€", count: 22))), node: "n"))
        #expect(wide.attributes["lldpPortDescription"] == nil && wide.isTruncated)
    }

    @Test func aLongNodeNameIsLeftOutSoNoNodeListMatches() throws {
        let d = try #require(DRAAttributes.device(NetworkDevice(name: "e", mac: "02:00:00:00:00:01"), node: String(repeating: "n", count: 70)))
        #expect(d.attributes["node"] == nil)
    }

    @Test func sharedMACNameGoesToTheDeviceWithoutParentThenByName() {
        let mac = "02:00:00:00:00:07"
        let devices = [
            NetworkDevice(name: "bond0.100", kind: .vlan, mac: mac, parent: "bond0"),
            NetworkDevice(name: "bond0", kind: .bond, mac: mac),
            NetworkDevice(name: "ens1", kind: .physical, mac: mac, pciAddress: "0000:01:00.0", parent: "bond0"),
            NetworkDevice(name: "lo"),
            NetworkDevice(name: "dummy10", mac: "02:00:00:00:00:08"),
            NetworkDevice(name: "dummy9", mac: "02:00:00:00:00:08"),
        ]
        for order in [devices, devices.reversed()] {
            let published = DRAAttributes.devices(order, node: "n")
            #expect(published.map(\.name) == ["mac-020000000007", "mac-020000000008", "pci-0000-01-00-0"])
            #expect(published.map { $0.attributes["name"] } == [.string("bond0"), .string("dummy9"), .string("ens1")])
        }
    }

    @Test func deviceWithoutStableIDIsNotPublished() {
        #expect(DRAAttributes.device(NetworkDevice(name: "lo"), node: "n") == nil)
    }

    @Test func deviceClassNames() {
        #expect(DRADriver.deviceClassName(network: "storage") == "storage.automagic.dev")
        #expect(DRADriver.network(deviceClassName: "storage.automagic.dev") == "storage")
        #expect(DRADriver.network(deviceClassName: ".automagic.dev") == nil)
        #expect(DRADriver.network(deviceClassName: "storage.example.com") == nil)
    }
}
