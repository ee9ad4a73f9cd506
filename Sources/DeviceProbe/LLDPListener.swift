import AutomagicAPI
import CNetlink
import FoundationEssentials
import Glibc
import Synchronization

/// Which devices to listen on for LLDP.
public struct LLDPOptions: Sendable, Hashable {
    /// Listen on every device of kind `physical` (the default).
    public var physical: Bool
    /// Extra devices: shell-style patterns (`fnmatch`) matched against names and alt names.
    public var patterns: [String]
    /// Neighbours kept per device (a flood of spoofed chassis IDs cannot grow memory).
    public var maxNeighboursPerDevice: Int
    /// How often the published `lastHeard` of an unchanged neighbour is refreshed.
    /// Coarse on purpose: a refresh changes the probe output (and so the published
    /// object); a neighbour not heard within its TTL disappears anyway.
    public var lastHeardResolution: Duration

    /// Options; the defaults listen on physical devices only.
    public init(physical: Bool = true, patterns: [String] = [], maxNeighboursPerDevice: Int = 4,
                lastHeardResolution: Duration = .seconds(600)) {
        self.physical = physical
        self.patterns = patterns
        self.maxNeighboursPerDevice = maxNeighboursPerDevice
        self.lastHeardResolution = lastHeardResolution
    }

    /// Whether a device is listened on: physical ones (when `physical`) and those whose
    /// name or an alt name matches a pattern.
    public func selects(_ d: NetworkDevice) -> Bool {
        if physical, d.kind == .physical { return true }
        let names = [d.name] + (d.altNames ?? [])
        return patterns.contains { p in names.contains { fnmatch(p, $0, 0) == 0 } }
    }

    /// The devices to listen on: ifindex → name.
    func selection(_ links: [ProbedLink]) -> [Int: String] {
        var out: [Int: String] = [:]
        for l in links where l.ifindex > 0 && selects(l.device) { out[l.ifindex] = l.device.name }
        return out
    }
}

/// Counters of the LLDP listener (metrics, tests).
public struct LLDPStatistics: Sendable, Hashable {
    /// Frames read from the socket (on any interface).
    public var framesReceived = 0
    /// Frames that updated a neighbour.
    public var framesAccepted = 0
    /// Frames rejected by the parser.
    public var framesRejected = 0
    /// Frames on interfaces not selected.
    public var framesIgnored = 0
    /// Neighbours dropped because their TTL passed (or TTL 0 was announced).
    public var neighboursExpired = 0
    /// The last rejection.
    public var lastDefect: LLDPDefect?
}

/// One LLDP neighbour heard on one device (all of them, not only the published one).
public struct LLDPObservation: Sendable, Hashable {
    /// Interface name it was heard on.
    public var interface: String
    /// Interface index it was heard on.
    public var ifindex: Int
    /// What it sent last.
    public var pdu: LLDPDU
    /// Wall-clock time the neighbour was last heard (exact).
    public var lastHeard: Date
    /// Monotonic expiry (last heard + TTL).
    public var expires: ContinuousClock.Instant
}

/// Passive LLDP listener: one AF_PACKET socket in the namespace with a BPF filter for
/// ethertype 0x88cc, multicast membership for 01:80:c2:00:00:0e on each selected device,
/// its own OS thread blocked in poll(2) (woken only by frames and TTL expiry).
final class LLDPListener: Sendable {
    let thread: LoopThread
    let options: LLDPOptions
    let published = Mutex<[Int: LLDPNeighbor]>([:])
    let stats = Mutex(LLDPStatistics())
    let selectionState = Mutex<[Int: String]?>(nil)
    let onChange: @Sendable (Set<String>) -> Void

    init(netnsPath: String?, options: LLDPOptions, onChange: @escaping @Sendable (Set<String>) -> Void) throws(ProbeError) {
        self.options = options
        self.onChange = onChange
        thread = try LoopThread(name: "lldp:\(netnsPath ?? "self")", netnsPath: netnsPath)
        _ = try thread.sync { [self] ctx -> Result<Bool, ProbeError> in
            let fd = cnl_lldp_open()
            guard fd >= 0 else { return .failure(.openSocket(what: "packet", errno: -fd)) }
            let source = LLDPSource(fd: fd, listener: self)
            ctx.add(source)
            ctx.storage["lldp"] = source
            return .success(true)
        }
    }

    func shutdown() { thread.shutdown() }

    /// Sets the devices to listen on (ifindex → name); joins/leaves multicast as needed.
    func select(_ selection: [Int: String]) {
        let changed = selectionState.withLock { s -> Bool in
            guard s != selection else { return false }
            s = selection
            return true
        }
        guard changed else { return }
        // Synchronous (a few setsockopt calls) so that frames arriving right after a probe
        // returns are attributed; only runs when the selection changed.
        _ = try? thread.sync { ctx -> Result<Bool, ProbeError> in
            (ctx.storage["lldp"] as? LLDPSource)?.select(selection)
            return .success(true)
        }
    }

    func neighboursByIndex() -> [Int: LLDPNeighbor] { published.withLock { $0 } }

    /// Every neighbour known (read on the listener thread).
    func observations() -> [LLDPObservation] {
        (try? thread.sync { ctx in .success((ctx.storage["lldp"] as? LLDPSource)?.observations ?? []) }) ?? []
    }
}

/// The socket and neighbour table, confined to the listener thread. Work per frame is
/// O(neighbours on that device): only the touched device's published entry is rebuilt.
final class LLDPSource: LoopSource {
    let fd: Int32
    private let listener: LLDPListener // strong: released when the loop exits
    private var members: [Int: String] = [:]
    private var table: [Int: [LLDPObservation]] = [:]
    private var publishedAt: [Int: ContinuousClock.Instant] = [:]
    private var buffer = [UInt8](repeating: 0, count: 2048)

    init(fd: Int32, listener: LLDPListener) {
        self.fd = fd
        self.listener = listener
    }

    /// All neighbours, sorted by interface then last heard.
    var observations: [LLDPObservation] {
        table.values.joined().sorted { ($0.interface, $0.lastHeard) < ($1.interface, $1.lastHeard) }
    }

    func select(_ selection: [Int: String]) {
        var touched: [Int: String] = [:]
        for (index, name) in members where selection[index] == nil {
            _ = cnl_lldp_membership(fd, Int32(index), 0) // fails harmlessly when the device is gone
            if table.removeValue(forKey: index) != nil { touched[index] = name }
        }
        for (index, _) in selection where members[index] == nil {
            _ = cnl_lldp_membership(fd, Int32(index), 1)
        }
        members = selection
        for (index, _) in touched { republish(index) }
        if !touched.isEmpty { listener.onChange(Set(touched.values)) }
    }

    func readable(_ loop: LoopContext) {
        var touched = Set<String>()
        var accepted = 0, rejected = 0, ignored = 0, received = 0, expired = 0
        var lastDefect: LLDPDefect?
        for _ in 0..<256 { // bounded per wake-up: fairness with expiry and jobs
            var ifindex: Int32 = 0
            var pkttype: Int32 = 0
            let n = buffer.withUnsafeMutableBufferPointer { cnl_packet_recv(fd, $0.baseAddress, $0.count, &ifindex, &pkttype) }
            if n < 0 { break } // EAGAIN: drained
            received += 1
            guard let name = members[Int(ifindex)] else {
                ignored += 1
                continue
            }
            let pdu: LLDPDU
            do throws(ProbeError) {
                guard n <= buffer.count else {
                    throw .parseLLDP(.oversized(length: n, limit: 18 + LLDP.maxPDULength))
                }
                pdu = try LLDP.parseFrame(buffer[0..<n])
            } catch {
                rejected += 1
                if case let .parseLLDP(d) = error { lastDefect = d }
                continue
            }
            accepted += 1
            switch record(pdu, ifindex: Int(ifindex), name: name) {
            case .changed:
                republish(Int(ifindex))
                touched.insert(name)
            case .removed:
                expired += 1
                republish(Int(ifindex))
                touched.insert(name)
            case .refreshed:
                // Same content: refresh the published lastHeard only at the configured resolution.
                if let at = publishedAt[Int(ifindex)], at + listener.options.lastHeardResolution > .now { break }
                republish(Int(ifindex))
            case .unknown:
                break
            }
        }
        listener.stats.withLock {
            $0.framesReceived += received
            $0.framesAccepted += accepted
            $0.framesRejected += rejected
            $0.framesIgnored += ignored
            $0.neighboursExpired += expired
            if let lastDefect { $0.lastDefect = lastDefect }
        }
        if !touched.isEmpty { listener.onChange(touched) }
    }

    enum Outcome { case changed, refreshed, removed, unknown }

    /// Inserts, refreshes or (TTL 0) removes a neighbour.
    private func record(_ pdu: LLDPDU, ifindex: Int, name: String) -> Outcome {
        var list = table[ifindex] ?? []
        let index = list.firstIndex { $0.pdu.chassisID == pdu.chassisID && $0.pdu.portID == pdu.portID }
        if pdu.ttl == 0 {
            guard let index else { return .unknown }
            list.remove(at: index)
            table[ifindex] = list.isEmpty ? nil : list
            return .removed
        }
        let entry = LLDPObservation(interface: name, ifindex: ifindex, pdu: pdu, lastHeard: Date(),
                                    expires: .now + .seconds(pdu.ttl))
        var changed: Bool
        if let index {
            // Changed content, or another neighbour becomes the newest (published) one.
            changed = list[index].pdu != pdu || index != list.count - 1
            list.remove(at: index)
        } else {
            changed = true
            if list.count >= max(1, listener.options.maxNeighboursPerDevice) { list.removeFirst() }
        }
        list.append(entry) // most recently heard last
        table[ifindex] = list
        return changed ? .changed : .refreshed
    }

    func deadline() -> ContinuousClock.Instant? {
        var earliest: ContinuousClock.Instant?
        for list in table.values {
            for n in list where earliest.map({ n.expires < $0 }) ?? true { earliest = n.expires }
        }
        return earliest
    }

    func fire(_ loop: LoopContext, now: ContinuousClock.Instant) {
        var touched = Set<String>()
        var expired = 0
        for (index, list) in table {
            let kept = list.filter { $0.expires > now }
            if kept.count != list.count {
                expired += list.count - kept.count
                touched.insert(list[0].interface)
                table[index] = kept.isEmpty ? nil : kept
                republish(index)
            }
        }
        if expired > 0 { listener.stats.withLock { $0.neighboursExpired += expired } }
        if !touched.isEmpty { listener.onChange(touched) }
    }

    /// Rebuilds the published entry of one device from its newest neighbour.
    private func republish(_ index: Int) {
        guard let n = table[index]?.last else {
            publishedAt[index] = nil
            _ = listener.published.withLock { $0.removeValue(forKey: index) }
            return
        }
        let vlanIDs = n.pdu.vlanIDs.sorted()
        let vlanNames = n.pdu.vlanNames.map(\.name)
        let lldp = LLDPNeighbor(
            chassisID: n.pdu.chassisID.value, portID: n.pdu.portID.value, systemName: n.pdu.systemName,
            portDescription: n.pdu.portDescription, managementAddress: n.pdu.managementAddresses.first,
            vlanIDs: vlanIDs.isEmpty ? nil : vlanIDs, vlanNames: vlanNames.isEmpty ? nil : vlanNames,
            lastHeard: rfc3339(n.lastHeard))
        publishedAt[index] = .now
        listener.published.withLock { $0[index] = lldp }
    }

    func close() {
        for index in members.keys { _ = cnl_lldp_membership(fd, Int32(index), 0) }
        Glibc.close(fd)
    }
}

/// RFC 3339 UTC with seconds, e.g. `2026-11-28T22:00:00Z`.
func rfc3339(_ date: Date) -> String {
    var t = time_t(date.timeIntervalSince1970.rounded(.down))
    var tmv = tm()
    gmtime_r(&t, &tmv)
    func pad(_ v: Int32, _ w: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, w - s.count)) + s
    }
    return "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T"
        + "\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2))Z"
}

/// Sends raw frames from inside a namespace (tests; the lab's simulated switches).
///
/// ```swift
/// let sender = try FrameSender(netnsPath: "/var/run/netns/tor")
/// try sender.send(builder.frame(), on: "swp1")
/// ```
public final class FrameSender: Sendable {
    let thread: LoopThread

    /// Starts a thread inside `netnsPath` (nil: this namespace) with a packet socket.
    public init(netnsPath: String? = nil) throws(ProbeError) {
        thread = try LoopThread(name: "sender:\(netnsPath ?? "self")", netnsPath: netnsPath)
    }

    deinit { thread.shutdown() }

    /// Sends one complete Ethernet frame out of `interface`.
    public func send(_ frame: [UInt8], on interface: String) throws(ProbeError) {
        _ = try thread.sync { ctx -> Result<Int, ProbeError> in
            let fd: Int32
            if let box = ctx.storage["fd"] as? FDBox {
                fd = box.fd
            } else {
                let s = cnl_packet_open_sender()
                guard s >= 0 else { return .failure(.openSocket(what: "packet", errno: -s)) }
                ctx.storage["fd"] = FDBox(s)
                fd = s
            }
            let index = if_nametoindex(interface)
            guard index != 0 else { return .failure(.noSuchInterface(name: interface)) }
            let n = frame.withUnsafeBufferPointer { cnl_packet_send(fd, Int32(index), $0.baseAddress, $0.count) }
            guard n >= 0 else { return .failure(.sendFrame(interface: interface, errno: Int32(-n))) }
            return .success(n)
        }
    }

    /// Stops the sender's thread.
    public func shutdown() { thread.shutdown() }
}

final class FDBox {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { Glibc.close(fd) }
}
