// Bounds-checked rtnetlink message parsing over byte arrays (sans I/O).
// Numbers are the stable kernel ABI from <linux/netlink.h>, <linux/rtnetlink.h>,
// <linux/if_link.h> and <linux/if_addr.h>.

enum NL {
    static let noop: UInt16 = 1
    static let error: UInt16 = 2
    static let done: UInt16 = 3
    static let overrun: UInt16 = 4
    static let flagMulti: UInt16 = 0x2
    static let flagDumpInterrupted: UInt16 = 0x10

    static let newLink: UInt16 = 16
    static let delLink: UInt16 = 17
    static let newAddr: UInt16 = 20
    static let delAddr: UInt16 = 21

    static let newRoute: UInt16 = 24
    static let rtmsgSize = 12

    static let headerSize = 16
    static let ifinfomsgSize = 16
    static let ifaddrmsgSize = 8
}

enum IFLA {
    static let address: UInt16 = 1
    static let ifname: UInt16 = 3
    static let mtu: UInt16 = 4
    static let link: UInt16 = 5
    static let master: UInt16 = 10
    static let operstate: UInt16 = 16
    static let linkinfo: UInt16 = 18
    static let carrier: UInt16 = 33
    static let linkNetnsid: UInt16 = 37
    static let propList: UInt16 = 52
    static let altIfname: UInt16 = 53
    static let permAddress: UInt16 = 54
    static let parentDevName: UInt16 = 56
    static let parentDevBusName: UInt16 = 57
    static let infoKind: UInt16 = 1
}

enum IFA {
    static let address: UInt16 = 1
    static let local: UInt16 = 2
    static let flags: UInt16 = 8
}

/// Little helpers to read native-endian integers from a byte slice without traps.
extension ArraySlice<UInt8> {
    @inline(__always)
    func u16(at offset: Int) -> UInt16? {
        let i = startIndex + offset
        guard offset >= 0, i + 2 <= endIndex else { return nil }
        return UInt16(self[i]) | UInt16(self[i + 1]) << 8
    }

    @inline(__always)
    func u32(at offset: Int) -> UInt32? {
        let i = startIndex + offset
        guard offset >= 0, i + 4 <= endIndex else { return nil }
        return UInt32(self[i]) | UInt32(self[i + 1]) << 8 | UInt32(self[i + 2]) << 16 | UInt32(self[i + 3]) << 24
    }

    @inline(__always)
    func u8(at offset: Int) -> UInt8? {
        let i = startIndex + offset
        guard offset >= 0, i < endIndex else { return nil }
        return self[i]
    }
}

/// One netlink message: its header fields and payload (after the 16-byte header).
struct NetlinkMessage {
    var type: UInt16
    var flags: UInt16
    var seq: UInt32
    var payload: ArraySlice<UInt8>
}

/// Splits a datagram into netlink messages. Stops (returns what it has and `malformed`)
/// at the first header whose length is inconsistent with the buffer.
func splitNetlinkMessages(_ data: ArraySlice<UInt8>) -> (messages: [NetlinkMessage], malformed: Bool) {
    var out: [NetlinkMessage] = []
    var offset = 0
    let count = data.count
    while offset + NL.headerSize <= count {
        let hdr = data[(data.startIndex + offset)...]
        guard let len32 = hdr.u32(at: 0), let type = hdr.u16(at: 4), let flags = hdr.u16(at: 6), let seq = hdr.u32(at: 8)
        else { return (out, true) }
        let len = Int(len32)
        guard len >= NL.headerSize, offset + len <= count else { return (out, true) }
        let start = data.startIndex + offset
        out.append(NetlinkMessage(type: type, flags: flags, seq: seq, payload: data[(start + NL.headerSize)..<(start + len)]))
        offset += (len + 3) & ~3
    }
    return (out, offset < count && count - offset >= 4)
}

/// Iterates route attributes (`struct rtattr`) in a byte slice. Type excludes the
/// NLA_F_NESTED / NLA_F_NET_BYTEORDER bits. Stops silently at a malformed attribute.
struct AttributeIterator: IteratorProtocol, Sequence {
    var rest: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { rest = bytes }

    mutating func next() -> (type: UInt16, value: ArraySlice<UInt8>)? {
        guard rest.count >= 4, let len16 = rest.u16(at: 0), let type = rest.u16(at: 2) else { return nil }
        let len = Int(len16)
        guard len >= 4, len <= rest.count else {
            rest = rest[rest.endIndex...]
            return nil
        }
        let value = rest[(rest.startIndex + 4)..<(rest.startIndex + len)]
        let advance = Swift.min((len + 3) & ~3, rest.count)
        rest = rest[(rest.startIndex + advance)...]
        return (type & 0x3FFF, value)
    }
}

extension ArraySlice<UInt8> {
    /// A NUL-terminated C string attribute as a Swift string (invalid UTF-8 repaired).
    var cString: String {
        let end = firstIndex(of: 0) ?? endIndex
        return String(decoding: self[startIndex..<end], as: UTF8.self)
    }
}

/// A link as the kernel reports it in RTM_NEWLINK.
struct RawLink: Sendable, Equatable {
    var index: Int32
    var flags: UInt32
    var arpType: UInt16
    var name: String = ""
    var altNames: [String] = []
    var kind: String?
    var address: [UInt8] = []
    var permAddress: [UInt8] = []
    var mtu: UInt32?
    var link: Int32?
    var linkNetnsid: Int32?
    var master: Int32?
    var operState: UInt8?
    var carrier: UInt8?
    var parentDevName: String?
    var parentDevBusName: String?

    static let iffUp: UInt32 = 0x1
    static let iffLoopback: UInt32 = 0x8

    init(index: Int32, name: String, flags: UInt32 = 0x1, arpType: UInt16 = 1) {
        self.index = index
        self.name = name
        self.flags = flags
        self.arpType = arpType
    }

    /// Parses an RTM_NEWLINK / RTM_DELLINK payload; nil when it is too short.
    init?(payload: ArraySlice<UInt8>) {
        guard payload.count >= NL.ifinfomsgSize, let type = payload.u16(at: 2), let index = payload.u32(at: 4),
              let flags = payload.u32(at: 8)
        else { return nil }
        self.index = Int32(bitPattern: index)
        self.flags = flags
        self.arpType = type
        for (t, v) in AttributeIterator(payload.dropFirst(NL.ifinfomsgSize)) {
            switch t {
            case IFLA.ifname: name = v.cString
            case IFLA.address: address = Array(v)
            case IFLA.permAddress: permAddress = Array(v)
            case IFLA.mtu: mtu = v.u32(at: 0)
            case IFLA.link: link = v.u32(at: 0).map { Int32(bitPattern: $0) }
            case IFLA.linkNetnsid: linkNetnsid = v.u32(at: 0).map { Int32(bitPattern: $0) }
            case IFLA.master: master = v.u32(at: 0).map { Int32(bitPattern: $0) }
            case IFLA.operstate: operState = v.u8(at: 0)
            case IFLA.carrier: carrier = v.u8(at: 0)
            case IFLA.parentDevName: parentDevName = v.cString
            case IFLA.parentDevBusName: parentDevBusName = v.cString
            case IFLA.linkinfo:
                for (it, iv) in AttributeIterator(v) where it == IFLA.infoKind {
                    kind = iv.cString
                }
            case IFLA.propList:
                for (pt, pv) in AttributeIterator(v) where pt == IFLA.altIfname {
                    altNames.append(pv.cString)
                }
            default: break
            }
        }
    }
}

/// An address as the kernel reports it in RTM_NEWADDR.
struct RawAddress: Sendable, Equatable {
    var family: UInt8
    var prefixLength: UInt8
    var index: Int32
    var address: [UInt8]

    init(family: UInt8, prefixLength: UInt8, index: Int32, address: [UInt8]) {
        self.family = family
        self.prefixLength = prefixLength
        self.index = index
        self.address = address
    }

    /// Parses an RTM_NEWADDR / RTM_DELADDR payload; nil when it is too short or has no address.
    init?(payload: ArraySlice<UInt8>) {
        guard payload.count >= NL.ifaddrmsgSize, let family = payload.u8(at: 0), let plen = payload.u8(at: 1),
              let index = payload.u32(at: 4)
        else { return nil }
        var local: [UInt8]?
        var addr: [UInt8]?
        for (t, v) in AttributeIterator(payload.dropFirst(NL.ifaddrmsgSize)) {
            if t == IFA.local { local = Array(v) } else if t == IFA.address { addr = Array(v) }
        }
        guard let a = local ?? addr else { return nil }
        self.family = family
        self.prefixLength = plen
        self.index = Int32(bitPattern: index)
        self.address = a
    }
}

/// The output interfaces of a default route in the main table (RTM_NEWROUTE), if it is one.
func defaultRouteInterfaces(payload: ArraySlice<UInt8>) -> [Int32] {
    guard payload.count >= NL.rtmsgSize, let dstLen = payload.u8(at: 1), var table = payload.u8(at: 4).map(UInt32.init),
          let type = payload.u8(at: 7)
    else { return [] }
    guard dstLen == 0, type == 1 /* RTN_UNICAST */ else { return [] }
    var out: [Int32] = []
    for (t, v) in AttributeIterator(payload.dropFirst(NL.rtmsgSize)) {
        switch t {
        case 15: // RTA_TABLE
            if let tv = v.u32(at: 0) { table = tv }
        case 4: // RTA_OIF
            if let i = v.u32(at: 0) { out.append(Int32(bitPattern: i)) }
        case 9: // RTA_MULTIPATH: struct rtnexthop { u16 len; u8 flags; u8 hops; i32 ifindex } + attrs
            var rest = v
            while rest.count >= 8, let len = rest.u16(at: 0), let idx = rest.u32(at: 4), Int(len) >= 8, Int(len) <= rest.count {
                out.append(Int32(bitPattern: idx))
                rest = rest.dropFirst((Int(len) + 3) & ~3)
            }
        default:
            break
        }
    }
    return table == 254 /* RT_TABLE_MAIN */ ? out : []
}
