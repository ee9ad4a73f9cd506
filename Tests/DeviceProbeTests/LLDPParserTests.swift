import Foundation
import Testing

@testable import DeviceProbe

@Suite("LLDP parser")
struct LLDPParserTests {
    static let switchMAC: [UInt8] = [0x02, 0x1c, 0x73, 0x00, 0x00, 0x01]

    static func full() -> LLDPFrameBuilder {
        var b = LLDPFrameBuilder(source: switchMAC, chassisID: .mac(switchMAC), portID: .interfaceName("Ethernet12"))
        b.ttl = 120
        b.systemName = "tor-r1-a"
        b.portDescription = "server-7 port 1"
        b.systemDescription = "Arista"
        b.managementAddresses = [.ipv4([10, 0, 0, 1]), .ipv6([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1])]
        b.portVLANID = 100
        b.vlanNames = [LLDPVLANName(vlanID: 100, name: "storage"), LLDPVLANName(vlanID: 200, name: "backup")]
        b.extraTLVs = [(7, [0, 0x14, 0, 0x14]), (127, [0x00, 0x12, 0x0f, 1, 3, 0x6c, 0, 0, 0x10])] // caps, 802.3 MAC/PHY
        return b
    }

    @Test("a complete frame parses into every field")
    func complete() throws {
        let du = try LLDP.parseFrame(Self.full().frame())
        #expect(du.chassisID == LLDPID(kind: .macAddress, value: "02:1c:73:00:00:01"))
        #expect(du.portID == LLDPID(kind: .interfaceName, value: "Ethernet12"))
        #expect(du.ttl == 120)
        #expect(du.systemName == "tor-r1-a")
        #expect(du.portDescription == "server-7 port 1")
        #expect(du.systemDescription == "Arista")
        #expect(du.managementAddresses == ["10.0.0.1", "2001:db8::1"])
        #expect(du.portVLANID == 100)
        #expect(du.vlanNames == [LLDPVLANName(vlanID: 100, name: "storage"), LLDPVLANName(vlanID: 200, name: "backup")])
        #expect(du.vlanIDs == [100, 200])
        #expect(du.unknownTLVs == 2)
    }

    @Test("ID subtypes: network address, locally assigned, non-printable bytes as hex")
    func idSubtypes() throws {
        var b = LLDPFrameBuilder(source: Self.switchMAC, chassisID: .ipv4([192, 0, 2, 7]), portID: .locallyAssigned("17"))
        var du = try LLDP.parseFrame(b.frame())
        #expect(du.chassisID == LLDPID(kind: .networkAddress, value: "192.0.2.7"))
        #expect(du.portID == LLDPID(kind: .locallyAssigned, value: "17"))
        b.chassisID = .locallyAssigned("\u{01}\u{02}")
        b.portID = .interfaceAlias("uplink")
        b.endTLV = false // optional since 802.1AB-2016
        du = try LLDP.parseFrame(b.frame())
        #expect(du.chassisID.value == "01:02")
        #expect(du.portID == LLDPID(kind: .interfaceAlias, value: "uplink"))
        b.chassisID = .ipv6([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [9])
        du = try LLDP.parseFrame(b.frame())
        #expect(du.chassisID.value == "2001:db8::9")
    }

    static func defect(_ frame: [UInt8]) -> LLDPDefect? {
        do {
            _ = try LLDP.parseFrame(frame)
            return nil
        } catch {
            if case let .parseLLDP(d) = error { return d }
            return nil
        }
    }

    static func header() -> [UInt8] { LLDP.multicastMAC + switchMAC + [0x88, 0xCC] }
    static let chassis = LLDPFrameBuilder.tlv(1, [4] + switchMAC)
    static let port = LLDPFrameBuilder.tlv(2, [5] + Array("p1".utf8))
    static let ttl = LLDPFrameBuilder.tlv(3, [0, 120])

    @Test("malformed frames are rejected with a reason")
    func malformed() throws {
        let h = Self.header()
        #expect(Self.defect([1, 2, 3]) == .frameTooShort(length: 3))
        #expect(Self.defect(LLDP.multicastMAC + Self.switchMAC + [0x08, 0x00, 0, 0]) == .notLLDP(ethertype: 0x800))
        // TLV claims 40 bytes, 7 remain.
        #expect(Self.defect(h + [0x02, 40] + [4] + Self.switchMAC) == .truncatedTLV(type: 1, offset: 0, declared: 40, available: 7))
        // A lone byte where a TLV header should be.
        #expect(Self.defect(h + Self.chassis + Self.port + Self.ttl + [0x0A]) != nil)
        // Wrong TTL length.
        #expect(Self.defect(h + Self.chassis + Self.port + LLDPFrameBuilder.tlv(3, [0, 1, 2]) + [0, 0])
            == .badLength(tlv: "Time To Live", length: 3))
        // Mandatory TLVs out of order / missing.
        #expect(Self.defect(h + Self.port + Self.chassis + Self.ttl + [0, 0]) == .missingMandatory(tlv: "Chassis ID", found: 2))
        #expect(Self.defect(h + Self.chassis + Self.port + [0, 0]) == .missingMandatory(tlv: "Time To Live", found: 0))
        // Duplicate mandatory TLV.
        #expect(Self.defect(h + Self.chassis + Self.port + Self.ttl + Self.chassis + [0, 0]) == .duplicate(tlv: "Chassis ID"))
        // MAC chassis ID of the wrong size; empty chassis ID.
        #expect(Self.defect(h + LLDPFrameBuilder.tlv(1, [4, 1, 2]) + Self.port + Self.ttl + [0, 0])
            == .invalidValue(tlv: "Chassis ID", detail: "MAC address of 2 bytes"))
        #expect(Self.defect(h + LLDPFrameBuilder.tlv(1, [4]) + Self.port + Self.ttl) == .badLength(tlv: "Chassis ID", length: 1))
        // End TLV with a length.
        #expect(Self.defect(h + Self.chassis + Self.port + Self.ttl + [0, 1, 0]) == .badLength(tlv: "End", length: 1))
        // Port VLAN ID TLV of the wrong length; VLAN name whose length byte lies.
        #expect(Self.defect(h + Self.chassis + Self.port + Self.ttl + LLDPFrameBuilder.tlv(127, [0, 0x80, 0xC2, 1, 0]) + [0, 0])
            == .badLength(tlv: "Port VLAN ID", length: 5))
        #expect(Self.defect(h + Self.chassis + Self.port + Self.ttl
            + LLDPFrameBuilder.tlv(127, [0, 0x80, 0xC2, 3, 0, 100, 20] + Array("abc".utf8)) + [0, 0])
            == .badLength(tlv: "VLAN Name", length: 10))
        // Management address whose address length runs past the TLV.
        #expect(Self.defect(h + Self.chassis + Self.port + Self.ttl + LLDPFrameBuilder.tlv(8, [30, 1, 10, 0, 0, 1, 2, 0, 0, 0, 0, 0]) + [0, 0])
            == .badLength(tlv: "Management Address", length: 12))
        // Oversized: a 9000-byte jumbo frame, and an LLDPDU of more than 1500 bytes of TLVs.
        #expect(Self.defect(h + Self.chassis + Self.port + Self.ttl + [UInt8](repeating: 0, count: 9000))
            == .oversized(length: 9032, limit: 1518))
        // 1502 bytes of TLVs in a 1516-byte frame: the frame fits, the LLDPDU does not.
        var big = h + Self.chassis + Self.port + Self.ttl
        big += LLDPFrameBuilder.tlv(6, [UInt8](repeating: 0x41, count: 511))
        big += LLDPFrameBuilder.tlv(4, [UInt8](repeating: 0x42, count: 511))
        big += LLDPFrameBuilder.tlv(5, [UInt8](repeating: 0x43, count: 456))
        #expect(big.count == 1516)
        #expect(Self.defect(big) == .oversized(length: 1502, limit: 1500))
    }

    @Test("unknown TLVs are skipped, padding after End is ignored, VLAN-tagged frames accepted")
    func tolerated() throws {
        var b = Self.full()
        b.extraTLVs = [(9, [1, 2, 3]), (126, []), (127, [0xAA, 0xBB, 0xCC, 9, 1])]
        let du = try LLDP.parseFrame(b.frame() + [UInt8](repeating: 0, count: 30))
        #expect(du.unknownTLVs == 3)
        #expect(du.systemName == "tor-r1-a")
        let f = b.frame()
        let tagged = Array(f[0..<12]) + [0x81, 0x00, 0x00, 0x64] + Array(f[12...])
        #expect(try LLDP.parseFrame(tagged).portVLANID == 100)
    }

    @Test("fuzz: random and mutated frames never crash and always answer", .timeLimit(.minutes(1)))
    func fuzz() throws {
        var rng = SystemRandomNumberGenerator()
        let seeds = [Self.full().frame(), LLDPFrameBuilder(source: Self.switchMAC, chassisID: .ipv4([1, 2, 3, 4]), portID: .mac(Self.switchMAC)).frame()]
        let deadline = ContinuousClock.now + .seconds(2)
        var runs = 0
        var accepted = 0
        while ContinuousClock.now < deadline {
            var f: [UInt8]
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:
                f = (0..<Int.random(in: 0..<200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if f.count > 14, Bool.random(using: &rng) { f[12] = 0x88; f[13] = 0xCC }
            case 1:
                f = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    f[Int.random(in: 0..<f.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            case 2:
                f = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                f = Array(f.prefix(Int.random(in: 0...f.count, using: &rng)))
            default:
                f = seeds[0]
                let at = Int.random(in: 14..<f.count, using: &rng)
                f.insert(contentsOf: (0..<Int.random(in: 1...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
            }
            do {
                let du = try LLDP.parseFrame(f)
                accepted += 1
                #expect(du.ttl >= 0 && du.ttl <= 65535)
                #expect(du.vlanIDs.allSatisfy { (1...4094).contains($0) })
            } catch {
                guard case .parseLLDP = error else {
                    Issue.record("unexpected error \(error)")
                    break
                }
            }
            runs += 1
        }
        #expect(runs > 1000)
        #expect(accepted > 0)
        #expect(accepted < runs)
    }
}
