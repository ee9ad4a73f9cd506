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
    static let delRoute: UInt16 = 25
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

/// A bounds-checked, non-owning view of bytes (valid only inside the
/// `withUnsafeBytes` call that produced it). Integers are read in host byte order, as
/// netlink sends them. Every read returns nil instead of trapping when out of range.
struct ByteView {
    let raw: UnsafeRawBufferPointer

    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

    var count: Int { raw.count }

    @inline(__always)
    func u8(at o: Int) -> UInt8? { o >= 0 && o < raw.count ? raw[o] : nil }

    @inline(__always)
    func u16(at o: Int) -> UInt16? {
        guard o >= 0, o + 2 <= raw.count else { return nil }
        return raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)
    }

    @inline(__always)
    func u32(at o: Int) -> UInt32? {
        guard o >= 0, o + 4 <= raw.count else { return nil }
        return raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)
    }

    /// Bytes `from..<to`, clamped to the view.
    func slice(_ from: Int, _ to: Int) -> ByteView {
        let a = Swift.max(0, Swift.min(from, raw.count))
        let b = Swift.max(a, Swift.min(to, raw.count))
        return ByteView(UnsafeRawBufferPointer(rebasing: raw[a..<b]))
    }

    func dropFirst(_ n: Int) -> ByteView { slice(n, raw.count) }

    var bytes: [UInt8] { Array(raw) }

    /// A NUL-terminated C string attribute as a Swift string (invalid UTF-8 repaired).
    var cString: String {
        let end = raw.firstIndex(of: 0) ?? raw.count
        return String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<end]), as: UTF8.self)
    }
}

/// One netlink message: its header fields and payload (after the 16-byte header).
struct NetlinkMessage {
    var type: UInt16
    var flags: UInt16
    var seq: UInt32
    var payload: ByteView
}

/// Splits a datagram into netlink messages. Stops (returns what it has and `malformed`)
/// at the first header whose length is inconsistent with the buffer.
func splitNetlinkMessages(_ data: ByteView) -> (messages: [NetlinkMessage], malformed: Bool) {
    var out: [NetlinkMessage] = []
    var offset = 0
    let count = data.count
    while offset + NL.headerSize <= count {
        guard let len32 = data.u32(at: offset), let type = data.u16(at: offset + 4), let flags = data.u16(at: offset + 6),
              let seq = data.u32(at: offset + 8)
        else { return (out, true) }
        let len = Int(len32)
        guard len >= NL.headerSize, len <= count - offset else { return (out, true) }
        out.append(NetlinkMessage(type: type, flags: flags, seq: seq, payload: data.slice(offset + NL.headerSize, offset + len)))
        offset += (len + 3) & ~3
    }
    return (out, offset < count && count - offset >= 4)
}

/// Iterates route attributes (`struct rtattr`) in a byte view. Type excludes the
/// NLA_F_NESTED / NLA_F_NET_BYTEORDER bits. Stops silently at a malformed attribute.
struct AttributeIterator: IteratorProtocol, Sequence {
    let data: ByteView
    var offset = 0

    init(_ bytes: ByteView) { data = bytes }

    mutating func next() -> (type: UInt16, value: ByteView)? {
        guard let len16 = data.u16(at: offset), let type = data.u16(at: offset + 2) else { return nil }
        let len = Int(len16)
        guard len >= 4, len <= data.count - offset else {
            offset = data.count
            return nil
        }
        let value = data.slice(offset + 4, offset + len)
        offset += (len + 3) & ~3
        return (type & 0x3FFF, value)
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
    init?(payload: ByteView) {
        guard payload.count >= NL.ifinfomsgSize, let type = payload.u16(at: 2), let index = payload.u32(at: 4),
              let flags = payload.u32(at: 8)
        else { return nil }
        self.index = Int32(bitPattern: index)
        self.flags = flags
        self.arpType = type
        for (t, v) in AttributeIterator(payload.dropFirst(NL.ifinfomsgSize)) {
            switch t {
            case IFLA.ifname: name = v.cString
            case IFLA.address: address = v.bytes
            case IFLA.permAddress: permAddress = v.bytes
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
    init?(payload: ByteView) {
        guard payload.count >= NL.ifaddrmsgSize, let family = payload.u8(at: 0), let plen = payload.u8(at: 1),
              let index = payload.u32(at: 4)
        else { return nil }
        var local: [UInt8]?
        var addr: [UInt8]?
        for (t, v) in AttributeIterator(payload.dropFirst(NL.ifaddrmsgSize)) {
            if t == IFA.local { local = v.bytes } else if t == IFA.address { addr = v.bytes }
        }
        guard let a = local ?? addr else { return nil }
        self.family = family
        self.prefixLength = plen
        self.index = Int32(bitPattern: index)
        self.address = a
    }
}

/// The output interfaces of a default route in the main table (RTM_NEWROUTE), if it is one.
func defaultRouteInterfaces(payload: ByteView) -> [Int32] {
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
            var o = 0
            while let len = v.u16(at: o), let idx = v.u32(at: o + 4), Int(len) >= 8, Int(len) <= v.count - o {
                out.append(Int32(bitPattern: idx))
                o += (Int(len) + 3) & ~3
            }
        default:
            break
        }
    }
    return table == 254 /* RT_TABLE_MAIN */ ? out : []
}
