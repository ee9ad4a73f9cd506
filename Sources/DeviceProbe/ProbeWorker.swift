import AutomagicAPI
import CNetlink
import Glibc
import HardwareAddresses

/// Driver facts from ethtool.
struct EthtoolInfo: Sendable, Equatable {
    var driver: String?
    var busInfo: String?
    var speedMbps: Int?
}

/// The probe's sockets and buffers; lives on the loop thread (inside the netns).
final class ProbeWorker {
    private let rtnl: Int32
    private let ethtoolFD: Int32
    private var seq: UInt32 = 1
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    init() throws(ProbeError) {
        let fd = cnl_rtnl_open(0, 1 << 20)
        guard fd >= 0 else { throw .openSocket(what: "rtnetlink", errno: -fd) }
        let efd = cnl_ethtool_socket()
        guard efd >= 0 else {
            close(fd)
            throw .openSocket(what: "ethtool", errno: -efd)
        }
        rtnl = fd
        ethtoolFD = efd
    }

    deinit {
        close(rtnl)
        close(ethtoolFD)
    }

    /// One RTM_GETLINK dump (all links) and one RTM_GETADDR dump (all addresses).
    func dumpLinks() throws(ProbeError) -> [RawLink] {
        try dump(0) { RawLink(payload: $0) }
    }

    func dumpAddresses() throws(ProbeError) -> [RawAddress] {
        try dump(1) { RawAddress(payload: $0) }
    }

    /// Interface indexes that a default route (main table, IPv4 or IPv6) leaves through.
    func dumpDefaultRouteInterfaces() throws(ProbeError) -> Set<Int32> {
        Set(try dump(2) { defaultRouteInterfaces(payload: $0) }.joined())
    }

    private func dump<T>(_ request: Int32, parse: (ByteView) -> T?) throws(ProbeError) -> [T] {
        let what = ["links", "addresses", "routes"][Int(request)]
        let wanted: UInt16 = [NL.newLink, NL.newAddr, NL.newRoute][Int(request)]
        for _ in 0..<5 {
            seq &+= 1
            let mySeq = seq
            let rc = cnl_rtnl_request_dump(rtnl, request, mySeq)
            guard rc == 0 else { throw .netlink(step: "request \(what) dump on", errno: -rc) }
            var out: [T] = []
            var interrupted = false
            var finished = false
            while !finished {
                var truncated: Int32 = 0
                let n = buffer.withUnsafeMutableBufferPointer { cnl_recv(rtnl, $0.baseAddress, $0.count, 0, &truncated) }
                guard n >= 0 else { throw .netlink(step: "receive \(what) dump on", errno: Int32(-n)) }
                guard truncated == 0 else {
                    throw .malformedMessage(step: "\(what) dump", detail: "datagram larger than \(buffer.count) bytes")
                }
                let failure: ProbeError? = buffer.withUnsafeBytes { raw in
                    let (messages, malformed) = splitNetlinkMessages(ByteView(UnsafeRawBufferPointer(rebasing: raw[0..<Int(n)])))
                    if malformed { return .malformedMessage(step: "\(what) dump", detail: "inconsistent message length") }
                    for m in messages where m.seq == mySeq {
                        if m.flags & NL.flagDumpInterrupted != 0 { interrupted = true }
                        switch m.type {
                        case NL.done:
                            finished = true
                        case NL.error:
                            let code = m.payload.u32(at: 0).map { Int32(bitPattern: $0) } ?? -EIO
                            if code != 0 { return .netlink(step: "dump \(what) from", errno: -code) }
                            finished = true
                        case wanted:
                            if let v = parse(m.payload) { out.append(v) }
                        default:
                            break
                        }
                    }
                    return nil
                }
                if let failure { throw failure }
            }
            if !interrupted { return out }
        }
        throw .dumpInterrupted(what: what, attempts: 5)
    }

    /// Driver, bus info and speed of one interface; fields the driver does not answer stay nil.
    func ethtool(_ name: String) -> EthtoolInfo {
        var info = EthtoolInfo()
        var driver = [CChar](repeating: 0, count: 64)
        var bus = [CChar](repeating: 0, count: 64)
        let rc = driver.withUnsafeMutableBufferPointer { d in
            bus.withUnsafeMutableBufferPointer { b in
                cnl_ethtool_drvinfo(ethtoolFD, name, d.baseAddress, d.count, b.baseAddress, b.count)
            }
        }
        if rc == 0 {
            let d = String(decoding: driver.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let b = String(decoding: bus.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !d.isEmpty { info.driver = d }
            if !b.isEmpty, b != "N/A" { info.busInfo = b }
        }
        var speed: UInt32 = 0
        if cnl_ethtool_speed(ethtoolFD, name, &speed) == 0, speed != 0, speed != UInt32.max, speed != 0xFFFF {
            info.speedMbps = Int(speed)
        }
        return info
    }
}

/// Options of a probe.
public struct ProbeOptions: Sendable, Hashable {
    /// List the loopback device (kind `virtual`). Default false: pods never attach to it.
    public var includeLoopback: Bool
    /// List IPv6 link-local (fe80::/10) addresses. Default false: every IPv6 device has
    /// one, derived from its MAC; they identify no network.
    public var includeIPv6LinkLocal: Bool
    /// Ask ethtool for driver, bus info and speed (one ioctl round per device).
    public var ethtool: Bool
    /// Set `hasDefaultRoute` (one extra route dump; main table, IPv4 and IPv6).
    public var defaultRoutes: Bool

    /// Defaults: no loopback, no IPv6 link-local, ethtool and default routes on.
    public init(includeLoopback: Bool = false, includeIPv6LinkLocal: Bool = false, ethtool: Bool = true,
                defaultRoutes: Bool = true) {
        self.includeLoopback = includeLoopback
        self.includeIPv6LinkLocal = includeIPv6LinkLocal
        self.ethtool = ethtool
        self.defaultRoutes = defaultRoutes
    }
}

/// A probed device with its kernel interface index (internal bookkeeping: LLDP and
/// netlink events are keyed by index).
struct ProbedLink: Sendable, Hashable {
    var device: NetworkDevice
    var ifindex: Int
}

/// Pure assembly of kernel facts into devices (testable without a kernel).
struct DeviceAssembler {
    var sysfs: Sysfs
    var options: ProbeOptions

    static let operStates = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"]

    static func kind(forLinkKind k: String) -> DeviceKind {
        switch k {
        case "bond": .bond
        case "bridge": .bridge
        case "vlan": .vlan
        case "veth": .veth
        case "macvlan", "macvtap": .macvlan
        case "ipvlan", "ipvtap": .ipvlan
        default: .virtual
        }
    }

    /// Link kinds whose IFLA_LINK is the lower (parent) device.
    static let lowerDeviceKinds: Set<String> = ["vlan", "macvlan", "macvtap", "ipvlan", "ipvtap"]

    func assemble(links: [RawLink], addresses: [RawAddress], defaultRoutes: Set<Int32>? = nil,
                  ethtool: (String) -> EthtoolInfo, neighbours: [Int: LLDPNeighbor] = [:]) -> [ProbedLink] {
        var byIndex: [Int32: RawLink] = [:]
        byIndex.reserveCapacity(links.count)
        for l in links { byIndex[l.index] = l }
        var addrs: [Int32: [String]] = [:]
        for a in addresses {
            guard a.family == UInt8(AF_INET) || a.family == UInt8(AF_INET6) else { continue }
            if !options.includeIPv6LinkLocal, isIPv6LinkLocal(a.address) { continue }
            guard let text = formatIP(a.address) else { continue }
            addrs[a.index, default: []].append("\(text)/\(a.prefixLength)")
        }
        // PCI address -> interface name, to name the PF of a VF.
        var pciOwners: [String: String] = [:]
        var staged: [(ProbedLink, PCIInfo?)] = []
        staged.reserveCapacity(links.count)

        for link in links {
            let loopback = link.flags & RawLink.iffLoopback != 0
            if loopback, !options.includeLoopback { continue }
            guard !link.name.isEmpty else { continue }
            var d = NetworkDevice(name: link.name, kind: .virtual)
            if !link.altNames.isEmpty { d.altNames = link.altNames }
            if !link.address.isEmpty { d.mac = formatMAC(link.address) }
            if !link.permAddress.isEmpty, link.permAddress.contains(where: { $0 != 0 }) {
                d.permanentMAC = formatMAC(link.permAddress)
            }
            d.mtu = link.mtu.map { Int($0) }
            if let o = link.operState { d.operState = Int(o) < Self.operStates.count ? Self.operStates[Int(o)] : "unknown" }
            d.carrier = link.carrier.map { $0 != 0 }
            d.addresses = addrs[link.index]

            let info = (options.ethtool && !loopback) ? ethtool(link.name) : EthtoolInfo()
            d.driver = info.driver
            d.speedMbps = info.speedMbps

            var pci: String?
            if link.parentDevBusName == "pci", let n = link.parentDevName, PCIAddress.isCanonical(n) { pci = n }
            if pci == nil, let b = info.busInfo, PCIAddress.isCanonical(b) { pci = b }
            var hasDevice = link.parentDevName != nil
            if !loopback, link.kind == nil, pci == nil || !hasDevice,
               let dir = sysfs.deviceDirectory(interface: link.name, ifindex: Int(link.index)) {
                hasDevice = true
                if pci == nil { pci = sysfs.pciAddress(deviceDirectory: dir) }
            }
            let pciInfo = pci.flatMap { sysfs.pciInfo(address: $0) }

            if loopback {
                d.kind = .virtual
            } else if let k = link.kind {
                d.kind = Self.kind(forLinkKind: k)
            } else if pciInfo?.physfn != nil {
                d.kind = .vf
            } else if hasDevice || pci != nil {
                d.kind = .physical
            }
            if let p = pciInfo {
                d.pciAddress = p.address
                d.vendorID = p.vendorID
                d.deviceID = p.deviceID
                d.numaNode = p.numaNode
                if p.totalVFs != nil || p.numVFs != nil { d.sriov = SRIOVInfo(totalVFs: p.totalVFs, numVFs: p.numVFs) }
                if d.kind == .physical || d.kind == .vf { pciOwners[p.address] = pciOwners[p.address] ?? link.name }
            }

            if let m = link.master, let master = byIndex[m] {
                d.parent = master.name
            } else if let k = link.kind, Self.lowerDeviceKinds.contains(k), link.linkNetnsid == nil,
                      let l = link.link, l != link.index, let lower = byIndex[l] {
                d.parent = lower.name
            }
            d.lldp = neighbours[Int(link.index)]
            if let defaultRoutes { d.hasDefaultRoute = defaultRoutes.contains(link.index) }
            staged.append((ProbedLink(device: d, ifindex: Int(link.index)), pciInfo))
        }

        var out: [ProbedLink] = []
        out.reserveCapacity(staged.count)
        for (var d, p) in staged {
            if d.device.kind == .vf, let pf = p?.physfn {
                let pfName = pciOwners[pf] ?? sysfs.interfaceNames(pciAddress: pf).first
                if let pfName {
                    d.device.sriov = SRIOVInfo(totalVFs: d.device.sriov?.totalVFs, numVFs: d.device.sriov?.numVFs, pfName: pfName)
                    if d.device.parent == nil { d.device.parent = pfName }
                }
            }
            out.append(d)
        }
        out.sort { $0.device.name < $1.device.name }
        return out
    }
}
