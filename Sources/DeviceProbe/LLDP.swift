// LLDP (IEEE 802.1AB) parsing and building. Pure and bounds-checked: every read is
// checked against the TLV's declared length and the bytes actually present; any defect
// rejects the whole LLDPDU with a reason (the standard says to discard it).

/// How a chassis or port identifier is expressed (the TLV subtype, named).
public enum LLDPIDKind: String, Sendable, Hashable, Codable {
    /// Chassis/port component (entPhysicalAlias), interface alias (ifAlias), MAC, network
    /// address, interface name (ifName), agent circuit ID (port only), locally assigned,
    /// or a reserved subtype.
    case chassisComponent, interfaceAlias, portComponent, macAddress, networkAddress
    case interfaceName, agentCircuitID, locallyAssigned, reserved

    /// Chassis ID subtypes 1–7.
    static func chassis(_ v: UInt8) -> LLDPIDKind {
        switch v {
        case 1: .chassisComponent
        case 2: .interfaceAlias
        case 3: .portComponent
        case 4: .macAddress
        case 5: .networkAddress
        case 6: .interfaceName
        case 7: .locallyAssigned
        default: .reserved
        }
    }

    /// Port ID subtypes 1–7.
    static func port(_ v: UInt8) -> LLDPIDKind {
        switch v {
        case 1: .interfaceAlias
        case 2: .portComponent
        case 3: .macAddress
        case 4: .networkAddress
        case 5: .interfaceName
        case 6: .agentCircuitID
        case 7: .locallyAssigned
        default: .reserved
        }
    }

    var chassisSubtype: UInt8 {
        switch self {
        case .chassisComponent: 1
        case .interfaceAlias: 2
        case .portComponent: 3
        case .macAddress: 4
        case .networkAddress: 5
        case .interfaceName: 6
        case .locallyAssigned, .agentCircuitID, .reserved: 7
        }
    }

    var portSubtype: UInt8 {
        switch self {
        case .interfaceAlias: 1
        case .portComponent, .chassisComponent: 2
        case .macAddress: 3
        case .networkAddress: 4
        case .interfaceName: 5
        case .agentCircuitID: 6
        case .locallyAssigned, .reserved: 7
        }
    }
}

/// A chassis or port identifier: its kind and its text (MAC as `aa:bb:..`, network
/// addresses as IP text, names as UTF-8; anything not printable as colon hex).
public struct LLDPID: Sendable, Hashable, Codable {
    /// The subtype.
    public var kind: LLDPIDKind
    /// The identifier as text.
    public var value: String

    /// An identifier of the given kind and text.
    public init(kind: LLDPIDKind, value: String) {
        self.kind = kind
        self.value = value
    }
}

/// A VLAN name TLV (IEEE 802.1, subtype 3).
public struct LLDPVLANName: Sendable, Hashable, Codable {
    /// VLAN ID, 1–4094.
    public var vlanID: Int
    /// VLAN name, up to 32 bytes.
    public var name: String

    /// A VLAN name entry.
    public init(vlanID: Int, name: String) {
        self.vlanID = vlanID
        self.name = name
    }
}

/// A parsed LLDPDU.
public struct LLDPDU: Sendable, Hashable {
    /// Chassis ID TLV (mandatory, first).
    public var chassisID: LLDPID
    /// Port ID TLV (mandatory, second).
    public var portID: LLDPID
    /// Seconds the information stays valid; 0 means "forget me now" (shutdown).
    public var ttl: Int
    /// Port Description TLV.
    public var portDescription: String?
    /// System Name TLV.
    public var systemName: String?
    /// System Description TLV.
    public var systemDescription: String?
    /// Management addresses as text (IPv4/IPv6, MAC for IEEE 802 addresses, hex otherwise).
    public var managementAddresses: [String] = []
    /// IEEE 802.1 port VLAN ID (subtype 1); nil when absent or 0 (not supported).
    public var portVLANID: Int?
    /// IEEE 802.1 VLAN names (subtype 3).
    public var vlanNames: [LLDPVLANName] = []
    /// Number of TLVs skipped because they are not understood.
    public var unknownTLVs: Int = 0

    /// An LLDPDU with the mandatory TLVs only.
    public init(chassisID: LLDPID, portID: LLDPID, ttl: Int) {
        self.chassisID = chassisID
        self.portID = portID
        self.ttl = ttl
    }

    /// Port VLAN ID first, then the IDs of the VLAN name TLVs, without duplicates.
    public var vlanIDs: [Int] {
        var out: [Int] = []
        if let p = portVLANID { out.append(p) }
        for v in vlanNames where !out.contains(v.vlanID) { out.append(v.vlanID) }
        return out
    }
}

/// Why a frame was rejected.
/// The cause carried by `ProbeError.parseLLDP`.
public enum LLDPDefect: Error, Sendable, Hashable, CustomStringConvertible {
    case frameTooShort(length: Int)
    case notLLDP(ethertype: Int)
    case oversized(length: Int, limit: Int)
    case truncatedTLV(type: Int, offset: Int, declared: Int, available: Int)
    case badLength(tlv: String, length: Int)
    case missingMandatory(tlv: String, found: Int)
    case duplicate(tlv: String)
    case invalidValue(tlv: String, detail: String)

    /// A short stable name for metrics labels (`truncatedTLV`, `oversized`, ...).
    public var kindName: String {
        switch self {
        case .frameTooShort: "frameTooShort"
        case .notLLDP: "notLLDP"
        case .oversized: "oversized"
        case .truncatedTLV: "truncatedTLV"
        case .badLength: "badLength"
        case .missingMandatory: "missingMandatory"
        case .duplicate: "duplicate"
        case .invalidValue: "invalidValue"
        }
    }

    public var description: String {
        switch self {
        case let .frameTooShort(n): "frame of \(n) bytes is shorter than an Ethernet header"
        case let .notLLDP(t): "ethertype 0x\(String(t, radix: 16)) is not LLDP (0x88cc)"
        case let .oversized(n, limit): "\(n) bytes exceed the limit of \(limit) bytes"
        case let .truncatedTLV(t, off, declared, available):
            "TLV type \(t) at offset \(off) declares \(declared) bytes but \(available) remain"
        case let .badLength(tlv, n): "\(tlv) TLV has invalid length \(n)"
        case let .missingMandatory(tlv, found): "expected \(tlv) TLV, found type \(found)"
        case let .duplicate(tlv): "duplicate \(tlv) TLV"
        case let .invalidValue(tlv, detail): "\(tlv) TLV: \(detail)"
        }
    }
}

/// LLDP frame parsing and building.
public enum LLDP {
    /// Ethertype of LLDP.
    public static let ethertype = 0x88CC
    /// The nearest-bridge multicast destination 01:80:c2:00:00:0e.
    public static let multicastMAC: [UInt8] = [0x01, 0x80, 0xC2, 0x00, 0x00, 0x0E]
    /// Largest LLDPDU accepted (the Ethernet MTU, as 802.1AB bounds it by the frame size).
    public static let maxPDULength = 1500
    static let ieee8021OUI: [UInt8] = [0x00, 0x80, 0xC2]

    /// Parses a whole Ethernet frame (destination, source, optional 802.1Q tag, ethertype, LLDPDU).
    public static func parseFrame(_ frame: some Collection<UInt8>) throws(ProbeError) -> LLDPDU {
        let bytes = Array(frame)
        guard bytes.count >= 14 else { throw .parseLLDP(.frameTooShort(length: bytes.count)) }
        guard bytes.count <= 18 + maxPDULength else {
            throw .parseLLDP(.oversized(length: bytes.count, limit: 18 + maxPDULength))
        }
        var offset = 12
        var type = Int(bytes[12]) << 8 | Int(bytes[13])
        if type == 0x8100 || type == 0x88A8 {
            guard bytes.count >= 18 else { throw .parseLLDP(.frameTooShort(length: bytes.count)) }
            offset = 16
            type = Int(bytes[16]) << 8 | Int(bytes[17])
        }
        guard type == ethertype else { throw .parseLLDP(.notLLDP(ethertype: type)) }
        return try parsePDU(bytes[(offset + 2)...])
    }

    /// Parses an LLDPDU (the bytes after the ethertype).
    public static func parsePDU(_ pdu: ArraySlice<UInt8>) throws(ProbeError) -> LLDPDU {
        do throws(LLDPDefect) {
            return try parseTLVs(pdu)
        } catch {
            throw .parseLLDP(error)
        }
    }

    private static func parseTLVs(_ pdu: ArraySlice<UInt8>) throws(LLDPDefect) -> LLDPDU {
        // Trailing Ethernet padding is allowed after the End TLV; count only up to it.
        var tlvs: [(type: Int, value: ArraySlice<UInt8>)] = []
        var i = pdu.startIndex
        var sawEnd = false
        while i < pdu.endIndex {
            let offset = i - pdu.startIndex
            guard pdu.endIndex - i >= 2 else {
                throw .truncatedTLV(type: Int(pdu[i] >> 1), offset: offset, declared: 2, available: pdu.endIndex - i)
            }
            let header = Int(pdu[i]) << 8 | Int(pdu[i + 1])
            let type = header >> 9
            let length = header & 0x1FF
            let start = i + 2
            guard pdu.endIndex - start >= length else {
                throw .truncatedTLV(type: type, offset: offset, declared: length, available: pdu.endIndex - start)
            }
            if type == 0 {
                guard length == 0 else { throw .badLength(tlv: "End", length: length) }
                sawEnd = true
                i = start
                break
            }
            tlvs.append((type, pdu[start..<(start + length)]))
            i = start + length
            if i - pdu.startIndex > maxPDULength { throw .oversized(length: i - pdu.startIndex, limit: maxPDULength) }
        }
        let used = i - pdu.startIndex
        if used > maxPDULength || (!sawEnd && pdu.count > maxPDULength) {
            throw .oversized(length: sawEnd ? used : pdu.count, limit: maxPDULength)
        }

        func mandatory(_ index: Int, _ type: Int, _ name: String) throws(LLDPDefect) -> ArraySlice<UInt8> {
            guard index < tlvs.count else { throw .missingMandatory(tlv: name, found: 0) }
            guard tlvs[index].type == type else { throw .missingMandatory(tlv: name, found: tlvs[index].type) }
            return tlvs[index].value
        }
        let chassis = try mandatory(0, 1, "Chassis ID")
        let port = try mandatory(1, 2, "Port ID")
        let ttl = try mandatory(2, 3, "Time To Live")
        guard (2...256).contains(chassis.count) else { throw .badLength(tlv: "Chassis ID", length: chassis.count) }
        guard (2...256).contains(port.count) else { throw .badLength(tlv: "Port ID", length: port.count) }
        guard ttl.count == 2 else { throw .badLength(tlv: "Time To Live", length: ttl.count) }

        let chassisKind = LLDPIDKind.chassis(chassis[chassis.startIndex])
        let portKind = LLDPIDKind.port(port[port.startIndex])
        var du = LLDPDU(
            chassisID: LLDPID(kind: chassisKind, value: try idText(chassis.dropFirst(), kind: chassisKind, tlv: "Chassis ID")),
            portID: LLDPID(kind: portKind, value: try idText(port.dropFirst(), kind: portKind, tlv: "Port ID")),
            ttl: Int(ttl[ttl.startIndex]) << 8 | Int(ttl[ttl.startIndex + 1]))

        for (type, value) in tlvs.dropFirst(3) {
            switch type {
            case 1: throw .duplicate(tlv: "Chassis ID")
            case 2: throw .duplicate(tlv: "Port ID")
            case 3: throw .duplicate(tlv: "Time To Live")
            case 4:
                guard du.portDescription == nil else { throw .duplicate(tlv: "Port Description") }
                du.portDescription = text(value)
            case 5:
                guard du.systemName == nil else { throw .duplicate(tlv: "System Name") }
                du.systemName = text(value)
            case 6:
                guard du.systemDescription == nil else { throw .duplicate(tlv: "System Description") }
                du.systemDescription = text(value)
            case 8:
                du.managementAddresses.append(try managementAddress(value))
            case 127:
                guard value.count >= 4 else { throw .badLength(tlv: "Organizationally Specific", length: value.count) }
                let s = value.startIndex
                if Array(value[s..<(s + 3)]) == ieee8021OUI {
                    let body = value[(s + 4)...]
                    switch value[s + 3] {
                    case 1:
                        guard body.count == 2 else { throw .badLength(tlv: "Port VLAN ID", length: value.count) }
                        let pvid = Int(body[body.startIndex]) << 8 | Int(body[body.startIndex + 1])
                        guard pvid <= 4094 else { throw .invalidValue(tlv: "Port VLAN ID", detail: "VLAN ID \(pvid) out of range") }
                        if pvid != 0 { du.portVLANID = pvid }
                    case 3:
                        guard body.count >= 3 else { throw .badLength(tlv: "VLAN Name", length: value.count) }
                        let b = body.startIndex
                        let vid = Int(body[b]) << 8 | Int(body[b + 1])
                        let n = Int(body[b + 2])
                        guard n <= 32, body.count == 3 + n else { throw .badLength(tlv: "VLAN Name", length: value.count) }
                        guard (1...4094).contains(vid) else { throw .invalidValue(tlv: "VLAN Name", detail: "VLAN ID \(vid) out of range") }
                        du.vlanNames.append(LLDPVLANName(vlanID: vid, name: text(body[(b + 3)...])))
                    default:
                        du.unknownTLVs += 1
                    }
                } else {
                    du.unknownTLVs += 1
                }
            default:
                du.unknownTLVs += 1 // system capabilities (7), reserved 9–126: skipped
            }
        }
        return du
    }

    private static func idText(_ v: ArraySlice<UInt8>, kind: LLDPIDKind, tlv: String) throws(LLDPDefect) -> String {
        switch kind {
        case .macAddress:
            guard v.count == 6 else { throw .invalidValue(tlv: tlv, detail: "MAC address of \(v.count) bytes") }
            return formatMAC(v)
        case .networkAddress:
            guard let s = networkAddress(v) else { throw .invalidValue(tlv: tlv, detail: "malformed network address") }
            return s
        default:
            return printable(v) ?? formatMAC(v)
        }
    }

    /// IANA address family byte followed by the address.
    private static func networkAddress(_ v: ArraySlice<UInt8>) -> String? {
        guard let family = v.first else { return nil }
        let addr = Array(v.dropFirst())
        switch (family, addr.count) {
        case (1, 4), (2, 16): return formatIP(addr)
        case (6, 6): return formatMAC(addr)
        default: return addr.isEmpty ? nil : formatMAC(addr)
        }
    }

    private static func managementAddress(_ v: ArraySlice<UInt8>) throws(LLDPDefect) -> String {
        // addr string length (1..), subtype+address, if subtype (1), if number (4), OID length (1), OID.
        guard v.count >= 9, v.count <= 167 else { throw .badLength(tlv: "Management Address", length: v.count) }
        let s = v.startIndex
        let alen = Int(v[s])
        guard (2...32).contains(alen), v.count >= 1 + alen + 6 else {
            throw .badLength(tlv: "Management Address", length: v.count)
        }
        let oidLen = Int(v[s + 1 + alen + 5])
        guard oidLen <= 128, v.count == 1 + alen + 6 + oidLen else {
            throw .badLength(tlv: "Management Address", length: v.count)
        }
        guard let text = networkAddress(v[(s + 1)..<(s + 1 + alen)]) else {
            throw .invalidValue(tlv: "Management Address", detail: "malformed address")
        }
        return text
    }

    /// Text TLVs: UTF-8 (invalid sequences repaired), trailing NULs dropped.
    private static func text(_ v: ArraySlice<UInt8>) -> String {
        var end = v.endIndex
        while end > v.startIndex, v[end - 1] == 0 { end -= 1 }
        return String(decoding: v[v.startIndex..<end], as: UTF8.self)
    }

    /// Valid UTF-8 with no control characters, or nil.
    private static func printable(_ v: ArraySlice<UInt8>) -> String? {
        var end = v.endIndex
        while end > v.startIndex, v[end - 1] == 0 { end -= 1 }
        let bytes = v[v.startIndex..<end]
        guard !bytes.isEmpty, let s = String(validating: bytes, as: UTF8.self) else { return nil }
        guard !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return nil }
        return s
    }
}

/// Builds LLDP frames (tests, the lab's simulated switches).
///
/// ```swift
/// var b = LLDPFrameBuilder(source: [0x02, 0, 0, 0, 0, 1],
///                          chassisID: .mac([0x02, 0, 0, 0, 0, 1]), portID: .interfaceName("Ethernet12"))
/// b.systemName = "tor-r1-a"; b.portVLANID = 100
/// let frame = b.frame()
/// ```
public struct LLDPFrameBuilder: Sendable, Hashable {
    /// An identifier to encode.
    public enum ID: Sendable, Hashable {
        /// MAC address (6 bytes), IPv4 (4 bytes), IPv6 (16 bytes), or text subtypes.
        case mac([UInt8])
        case ipv4([UInt8])
        case ipv6([UInt8])
        case interfaceName(String)
        case interfaceAlias(String)
        case locallyAssigned(String)
    }

    /// Source MAC (6 bytes).
    public var source: [UInt8]
    /// Destination MAC; the nearest-bridge group address by default.
    public var destination: [UInt8] = LLDP.multicastMAC
    /// Chassis ID to send.
    public var chassisID: ID
    /// Port ID to send.
    public var portID: ID
    /// TTL in seconds (0: shutdown).
    public var ttl: UInt16 = 120
    /// Optional Port Description TLV.
    public var portDescription: String?
    /// Optional System Name TLV.
    public var systemName: String?
    /// Optional System Description TLV.
    public var systemDescription: String?
    /// Management addresses (`.ipv4`, `.ipv6`, `.mac`; others are skipped).
    public var managementAddresses: [ID] = []
    /// Optional IEEE 802.1 port VLAN ID.
    public var portVLANID: UInt16?
    /// IEEE 802.1 VLAN name TLVs.
    public var vlanNames: [LLDPVLANName] = []
    /// Raw TLVs appended before the End TLV: (type 0–127, value).
    public var extraTLVs: [(type: Int, value: [UInt8])] = []
    /// Whether to end with an End TLV (optional since 802.1AB-2016).
    public var endTLV = true

    /// A builder with the mandatory fields; set the optional ones as properties.
    public init(source: [UInt8], chassisID: ID, portID: ID) {
        self.source = source
        self.chassisID = chassisID
        self.portID = portID
    }

    /// Equal when they encode to the same frame.
    public static func == (a: Self, b: Self) -> Bool { a.frame() == b.frame() }
    /// Hashes the encoded frame.
    public func hash(into h: inout Hasher) { h.combine(frame()) }

    /// One TLV: 7-bit type, 9-bit length (values longer than 511 bytes are truncated).
    public static func tlv(_ type: Int, _ value: [UInt8]) -> [UInt8] {
        let v = value.prefix(511)
        let header = (type & 0x7F) << 9 | v.count
        return [UInt8(header >> 8), UInt8(header & 0xFF)] + v
    }

    private static func idBytes(_ id: ID, chassis: Bool) -> [UInt8] {
        switch id {
        case let .mac(m): [chassis ? 4 : 3] + m
        case let .ipv4(a): [chassis ? 5 : 4, 1] + a
        case let .ipv6(a): [chassis ? 5 : 4, 2] + a
        case let .interfaceName(s): [chassis ? 6 : 5] + Array(s.utf8)
        case let .interfaceAlias(s): [chassis ? 2 : 1] + Array(s.utf8)
        case let .locallyAssigned(s): [7] + Array(s.utf8)
        }
    }

    /// The LLDPDU (TLVs only).
    public func pdu() -> [UInt8] {
        var out: [UInt8] = []
        out += Self.tlv(1, Self.idBytes(chassisID, chassis: true))
        out += Self.tlv(2, Self.idBytes(portID, chassis: false))
        out += Self.tlv(3, [UInt8(ttl >> 8), UInt8(ttl & 0xFF)])
        if let s = portDescription { out += Self.tlv(4, Array(s.utf8)) }
        if let s = systemName { out += Self.tlv(5, Array(s.utf8)) }
        if let s = systemDescription { out += Self.tlv(6, Array(s.utf8)) }
        for m in managementAddresses {
            let addr: [UInt8] // IANA family + address
            switch m {
            case let .ipv4(a): addr = [1] + a
            case let .ipv6(a): addr = [2] + a
            case let .mac(a): addr = [6] + a
            case .interfaceName, .interfaceAlias, .locallyAssigned: continue
            }
            out += Self.tlv(8, [UInt8(addr.count)] + addr + [2, 0, 0, 0, 0, 0])
        }
        if let p = portVLANID { out += Self.tlv(127, LLDP.ieee8021OUI + [1, UInt8(p >> 8), UInt8(p & 0xFF)]) }
        for v in vlanNames {
            let name = Array(v.name.utf8.prefix(32))
            out += Self.tlv(127, LLDP.ieee8021OUI + [3, UInt8(v.vlanID >> 8 & 0xFF), UInt8(v.vlanID & 0xFF), UInt8(name.count)] + name)
        }
        for (t, v) in extraTLVs { out += Self.tlv(t, v) }
        if endTLV { out += [0, 0] }
        return out
    }

    /// The whole Ethernet frame, padded to the 60-byte minimum.
    public func frame() -> [UInt8] {
        var f = destination + source + [0x88, 0xCC] + pdu()
        if f.count < 60 { f += [UInt8](repeating: 0, count: 60 - f.count) }
        return f
    }
}
